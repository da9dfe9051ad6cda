/**
 * Chunks as text, and bodies assembled from them without decoding a body's bytes again.
 *
 * Decoding UTF-8 is what a read of a heavy turn spends most of its time on (a turn's requests resend
 * the same history, so a turn of 690 KB of bodies holds far fewer distinct bytes): measured, 36% of a
 * steady getTurn on the diverse profile went to Buffer#toString. So each distinct chunk is decoded
 * once and kept as a string, and a body is the concatenation of its chunks' strings, which V8 makes
 * as a rope (a ConsString) without copying; a consumer that needs it flat copies it once, at memcpy
 * speed, instead of decoding it.
 *
 * A chunk is cut at a byte offset, which can fall inside a character. A chunk's string therefore holds
 * only its whole characters: the continuation bytes it starts with (`head`) end the character the
 * previous chunk's `tail` began, and the two are decoded together, a few bytes, when the body is
 * assembled. Decoding whole characters piece by piece gives the same string as decoding the body at
 * once, because a stored body is valid UTF-8 (it was encoded from a JS string).
 */
import { isAscii } from "node:buffer";
import { ByteLru } from "../base/byte-lru.js";

export interface ChunkText {
  /** The chunk's whole characters. */
  text: string;
  /** Continuation bytes at the start, the end of a character begun in the previous chunk. */
  head: Buffer;
  /** The start of a character that the next chunk ends (the whole chunk when `within`). */
  tail: Buffer;
  /** The chunk is nothing but continuation bytes: all of it lies inside one character. */
  within: boolean;
  /** The chunk's length in bytes. */
  bytes: number;
}

const EMPTY = Buffer.alloc(0);

const isContinuation = (b: number) => (b & 0xc0) === 0x80;

/** The bytes of the UTF-8 sequence that `lead` starts (1 for a byte that starts none). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf7) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

/** A chunk's bytes split into whole characters, decoded, and the partial ones at either end. */
export function chunkText(data: Uint8Array): ChunkText {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const n = bytes.length;
  if (isAscii(bytes))
    return { text: bytes.toString("latin1"), head: EMPTY, tail: EMPTY, within: false, bytes: n };
  let start = 0;
  while (start < n && start < 3 && isContinuation(bytes[start]!)) start++;
  if (start === n) return { text: "", head: EMPTY, tail: copy(bytes), within: true, bytes: n };
  let end = n;
  for (let p = n - 1; p >= start && p >= n - 4; p--) {
    if (isContinuation(bytes[p]!)) continue;
    if (p + sequenceLength(bytes[p]!) > n) end = p;
    break;
  }
  return {
    text: bytes.toString("utf8", start, end),
    head: copy(bytes.subarray(0, start)),
    tail: copy(bytes.subarray(end)),
    within: false,
    bytes: n,
  };
}

/**
 * A few bytes kept on their own: a view would keep the whole chunk's buffer alive, and so would
 * `Buffer.from`, which carves small copies out of Node's shared 8 KiB pool.
 */
function copy(b: Buffer): Buffer {
  if (b.length === 0) return EMPTY;
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

/** A body from its chunks' texts, in order: their strings joined, the split characters decoded. */
export function assemble(parts: readonly ChunkText[]): string {
  let out = "";
  let carry: Buffer = EMPTY;
  for (const p of parts) {
    if (p.within) {
      carry = Buffer.concat([carry, p.tail]);
      continue;
    }
    if (carry.length > 0 || p.head.length > 0) out += Buffer.concat([carry, p.head]).toString("utf8");
    out += p.text;
    carry = p.tail;
  }
  return carry.length > 0 ? out + carry.toString("utf8") : out;
}

/**
 * Bytes an entry costs besides its text: key string, Map entry, the ChunkText object, string header
 * (about 228 measured for a 64-byte chunk). Tail chunks are small and one per body.
 */
const ENTRY_OVERHEAD_BYTES = 160;

/** What a chunk's text holds in memory, about: a string of one-byte characters or of two-byte ones. */
export function textBytes(t: ChunkText): number {
  const chars = t.text.length === t.bytes ? t.text.length : 2 * t.text.length;
  return chars + t.head.length + t.tail.length + ENTRY_OVERHEAD_BYTES;
}

/**
 * A byte-bounded LRU of chunk texts by chunk hash. Chunks are content-addressed, so a cached text is
 * always right for its hash; whether a body is still stored is decided by its manifest, which every
 * read looks up (an evicted body reads as evicted whatever this holds).
 */
export class TextCache extends ByteLru<ChunkText> {
  constructor(maxBytes: number) {
    super(maxBytes, textBytes);
  }
}
