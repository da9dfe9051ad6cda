/**
 * OTLP requests checked against the schema (schema.ts) before they are mapped, so that the mapping
 * can trust every field's type: a request with a field of the wrong type, a null inside a list, a
 * non-integer nanosecond time or AnyValues nested deeper than `MAX_ANY_VALUE_DEPTH` is refused whole
 * with a 400 `ERR_INVALID_OTLP` naming the field by its path
 * (`resourceSpans[0].scopeSpans[0].spans[3].startTimeUnixNano`). Items that are well-formed but cannot
 * be mapped (a malformed id, no timestamps) are still rejected one by one (OTLP's partial success).
 *
 * The rules are proto3's JSON mapping, as OTLP/JSON uses it: 64-bit integers as numbers or decimal
 * strings, doubles as numbers or strings ("NaN", "Infinity"), bytes as strings (hex ids, base64
 * values), enums as int32 numbers, decimal strings or their names in schema.ts's enums (anything else
 * is refused), normalized here to their numbers so that the mapping reads one form; a field set to
 * `null` is absent (it is removed here), unknown fields are ignored. The walk's recursion is bounded
 * by the depth limit, so no body can overflow the stack here. It also counts messages and items
 * (limits.ts), so an OTLP/JSON request over a request-wide cap is refused before it is mapped.
 */
import protobuf from "protobufjs";
import { HttpError } from "../http.js";
import { RequestCounter } from "./limits.js";

/** How deep array and key-value-list AnyValues may nest (an attribute's value is depth 1). */
export const MAX_ANY_VALUE_DEPTH = 64;

export class OtlpShapeError extends HttpError {
  constructor(path: string, problem: string) {
    super(400, "ERR_INVALID_OTLP", `${path} ${problem}`, { field: path });
  }
}

/** Checks `value` as a `type` message; throws OtlpShapeError at the first field that is not one. */
export function checkMessage(type: protobuf.Type, value: unknown, path: string): void {
  walkMessage(type, value, path, 0, new RequestCounter());
}

/** The messages that are OTLP's items (what partial success counts). */
export const ITEM_TYPES = new Set(["Span", "LogRecord"]);

function walkMessage(
  type: protobuf.Type,
  value: unknown,
  path: string,
  depth: number,
  counter: RequestCounter,
): void {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new OtlpShapeError(path || "the request", `must be an object (an OTLP ${type.name} message)`);
  counter.message();
  if (ITEM_TYPES.has(type.name)) counter.item();
  const obj = value as Record<string, unknown>;
  const d = type.name === "AnyValue" ? depth + 1 : depth;
  if (d > MAX_ANY_VALUE_DEPTH)
    throw new OtlpShapeError(path, `nests AnyValues deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
  const oneofs = new Map<string, string>();
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(obj, field.name)) continue;
    const v = obj[field.name];
    if (v === null || v === undefined) {
      delete obj[field.name]; // proto3 JSON: null is the field's default, i.e. not set
      continue;
    }
    const at = path ? `${path}.${field.name}` : field.name;
    if (field.partOf) {
      const other = oneofs.get(field.partOf.name);
      if (other !== undefined) throw new OtlpShapeError(at, `cannot be set together with ${other}`);
      oneofs.set(field.partOf.name, field.name);
    }
    if (field.repeated) {
      if (!Array.isArray(v)) throw new OtlpShapeError(at, "must be an array");
      for (let i = 0; i < v.length; i++) walkValue(field, v[i], `${at}[${i}]`, d, counter);
    } else if (field.resolvedType instanceof protobuf.Enum) {
      obj[field.name] = enumNumber(field.resolvedType, v, at);
    } else walkValue(field, v, at, d, counter);
  }
}

function walkValue(
  field: protobuf.Field,
  v: unknown,
  path: string,
  depth: number,
  counter: RequestCounter,
): void {
  if (field.resolvedType instanceof protobuf.Type) {
    if (v === null) throw new OtlpShapeError(path, "must be an object, not null");
    walkMessage(field.resolvedType, v, path, depth, counter);
    return;
  }
  const problem = scalarProblem(field.type, v);
  if (problem !== undefined) throw new OtlpShapeError(path, problem);
}

const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DOUBLE_WORDS = new Set(["NaN", "Infinity", "-Infinity"]);

/** Why `v` is not a JSON value of the scalar protobuf type, or undefined when it is one. */
function scalarProblem(type: string, v: unknown): string | undefined {
  switch (type) {
    case "string":
    case "bytes":
      return typeof v === "string" ? undefined : `must be a string, not ${kindOf(v)}`;
    case "bool":
      return typeof v === "boolean" ? undefined : `must be true or false, not ${kindOf(v)}`;
    case "double":
    case "float":
      if (typeof v === "number") return undefined;
      if (typeof v === "string" && (DOUBLE_WORDS.has(v) || /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v)))
        return undefined;
      return `must be a number, not ${kindOf(v)}`;
    case "fixed64":
    case "uint64":
      return integerProblem(v, 0n, UINT64_MAX, "an unsigned 64-bit integer");
    case "int64":
    case "sint64":
    case "sfixed64":
      return integerProblem(v, INT64_MIN, INT64_MAX, "a 64-bit integer");
    case "uint32":
    case "fixed32":
      return integerProblem(v, 0n, 2n ** 32n - 1n, "an unsigned 32-bit integer");
    default:
      return integerProblem(v, INT32_MIN, INT32_MAX, "a 32-bit integer");
  }
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

/**
 * An enum field's value as its number: a name of the enum (and only a real one: `SPAN_KIND_SERVER`,
 * not `FOO`), or an int32 as a number or decimal string (proto3 enums are open, so an unknown number
 * is kept). Normalized so that `"2"`, `2` and `"STATUS_CODE_ERROR"` map alike.
 */
function enumNumber(e: protobuf.Enum, v: unknown, path: string): number {
  if (typeof v === "string" && Object.hasOwn(e.values, v)) return e.values[v]!;
  const problem = integerProblem(v, INT32_MIN, INT32_MAX, `one of ${e.name}'s names or a 32-bit integer`);
  if (problem !== undefined) throw new OtlpShapeError(path, problem);
  return Number(v);
}

/** An integer as a JSON number (whole) or a decimal string, within [min, max]. */
function integerProblem(v: unknown, min: bigint, max: bigint, what: string): string | undefined {
  let n: bigint;
  if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && /^-?\d{1,30}$/.test(v)) n = BigInt(v);
  else return `must be ${what} (a whole number or a decimal string), not ${kindOf(v)}`;
  return n >= min && n <= max ? undefined : `must be ${what}, and ${String(v)} is out of its range`;
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "number") return Number.isInteger(v) ? `${v}` : `the fraction ${v}`;
  return `${typeof v} ${String(v)}`;
}
