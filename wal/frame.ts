/**
 * WAL framing. A segment file is a header followed by frames:
 *
 *   segment header (16 bytes)
 *   +-----+-----+-----+-----+---------+-----------+--------------------------+
 *   | 'T' | 'T' | 'W' | 'L' | version | 3 × 0x00  | segment number, u64 BE   |
 *   +-----+-----+-----+-----+---------+-----------+--------------------------+
 *
 *   frame (11-byte header + payload)
 *   +------+------+---------+----------------+----------------+-------------------+
 *   | 0xA5 | 0x7E | version | length, u32 LE | crc32, u32 LE  | payload (length)  |
 *   +------+------+---------+----------------+----------------+-------------------+
 *
 * The crc32 (zlib's polynomial) covers version, length and payload, so a damaged length is caught too.
 * The two magic bytes let a reader that met a bad frame look for a valid frame after it, which is how a
 * torn tail (nothing valid follows: cut it off) is told apart from corruption mid-log (refuse to open).
 * These constants are frozen: a new layout gets a new version byte, and readers keep the old one.
 */
import { crc32 } from "node:zlib";

export const SEGMENT_MAGIC = Buffer.from("TTWL", "latin1");
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;

export const FRAME_MAGIC_0 = 0xa5;
export const FRAME_MAGIC_1 = 0x7e;
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 11;
/** A frame claiming more than this is damage, not data (a batch is far smaller). */
export const FRAME_MAX_PAYLOAD = 1 << 30;

let appendLimit = FRAME_MAX_PAYLOAD;

/**
 * The largest payload the write path may append. It is FRAME_MAX_PAYLOAD: a longer frame would be
 * acknowledged and then read back as damage (a torn tail) at the next open. Tests lower it with
 * `setFramePayloadLimit` (internal) to exercise the check without a gigabyte batch.
 */
export function framePayloadLimit(): number {
  return appendLimit;
}

/** Tests only: lowers the append limit (never above FRAME_MAX_PAYLOAD); returns a function that restores it. */
export function setFramePayloadLimit(bytes: number): () => void {
  const previous = appendLimit;
  appendLimit = Math.min(bytes, FRAME_MAX_PAYLOAD);
  return () => {
    appendLimit = previous;
  };
}

export function encodeSegmentHeader(segmentNo: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(buf, 0);
  buf[4] = SEGMENT_VERSION;
  buf.writeBigUInt64BE(BigInt(segmentNo), 8);
  return buf;
}

/** The segment number, or undefined when the header is not a complete, known one. */
export function decodeSegmentHeader(buf: Uint8Array): number | undefined {
  if (buf.length < SEGMENT_HEADER_BYTES) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!b.subarray(0, 4).equals(SEGMENT_MAGIC) || b[4] !== SEGMENT_VERSION) return undefined;
  return Number(b.readBigUInt64BE(8));
}

export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame[0] = FRAME_MAGIC_0;
  frame[1] = FRAME_MAGIC_1;
  frame[2] = FRAME_VERSION;
  frame.writeUInt32LE(payload.length, 3);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(frameCrc(frame, 0, payload.length), 7);
  return frame;
}

function frameCrc(buf: Buffer, at: number, length: number): number {
  const head = crc32(buf.subarray(at + 2, at + 7));
  return crc32(buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), head);
}

export type FrameAt = { ok: true; payload: Buffer; next: number } | { ok: false; reason: string };

/** Reads the frame that starts at `at`; `ok: false` says why it is not a valid frame. */
export function readFrame(buf: Buffer, at: number): FrameAt {
  if (buf.length - at < FRAME_HEADER_BYTES) return { ok: false, reason: "truncated frame header" };
  if (buf[at] !== FRAME_MAGIC_0 || buf[at + 1] !== FRAME_MAGIC_1)
    return { ok: false, reason: "bad frame magic" };
  if (buf[at + 2] !== FRAME_VERSION) return { ok: false, reason: `unknown frame version ${buf[at + 2]}` };
  const length = buf.readUInt32LE(at + 3);
  if (length > FRAME_MAX_PAYLOAD) return { ok: false, reason: `implausible frame length ${length}` };
  const end = at + FRAME_HEADER_BYTES + length;
  if (end > buf.length) return { ok: false, reason: "truncated frame payload" };
  if (frameCrc(buf, at, length) !== buf.readUInt32LE(at + 7))
    return { ok: false, reason: "checksum mismatch" };
  return { ok: true, payload: buf.subarray(at + FRAME_HEADER_BYTES, end), next: end };
}

/** Whether any valid frame starts after `from`: the difference between a torn tail and corruption. */
export function validFrameAfter(buf: Buffer, from: number): boolean {
  let at = buf.indexOf(FRAME_MAGIC_0, from + 1);
  while (at !== -1) {
    if (buf[at + 1] === FRAME_MAGIC_1 && readFrame(buf, at).ok) return true;
    at = buf.indexOf(FRAME_MAGIC_0, at + 1);
  }
  return false;
}
