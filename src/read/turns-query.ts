/**
 * The turns list's query side: options checked as `query()` checks its own (ERR_INVALID_OPTION naming
 * the field), the opaque cursor, and usage rows by day and model.
 */
import { dateOf } from "../../tiers/cold/layout.js";
import { InvalidOptionError } from "../base/errors.js";
import type { TurnsQuery, UsageQuery, UsageRow } from "../types.js";
import type { Call } from "./turn-summary.js";

export const DEFAULT_TURNS_LIMIT = 50;
export const MAX_TURNS_LIMIT = 1000;
const DAY_MS = 86_400_000;

/** Usage rows by (day, model), as calls are added (a day's date text is made once). */
export class UsageRows {
  private readonly q: UsageQuery;
  private readonly byDay = new Map<number, Map<string, UsageRow>>();

  constructor(q: UsageQuery) {
    this.q = q;
  }

  add(c: Call): void {
    const q = this.q;
    if (q.extensionId !== undefined && c.extensionId !== q.extensionId) return;
    if ((q.from !== undefined && c.ts < q.from) || (q.to !== undefined && c.ts >= q.to)) return;
    const day = Math.floor(c.ts / DAY_MS);
    let models = this.byDay.get(day);
    if (models === undefined) {
      models = new Map();
      this.byDay.set(day, models);
    }
    let row = models.get(c.model);
    if (row === undefined) {
      row = { date: dateOf(c.ts), model: c.model, calls: 0, inputTokens: 0, outputTokens: 0 };
      models.set(c.model, row);
    }
    row.calls++;
    row.inputTokens += c.inputTokens;
    row.outputTokens += c.outputTokens;
  }

  sorted(): UsageRow[] {
    const rows = [...this.byDay.values()].flatMap((m) => [...m.values()]);
    return rows.sort((a, b) => compareText(a.date, b.date) || compareText(a.model, b.model));
  }
}

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

export function checkBounds(q: { from?: unknown; to?: unknown; extensionId?: unknown }): void {
  for (const bound of ["from", "to"] as const) {
    const v = q[bound];
    if (v !== undefined && (typeof v !== "number" || Number.isNaN(v)))
      throw new InvalidOptionError(`query.${bound}`, "must be a number of ms since the epoch");
  }
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
