/**
 * A body manifest, stored under `b | sha256(body)`:
 *
 *   +---------+--------+-------------------------+------------------------------------------+
 *   | version | layout | UTF-8 bytes, u32 LE     | layout 0: stored bytes (codec + payload) |
 *   |  u8 = 1 |   u8   | of the original body    | layout 1: n × 32-byte chunk SHA-256s     |
 *   +---------+--------+-------------------------+------------------------------------------+
 *
 * Small bodies are inline (one read); larger ones are the list of their content-defined chunks, in
 * order, each stored once under `k | sha256(chunk)`.
 *
 * When retention evicts a body, its manifest is replaced, in the same atomic write, by a marker under
 * `e | sha256(body)`: records that refer to the body then read as `bodyEvicted` (not as a broken store),
 * and the easy view still knows the size.
 *
 *   +---------+-------------------------+
 *   | version | UTF-8 bytes, u32 LE     |
 *   |  u8 = 1 | of the evicted body     |
 *   +---------+-------------------------+
 */
import { CorruptStoreError } from "../base/errors.js";

export const MANIFEST_VERSION = 1;
const LAYOUT_INLINE = 0;
const LAYOUT_CHUNKED = 1;
const HEAD = 6;
/** Bytes before a manifest's payload (version, layout, original size). */
export const MANIFEST_HEAD = HEAD;
export const HASH_BYTES = 32;

export type Manifest =
  | { layout: "inline"; originalBytes: number; stored: Buffer }
  | { layout: "chunked"; originalBytes: number; chunks: Buffer[] };

export function encodeInline(originalBytes: number, stored: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEAD + stored.length);
  writeHead(buf, LAYOUT_INLINE, originalBytes);
  buf.set(stored, HEAD);
  return buf;
}

export function encodeChunked(originalBytes: number, chunkHashes: readonly Uint8Array[]): Buffer {
  const buf = Buffer.allocUnsafe(HEAD + HASH_BYTES * chunkHashes.length);
  writeHead(buf, LAYOUT_CHUNKED, originalBytes);
  for (let i = 0; i < chunkHashes.length; i++) buf.set(chunkHashes[i]!, HEAD + i * HASH_BYTES);
  return buf;
}

export function decodeManifest(buf: Buffer): Manifest {
  const layout = manifestLayout(buf); // before any read: a short manifest is corrupt, not a RangeError
  const originalBytes = buf.readUInt32LE(2);
  if (layout === "inline") return { layout, originalBytes, stored: buf.subarray(HEAD) };
  const chunks: Buffer[] = [];
  for (let at = HEAD; at < buf.length; at += HASH_BYTES) chunks.push(buf.subarray(at, at + HASH_BYTES));
  return { layout: "chunked", originalBytes, chunks };
}

/** A manifest's layout, checked as `decodeManifest` checks it, without building its chunk list. */
export function manifestLayout(buf: Buffer): Manifest["layout"] {
  if (buf.length < HEAD || buf[0] !== MANIFEST_VERSION)
    throw new CorruptStoreError("unknown body manifest version");
  if (buf[1] === LAYOUT_INLINE) return "inline";
  if (buf[1] !== LAYOUT_CHUNKED || (buf.length - HEAD) % HASH_BYTES !== 0) {
    throw new CorruptStoreError("bad body manifest layout");
  }
  return "chunked";
}

/** The body's UTF-8 size without decoding the rest (easy view, stats). */
export function manifestOriginalBytes(buf: Buffer): number {
  if (buf.length < HEAD) throw new CorruptStoreError("a body manifest is shorter than its header");
  return buf.readUInt32LE(2);
}

export const EVICTED_VERSION = 1;

export function encodeEvicted(originalBytes: number): Buffer {
  const buf = Buffer.allocUnsafe(5);
  buf[0] = EVICTED_VERSION;
  buf.writeUInt32LE(originalBytes, 1);
  return buf;
}

/** The evicted body's UTF-8 size. */
export function decodeEvicted(buf: Buffer): number {
  if (buf.length !== 5 || buf[0] !== EVICTED_VERSION) throw new CorruptStoreError("unknown eviction marker");
  return buf.readUInt32LE(1);
}

function writeHead(buf: Buffer, layout: number, originalBytes: number): void {
  buf[0] = MANIFEST_VERSION;
  buf[1] = layout;
  buf.writeUInt32LE(originalBytes, 2);
}
