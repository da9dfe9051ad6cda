/**
 * The stored form of a chunk or an inline body: one codec byte, then the payload. The codec byte is
 * what lets the compressor change later without rewriting old data (see docs/format.md):
 *
 *   0  raw                  the bytes as they are
 *   1  deflate              raw deflate, no preset dictionary
 *   2  deflate + dictionary u32 LE dictionary id, then raw deflate with that preset dictionary
 *
 * Deflate is produced by node:zlib rather than fflate: on this workload zlib compresses about twice as
 * fast at the same ratio (figures in docs/decisions.md). The format is raw deflate either way, so
 * data written by one inflates with the other. A dictionary (src/bodies/dictionary.ts) gives each
 * chunk the context a chunk compressed alone lacks: the store's common words and JSON structure.
 */
import { deflateRawSync, inflateRawSync, constants as zc } from "node:zlib";
import { CorruptStoreError } from "../base/errors.js";

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;
export const CODEC_DEFLATE_DICT = 2;

/** Below this size compression is not attempted: the header and dictionary-free start eat the gain. */
export const COMPRESS_MIN_BYTES = 1025;

const DEFLATE_OPTS = { level: 6, strategy: zc.Z_DEFAULT_STRATEGY };

/** A preset dictionary as the codec uses it: its id (named in every chunk it compressed) and bytes. */
export interface Dictionary {
  id: number;
  bytes: Buffer;
}

/** The dictionaries a read may need, by id. */
export interface DictionarySource {
  dictionary(id: number): Dictionary | undefined;
}

/** Encodes `data` with its codec byte; compressed only when that makes it smaller. */
export function encodeStored(data: Uint8Array, dict?: Dictionary): Buffer {
  if (data.length >= COMPRESS_MIN_BYTES) {
    if (dict) {
      const packed = deflateRawSync(data, { ...DEFLATE_OPTS, dictionary: dict.bytes });
      if (packed.length + 4 < data.length) return withDictionary(dict.id, packed);
    } else {
      const packed = deflateRawSync(data, DEFLATE_OPTS);
      if (packed.length < data.length) return withCodec(CODEC_DEFLATE, packed);
    }
  }
  return withCodec(CODEC_RAW, data);
}

/**
 * The original bytes of a stored value; `what` names it (`body <hash>`, `chunk <hash>`) in the
 * ERR_CORRUPT_STORE of a value that does not inflate (zlib's error kept as the cause), and of one
 * that names a dictionary `dicts` does not hold.
 */
export function inflateStored(
  stored: Uint8Array,
  what = "a stored body or chunk",
  dicts?: DictionarySource,
): Uint8Array {
  const codec = stored[0];
  if (codec === CODEC_RAW) return stored.subarray(1);
  if (codec === CODEC_DEFLATE) return inflate(stored.subarray(1), what);
  if (codec === CODEC_DEFLATE_DICT) {
    if (stored.length < 5) throw new CorruptStoreError(`${what} is shorter than its codec header`);
    const id = Buffer.from(stored.buffer, stored.byteOffset, stored.length).readUInt32LE(1);
    const dict = dicts?.dictionary(id);
    if (!dict)
      throw new CorruptStoreError(`${what} names dictionary ${id}, which is not stored or does not decode`);
    return inflate(stored.subarray(5), what, dict.bytes);
  }
  throw new CorruptStoreError(`${what} has an unknown codec ${String(codec)}`);
}

/** The dictionary id a stored value names, or undefined when it was compressed without one. */
export function storedDictionary(stored: Uint8Array): number | undefined {
  if (stored[0] !== CODEC_DEFLATE_DICT || stored.length < 5) return undefined;
  return Buffer.from(stored.buffer, stored.byteOffset, stored.length).readUInt32LE(1);
}

/** The codec's name, for `tracetier dump`. */
export function codecName(stored: Uint8Array): string {
  const id = storedDictionary(stored);
  if (id !== undefined) return `deflate+dictionary ${id}`;
  return stored[0] === CODEC_DEFLATE ? "deflate" : stored[0] === CODEC_RAW ? "raw" : `unknown ${stored[0]}`;
}

function inflate(payload: Uint8Array, what: string, dictionary?: Buffer): Uint8Array {
  try {
    return dictionary ? inflateRawSync(payload, { dictionary }) : inflateRawSync(payload);
  } catch (err) {
    throw new CorruptStoreError(`${what} does not inflate: ${(err as Error).message}`, { cause: err });
  }
}

function withCodec(codec: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = codec;
  out.set(payload, 1);
  return out;
}

function withDictionary(id: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 5);
  out[0] = CODEC_DEFLATE_DICT;
  out.writeUInt32LE(id, 1);
  out.set(payload, 5);
  return out;
}
