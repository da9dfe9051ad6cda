/** OTLP attribute values as the record's flat attributes: scalars and arrays of scalars. */
import type { Attributes, Scalar } from "../../types.js";
import {
  ItemLimitError,
  type KeyBudget,
  MAX_ATTRIBUTE_KEY_LENGTH,
  MAX_ATTRIBUTES_PER_SET,
} from "./limits.js";
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
    return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key ?? "", plain(kv.value)]));
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
 * An absent key is proto3's empty string (protobuf drops `""`), so it is kept as `""` either way.
 *
 * Bounded before anything is built (limits.ts): each flattened key's length is checked before the key
 * is made (a 1 MiB key over 1,000 children would otherwise make 1 GB of keys), the set's size as it
 * grows (ItemLimitError: the item is rejected), and every key's characters are taken from the
 * request's budget (OtlpTooLargeError: the request is refused).
 */
export function flatten(kvs: readonly KeyValue[] | undefined, budget: KeyBudget): Attributes {
  const out: Attributes = {};
  flattenInto(kvs, "", out, { count: 0 }, budget);
  return out;
}

function flattenInto(
  kvs: readonly KeyValue[] | undefined,
  prefix: string,
  out: Attributes,
  state: { count: number },
  budget: KeyBudget,
): void {
  for (const kv of kvs ?? []) {
    const k = kv.key ?? "";
    const length = prefix.length + k.length;
    if (length > MAX_ATTRIBUTE_KEY_LENGTH) {
      throw new ItemLimitError(
        `an attribute key flattens to ${length} characters, over the limit of ${MAX_ATTRIBUTE_KEY_LENGTH} (it starts ${JSON.stringify(`${prefix.slice(0, 40)}${k.slice(0, 40)}`)})`,
      );
    }
    budget.take(length + 1);
    const v = kv.value;
    if (v?.kvlistValue !== undefined) {
      flattenInto(v.kvlistValue.values, `${prefix}${k}.`, out, state, budget);
      continue;
    }
    if (++state.count > MAX_ATTRIBUTES_PER_SET)
      throw new ItemLimitError(`an attribute set has over ${MAX_ATTRIBUTES_PER_SET} attributes (flattened)`);
    const p = plain(v);
    // defineProperty, not assignment: a key such as `__proto__` must become an own key of the
    // attributes (as JSON.parse makes it), not change their prototype or vanish.
    Object.defineProperty(out, prefix + k, {
      value: Array.isArray(p) ? p.map(scalar) : scalar(p),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
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
