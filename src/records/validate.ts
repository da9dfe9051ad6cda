import { InvalidRecordError } from "../errors.js";
import type { TraceRecord } from "../types.js";

const LEVELS = new Set(["debug", "info", "warn", "error"]);
const STATUSES = new Set(["ok", "error"]);

type FieldCheck = "string" | "optString" | "level" | "status" | "duration" | "links";

const COMMON: Record<string, FieldCheck> = {
  extensionId: "string",
  conversationId: "optString",
  turnId: "optString",
};

/** The fields each kind may carry besides timestamp, attributes and body (checked separately). */
const KIND_FIELDS: Record<string, Record<string, FieldCheck>> = {
  log: { ...COMMON, level: "level", msg: "string", spanId: "optString", parentSpanId: "optString" },
  "span-open": { ...COMMON, spanId: "string", name: "string", parentSpanId: "optString", links: "links" },
  "span-close": {
    ...COMMON,
    spanId: "string",
    name: "string",
    durationMs: "duration",
    status: "status",
    parentSpanId: "optString",
    links: "links",
  },
};

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
  const fields = typeof kind === "string" ? KIND_FIELDS[kind] : undefined;
  if (fields === undefined) {
    throw new InvalidRecordError(i, "kind", `must be "log", "span-open" or "span-close", got ${show(kind)}`);
  }
  const ts = value.timestamp;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts)) {
    throw new InvalidRecordError(i, "timestamp", `must be an integer of ms since the epoch, got ${show(ts)}`);
  }
  for (const [field, check] of Object.entries(fields)) checkField(value[field], check, i, field);
  if (value.attributes !== undefined) checkAttributes(value.attributes, i);
  if (value.body !== undefined && typeof value.body !== "string") {
    throw new InvalidRecordError(i, "body", `must be a string, got ${show(value.body)}`);
  }
  for (const key of Object.keys(value)) {
    if (!SHARED_KEYS.has(key) && !(key in fields) && value[key] !== undefined) {
      throw new InvalidRecordError(i, key, `is not a field of a ${kind} record`);
    }
  }
}

function checkField(v: unknown, check: FieldCheck, i: number, field: string): void {
  switch (check) {
    case "string":
      if (typeof v !== "string") throw new InvalidRecordError(i, field, `must be a string, got ${show(v)}`);
      return;
    case "optString":
      if (v !== undefined && typeof v !== "string") {
        throw new InvalidRecordError(i, field, `must be a string when present, got ${show(v)}`);
      }
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
    if (Array.isArray(v)) {
      for (let j = 0; j < v.length; j++) checkScalar(v[j], i, `attributes.${key}[${j}]`);
    } else {
      checkScalar(v, i, `attributes.${key}`);
    }
  }
}

function checkScalar(v: unknown, i: number, field: string): void {
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
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
    if (typeof link.spanId !== "string") {
      throw new InvalidRecordError(i, `${at}.spanId`, `must be a string, got ${show(link.spanId)}`);
    }
    for (const opt of ["turnId", "reason"]) {
      if (link[opt] !== undefined && typeof link[opt] !== "string") {
        throw new InvalidRecordError(
          i,
          `${at}.${opt}`,
          `must be a string when present, got ${show(link[opt])}`,
        );
      }
    }
    for (const [key, v] of Object.entries(link)) checkJsonValue(v, i, `${at}.${key}`);
  });
}

/** Extra keys of a link are kept as given, so they must survive JSON (the cold tier stores links as JSON). */
function checkJsonValue(v: unknown, i: number, field: string): void {
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (Number.isFinite(v)) return;
  } else if (Array.isArray(v)) {
    for (let j = 0; j < v.length; j++) checkJsonValue(v[j], i, `${field}[${j}]`);
    return;
  } else if (isPlainObject(v)) {
    for (const [key, item] of Object.entries(v)) checkJsonValue(item, i, `${field}.${key}`);
    return;
  }
  throw new InvalidRecordError(i, field, `must be a JSON value, got ${show(v)}`);
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
