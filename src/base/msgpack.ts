/**
 * One msgpack Encoder and Decoder for the whole engine. The library's `encode()`/`decode()` helpers
 * build a new instance per call (buffers and string caches included); reusing one is what its docs
 * recommend for hot paths. Both are synchronous, so sharing them is safe. `encode` returns a copy,
 * since the encoder reuses its buffer.
 *
 * Map keys named `__proto__`: a record's attributes and links may hold any JSON object key, and the
 * library's decoder refuses `__proto__` (it builds maps by assignment onto `{}`, where that key would
 * set the prototype instead of a property). Our decoder's key decoder hands the library a stand-in
 * for that one key, a string no UTF-8 key can decode to (it starts with a lone surrogate), and the
 * maps that received it are rebuilt afterwards with `__proto__` defined as an own property in its
 * place, exactly as `JSON.parse` does. Maps without the key are untouched, so the common path costs
 * a length comparison per key; the library's key cache is kept (measured: decoding a typical record
 * value takes as long as with the library's own decoder, about 8 µs).
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import { CorruptStoreError } from "./errors.js";

/** The library's `KeyDecoder` interface (its module does not export the type from the index). */
interface KeyDecoder {
  canBeCached(byteLength: number): boolean;
  decode(bytes: Uint8Array, inputOffset: number, byteLength: number): string;
}

const PROTO = "__proto__";
/** Not well-formed UTF-16, so never the result of decoding well-formed UTF-8 (checked below anyway). */
const PROTO_STAND_IN = "\uD800__proto__";
const PROTO_BYTES = 9;
/** The stand-in's length as the library's JS UTF-8 decoder reads it (a surrogate is 3 bytes, WTF-8). */
const STAND_IN_BYTES = 12;

/** The library's shared, caching key decoder (what a Decoder uses when given none). */
const libraryKeys = (new Decoder() as unknown as { keyDecoder: KeyDecoder }).keyDecoder;
if (typeof libraryKeys?.decode !== "function") throw new Error("@msgpack/msgpack: no default key decoder");

let sawProto = false;

const keyDecoder: KeyDecoder = {
  // every key comes here, so that none reaches the library's `__proto__` check unseen
  canBeCached: () => true,
  decode(bytes, inputOffset, byteLength) {
    const key = libraryKeys.canBeCached(byteLength)
      ? libraryKeys.decode(bytes, inputOffset, byteLength)
      : Buffer.from(bytes.buffer, bytes.byteOffset + inputOffset, byteLength).toString("utf8");
    if (byteLength === PROTO_BYTES && key === PROTO) {
      sawProto = true;
      return PROTO_STAND_IN;
    }
    if (byteLength === STAND_IN_BYTES && key === PROTO_STAND_IN) {
      throw new Error(`a map key decodes to the reserved ${JSON.stringify(key)}`);
    }
    return key;
  },
};

const encoder = new Encoder();
const decoder = new Decoder({ keyDecoder });

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode(bytes: Uint8Array): unknown {
  sawProto = false;
  const value = decoder.decode(bytes);
  return sawProto ? restoreProto(value) : value;
}

/** `decode` for a value read from the store: what does not decode is `ERR_CORRUPT_STORE` naming `what`. */
export function decodeStored(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes);
  } catch (err) {
    throw new CorruptStoreError(`${what} does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/** The value with every stand-in key renamed to an own `__proto__` property, key order kept. */
function restoreProto(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreProto(value[i]);
    return value;
  }
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return value;
  const map = value as Record<string, unknown>;
  const hasStandIn = Object.hasOwn(map, PROTO_STAND_IN);
  const out: Record<string, unknown> = hasStandIn ? {} : map;
  for (const key of Object.keys(map)) {
    const item = restoreProto(map[key]);
    if (!hasStandIn) map[key] = item;
    else {
      // defined, not assigned: assignment of `__proto__` onto `{}` would set the prototype
      const name = key === PROTO_STAND_IN ? PROTO : key;
      Object.defineProperty(out, name, { value: item, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}
