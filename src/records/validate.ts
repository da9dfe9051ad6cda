import { InvalidRecordError } from "../base/errors.js";
import type { TraceRecord } from "../types.js";

/** A log record's levels (also `GET /v1/tail`'s `level` filter). */
export const LEVELS: ReadonlySet<string> = new Set(["debug", "info", "warn", "error"]);
const STATUSES = new Set(["ok", "error"]);

type FieldCheck = "string" | "optString" | "level" | "status" | "duration" | "links";

/**
 * Timestamps a record may carry: 0000-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z. `Date` spans
 * ±8.64e15 ms and Parquet's INT64 (ms) far more, but the cold tier names partitions by the UTC date
 * (`date=YYYY-MM-DD`), which needs a four-digit year; every value in this range survives all three.
 */
export const MIN_TIMESTAMP = -62_167_219_200_000;
export const MAX_TIMESTAMP = 253_402_300_799_999;

/**
 * How deep a link's extra value may nest arrays and objects (`{"a":[1]}` is 2). The encoder refuses
 * more than 100 levels in a whole record value, of which a link's value sits 4 levels down; 64 leaves
 * room and is the collector's bound on OTLP nesting too.
 */
export const MAX_LINK_VALUE_DEPTH = 64;

const COMMON: Record<string, FieldCheck> = {
  extensionId: "string",
  conversationId: "optString",
  turnId: "optString",
};

/**
 * The fields each kind may carry besides timestamp, attributes and body (checked separately). Looked
 * up with own-key checks only: `"toString" in fields` would be true through the prototype chain.
 */
const KIND_FIELDS = new Map<string, Record<string, FieldCheck>>([
  ["log", { ...COMMON, level: "level", msg: "string", spanId: "optString", parentSpanId: "optString" }],
  ["span-open", { ...COMMON, spanId: "string", name: "string", parentSpanId: "optString", links: "links" }],
  [
    "span-close",
    {
      ...COMMON,
      spanId: "string",
      name: "string",
      durationMs: "duration",
      status: "status",
      parentSpanId: "optString",
      links: "links",
    },
  ],
]);

const SHARED_KEYS = new Set(["kind", "timestamp", "attributes", "body"]);

/**
 * Checks a whole batch before anything of it is staged, so a rejected batch changes nothing.
 * Throws an `InvalidRecordError` naming the first bad record's index and field.
 */
export function validateRecords(records: readonly unknown[]): asserts records is readonly TraceRecord[] {
  if (!Array.isArray(records)) throw new InvalidRecordError(-1, "records", "must be an array of records");
  for (let i = 0; i < records.length; i++) validateRecord(records[i], i);
}

function validateRecord(value: unknown, i: number): void {
  if (!isPlainObject(value)) throw new InvalidRecordError(i, "(record)", "must be an object");
  const kind = value.kind;
  const fields = typeof kind === "string" ? KIND_FIELDS.get(kind) : undefined;
  if (fields === undefined) {
    throw new InvalidRecordError(i, "kind", `must be "log", "span-open" or "span-close", got ${show(kind)}`);
  }
  const ts = value.timestamp;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts)) {
    throw new InvalidRecordError(i, "timestamp", `must be an integer of ms since the epoch, got ${show(ts)}`);
  }
  if (ts < MIN_TIMESTAMP || ts > MAX_TIMESTAMP) {
    throw new InvalidRecordError(
      i,
      "timestamp",
      `must lie in the years 0000 to 9999 (${MIN_TIMESTAMP} to ${MAX_TIMESTAMP} ms), got ${ts}`,
    );
  }
  for (const [field, check] of Object.entries(fields)) checkField(value[field], check, i, field);
  if (value.attributes !== undefined) checkAttributes(value.attributes, i);
  if (value.body !== undefined) checkString(value.body, i, "body");
  for (const key of Object.keys(value)) {
    if (!SHARED_KEYS.has(key) && !Object.hasOwn(fields, key) && value[key] !== undefined) {
      throw new InvalidRecordError(i, key, `is not a field of a ${kind} record`);
    }
  }
}

function checkField(v: unknown, check: FieldCheck, i: number, field: string): void {
  switch (check) {
    case "string":
      checkString(v, i, field);
      return;
    case "optString":
      if (v !== undefined) checkString(v, i, field, " when present");
      return;
    case "level":
      if (typeof v !== "string" || !LEVELS.has(v)) {
        throw new InvalidRecordError(i, field, `must be one of debug, info, warn, error, got ${show(v)}`);
      }
      return;
    case "status":
      if (typeof v !== "string" || !STATUSES.has(v)) {
        throw new InvalidRecordError(i, field, `must be "ok" or "error", got ${show(v)}`);
      }
      return;
    case "duration":
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new InvalidRecordError(i, field, `must be a finite number of ms, got ${show(v)}`);
      }
      return;
    case "links":
      if (v !== undefined) checkLinks(v, i);
      return;
  }
}

function checkAttributes(attrs: unknown, i: number): void {
  if (!isPlainObject(attrs)) {
    throw new InvalidRecordError(i, "attributes", "must be an object of scalars or arrays of scalars");
  }
  for (const [key, v] of Object.entries(attrs)) {
    checkKey(key, i, "attributes");
    if (Array.isArray(v)) {
      for (let j = 0; j < v.length; j++) checkScalar(v[j], i, `attributes.${key}[${j}]`);
    } else {
      checkScalar(v, i, `attributes.${key}`);
    }
  }
}

function checkScalar(v: unknown, i: number, field: string): void {
  if (v === null || typeof v === "boolean") return;
  if (typeof v === "string") {
    checkString(v, i, field);
    return;
  }
  if (typeof v === "number" && Number.isFinite(v)) return;
  throw new InvalidRecordError(
    i,
    field,
    `must be a string, a finite number, a boolean or null (or an array of them), got ${show(v)}`,
  );
}

function checkLinks(links: unknown, i: number): void {
  if (!Array.isArray(links)) throw new InvalidRecordError(i, "links", "must be an array of span links");
  links.forEach((link, j) => {
    const at = `links[${j}]`;
    if (!isPlainObject(link)) throw new InvalidRecordError(i, at, "must be an object");
    checkString(link.spanId, i, `${at}.spanId`);
    for (const opt of ["turnId", "reason"]) {
      if (link[opt] !== undefined) checkString(link[opt], i, `${at}.${opt}`, " when present");
    }
    for (const [key, v] of Object.entries(link)) {
      checkKey(key, i, at);
      const field = `${at}.${key}`;
      if (checkJsonValue(v, i, field, 0) > MAX_LINK_VALUE_DEPTH) {
        throw new InvalidRecordError(
          i,
          field,
          `nests arrays and objects deeper than ${MAX_LINK_VALUE_DEPTH} levels`,
        );
      }
    }
  });
}

/**
 * Extra keys of a link are kept as given, so they must survive JSON (the cold tier stores links as
 * JSON). Returns how deep `v` nests, `depth` included; stops descending past the bound, so hostile
 * nesting costs no more than the bound.
 */
function checkJsonValue(v: unknown, i: number, field: string, depth: number): number {
  if (v === null || typeof v === "boolean") return depth;
  if (typeof v === "string") {
    checkString(v, i, field);
    return depth;
  }
  if (typeof v === "number") {
    if (Number.isFinite(v)) return depth;
  } else if (Array.isArray(v)) {
    let deepest = depth + 1;
    if (deepest > MAX_LINK_VALUE_DEPTH) return deepest;
    for (let j = 0; j < v.length && deepest <= MAX_LINK_VALUE_DEPTH; j++)
      deepest = Math.max(deepest, checkJsonValue(v[j], i, `${field}[${j}]`, depth + 1));
    return deepest;
  } else if (isPlainObject(v)) {
    let deepest = depth + 1;
    if (deepest > MAX_LINK_VALUE_DEPTH) return deepest;
    for (const [key, item] of Object.entries(v)) {
      if (deepest > MAX_LINK_VALUE_DEPTH) break;
      checkKey(key, i, field);
      deepest = Math.max(deepest, checkJsonValue(item, i, `${field}.${key}`, depth + 1));
    }
    return deepest;
  }
  throw new InvalidRecordError(i, field, `must be a JSON value, got ${show(v)}`);
}

/**
 * False when `s` holds a lone surrogate (half of a UTF-16 pair): such a string has no UTF-8 form, so it
 * cannot be stored. `isWellFormed` (ES2024, Node 20) is native: about 12x faster than `/\p{Cs}/u` on a
 * 130 KB body that is not Latin-1 (0.12 against 1.5 ms), and bodies are checked on every insert.
 */
function wellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

function checkString(v: unknown, i: number, field: string, when = ""): asserts v is string {
  if (typeof v !== "string")
    throw new InvalidRecordError(i, field, `must be a string${when}, got ${show(v)}`);
  if (!wellFormed(v)) {
    throw new InvalidRecordError(i, field, "holds a lone UTF-16 surrogate: it has no UTF-8 form to store");
  }
}

/** Object keys are stored as UTF-8 too (any key is allowed, `__proto__` included: docs/format.md). */
function checkKey(key: string, i: number, at: string): void {
  if (!wellFormed(key)) {
    throw new InvalidRecordError(
      i,
      `${at}.${JSON.stringify(key)}`,
      "is a key holding a lone UTF-16 surrogate",
    );
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}
