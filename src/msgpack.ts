/**
 * One msgpack Encoder and Decoder for the whole engine. The library's `encode()`/`decode()` helpers
 * build a new instance per call (buffers and string caches included); reusing one is what its docs
 * recommend for hot paths. Both are synchronous, so sharing them is safe. `encode` returns a copy,
 * since the encoder reuses its buffer.
 */
import { Decoder, Encoder } from "@msgpack/msgpack";

const encoder = new Encoder();
const decoder = new Decoder();

export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
