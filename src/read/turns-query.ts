/**
 * The turns list's query side: options checked as `query()` checks its own (ERR_INVALID_OPTION naming
 * the field) and the opaque cursor.
 */
import { InvalidOptionError } from "../base/errors.js";
import type { TurnsQuery, UsageQuery } from "../types.js";

export const DEFAULT_TURNS_LIMIT = 50;
export const MAX_TURNS_LIMIT = 1000;

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface Cursor {
  start: number;
  turnId: string;
}

/** The position after a turn, opaque to callers: base64url of `[start, turnId]`. */
export function encodeCursor(start: number, turnId: string): string {
  return Buffer.from(JSON.stringify([start, turnId])).toString("base64url");
}

export function decodeCursor(text: string, field = "query.cursor"): Cursor {
  let v: unknown;
  try {
    v = /^[A-Za-z0-9_-]+$/.test(text)
      ? JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
      : undefined;
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isFinite(v[0]) || typeof v[1] !== "string")
    throw new InvalidOptionError(field, "is not a cursor this store gave (pass a page's nextCursor)");
  return { start: v[0] as number, turnId: v[1] };
}

/** `from` and `to` of a query (records, turns, usage): numbers of ms, not NaN. */
export function checkTimeRange(q: { from?: unknown; to?: unknown }): void {
  for (const bound of ["from", "to"] as const) {
    const v = q[bound];
    if (v !== undefined && (typeof v !== "number" || Number.isNaN(v)))
      throw new InvalidOptionError(`query.${bound}`, "must be a number of ms since the epoch");
  }
}

function checkBounds(q: { from?: unknown; to?: unknown; extensionId?: unknown }): void {
  checkTimeRange(q);
  if (q.extensionId !== undefined && typeof q.extensionId !== "string")
    throw new InvalidOptionError("query.extensionId", "must be a string");
}

export function checkTurnsQuery(q: TurnsQuery): void {
  if (typeof q !== "object" || q === null) throw new InvalidOptionError("query", "must be an object");
  checkBounds(q);
  for (const f of ["conversationId", "model", "cursor"] as const) {
    if (q[f] !== undefined && typeof q[f] !== "string")
      throw new InvalidOptionError(`query.${f}`, "must be a string");
  }
  if (q.errors !== undefined && typeof q.errors !== "boolean")
    throw new InvalidOptionError("query.errors", "must be true or false");
  if (q.limit !== undefined && !(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_TURNS_LIMIT))
    throw new InvalidOptionError("query.limit", `must be an integer from 1 to ${MAX_TURNS_LIMIT}`);
  if (q.order !== undefined && q.order !== "asc" && q.order !== "desc")
    throw new InvalidOptionError("query.order", 'must be "asc" or "desc"');
}

export function checkUsageQuery(q: UsageQuery): void {
  if (typeof q !== "object" || q === null) throw new InvalidOptionError("query", "must be an object");
  checkBounds(q);
}
