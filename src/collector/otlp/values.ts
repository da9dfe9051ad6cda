/** OTLP attribute values as the record's flat attributes: scalars and arrays of scalars. */
import type { Attributes, Scalar } from "../../types.js";
import type { AnyValue, KeyValue } from "./types.js";

/** An AnyValue as plain JSON (what a body made of it holds). */
export function plain(v: AnyValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return int(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.bytesValue !== undefined) return v.bytesValue; // base64, as OTLP/JSON has it
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(plain);
  if (v.kvlistValue !== undefined) {
    return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, plain(kv.value)]));
  }
  return null;
}

/** A 64-bit integer as a number when it is exact, else as its decimal string. */
function int(v: string | number): number | string {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : String(v);
}

/**
 * Key-values flattened: nested maps become dotted keys, arrays keep their scalar elements, anything
 * else inside an array becomes JSON text. Non-finite doubles become strings (records hold finite numbers).
 */
export function flatten(kvs: readonly KeyValue[] | undefined, prefix = "", out: Attributes = {}): Attributes {
  for (const kv of kvs ?? []) {
    const key = prefix + (kv.key ?? "");
    const v = kv.value;
    if (v?.kvlistValue !== undefined) {
      flatten(v.kvlistValue.values, `${key}.`, out);
      continue;
    }
    const p = plain(v);
    // defineProperty, not assignment: a key such as `__proto__` must become an own key of the
    // attributes (as JSON.parse makes it), not change their prototype or vanish.
    Object.defineProperty(out, key, {
      value: Array.isArray(p) ? p.map(scalar) : scalar(p),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function scalar(v: unknown): Scalar {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  return JSON.stringify(v);
}

/** An id sent as hex (OTLP/JSON) of the given byte length, lower-cased; undefined if it is not one. */
export function hexId(v: string | undefined, bytes: number): string | undefined {
  if (typeof v !== "string" || v.length !== bytes * 2 || !/^[0-9a-fA-F]+$/.test(v)) return undefined;
  const id = v.toLowerCase();
  return /^0+$/.test(id) ? undefined : id; // all zeroes is OTLP's "no id"
}

/** Nanoseconds since the epoch (a decimal string or a number) as whole milliseconds. */
export function nanosToMs(v: string | number | undefined): number | undefined {
  if (v === undefined || v === "" || v === 0 || v === "0") return undefined;
  try {
    const ms = Number(BigInt(typeof v === "number" ? Math.trunc(v) : v) / 1_000_000n);
    return Number.isSafeInteger(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** Nanoseconds between two timestamps, in (fractional) milliseconds. */
export function nanosBetweenMs(start: string | number, end: string | number): number {
  return Number(BigInt(end) - BigInt(start)) / 1e6;
}
