/**
 * The stored form of a chunk or an inline body: one codec byte, then the payload. The codec byte is
 * what lets the compressor change later without rewriting old data (see docs/format.md).
 *
 * Deflate is produced by node:zlib rather than fflate: on this workload zlib compresses about twice as
 * fast at the same ratio (figures in docs/decisions.md). The format is raw deflate either way, so
 * data written by one inflates with the other.
 */
import { deflateRawSync, inflateRawSync, constants as zc } from "node:zlib";
import { CorruptStoreError } from "../base/errors.js";

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;

/** Below this size compression is not attempted: the header and dictionary-free start eat the gain. */
export const COMPRESS_MIN_BYTES = 1025;

const DEFLATE_OPTS = { level: 6, strategy: zc.Z_DEFAULT_STRATEGY };

/** Encodes `data` with its codec byte; compressed only when that makes it smaller. */
export function encodeStored(data: Uint8Array): Buffer {
  if (data.length >= COMPRESS_MIN_BYTES) {
    const packed = deflateRawSync(data, DEFLATE_OPTS);
    if (packed.length < data.length) return withCodec(CODEC_DEFLATE, packed);
  }
  return withCodec(CODEC_RAW, data);
}

/**
 * The original bytes of a stored value; `what` names it (`body <hash>`, `chunk <hash>`) in the
 * ERR_CORRUPT_STORE of a value that does not inflate (zlib's error kept as the cause).
 */
export function inflateStored(stored: Uint8Array, what = "a stored body or chunk"): Uint8Array {
  const codec = stored[0];
  const payload = stored.subarray(1);
  if (codec === CODEC_RAW) return payload;
  if (codec === CODEC_DEFLATE) {
    try {
      return inflateRawSync(payload);
    } catch (err) {
      throw new CorruptStoreError(`${what} does not inflate: ${(err as Error).message}`, { cause: err });
    }
  }
  throw new CorruptStoreError(`${what} has an unknown codec ${String(codec)}`);
}

function withCodec(codec: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = codec;
  out.set(payload, 1);
  return out;
}
