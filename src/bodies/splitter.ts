/**
 * Where a body is cut into chunks: the content-defined cuts of chunker.ts, plus two that follow how
 * LLM requests grow.
 *
 * Request N+1 is request N with messages appended, but not byte for byte: request N's JSON closes
 * (`"}]}`) where request N+1 goes on (`"},{"role"…`). Cut by content alone, request N's last chunk
 * (from its last content-defined cut to its end) never recurs, and every request stores that region
 * again in a new chunk: on average half a chunk of history, compressed anew each time. So:
 *   - a body's last TAIL_BYTES are a chunk of their own, and the chunk before them (its last full
 *     chunk) is remembered as the successor of the chunk that precedes it (or of the body's start);
 *   - when a later body reaches a chunk with remembered successors and its next bytes are one of them
 *     (same SHA-256), the cut is made there, and that chunk is found stored.
 * The memory is a bounded LRU, not persisted: after a restart the first request of a conversation
 * stores its boundary again, as before. Cuts only ever change dedup, never correctness: a body is
 * its list of chunks, whatever they are. Every chunk but the last is longer than `minChunkBytes`
 * (a quarter of `minSize`, at least the tail, at most `minSize`), which bounds a body's chunk count
 * (BodyStore.frameBytesBound relies on it).
 */
import { createHash } from "node:crypto";
import type { ChunkingOptions } from "../types.js";
import type { Chunker } from "./chunker.js";

/** The bytes cut off the end of a body: enough for a JSON close (`"}]}`) and a little more. */
export const TAIL_BYTES = 64;
/**
 * Remembered predecessors, about 200 bytes each: a conversation's requests pass every boundary an
 * earlier request of it left, so an active conversation of N requests uses N entries.
 */
export const SUCCESSORS_MAX = 32_768;
const PER_PREDECESSOR = 4;
const CHECK_BYTES = 16;
const BODY_START = "";

/** Strings, not Buffers: a Buffer costs about 100 bytes of object besides its bytes. */
interface Successor {
  /** SHA-256, latin1. */
  hash: string;
  length: number;
  /** The successor's last bytes, latin1: a mismatch is usually seen there, before any hashing. */
  end: string;
}

export interface Split {
  /** End offsets (exclusive), the last is the body's length. */
  ends: number[];
  /** SHA-256 of each chunk. */
  hashes: Buffer[];
}

export function sha256(data: Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

export class Splitter {
  private readonly chunker: Chunker;
  /** Every chunk but a body's last is longer than this. */
  readonly minChunkBytes: number;
  private readonly successors = new Map<string, Successor[]>();

  constructor(chunker: Chunker, chunking: Readonly<ChunkingOptions>) {
    this.chunker = chunker;
    // Content-defined chunks are only longer than minSize: a tiny minSize bounds them, not the tail
    this.minChunkBytes = Math.min(chunking.minSize, Math.max(TAIL_BYTES, Math.floor(chunking.minSize / 4)));
  }

  split(data: Buffer): Split {
    const ends: number[] = [];
    const hashes: Buffer[] = [];
    let start = 0;
    let before = BODY_START;
    while (start < data.length) {
      const known = this.knownSuccessor(before, data, start);
      const end = known ? start + known.length : this.cut(data, start);
      const hash = known ? Buffer.from(known.hash, "latin1") : sha256(data.subarray(start, end));
      ends.push(end);
      hashes.push(hash);
      before = hash.toString("latin1");
      start = end;
    }
    this.remember(data, ends, hashes);
    return { ends, hashes };
  }

  /** The content-defined cut after `start`, the body's tail cut off its last chunk. */
  private cut(data: Buffer, start: number): number {
    const end = this.chunker.next(data, start);
    return end === data.length && end - TAIL_BYTES - start > this.minChunkBytes ? end - TAIL_BYTES : end;
  }

  /** A remembered successor of `before` that the bytes at `start` are, if any. */
  private knownSuccessor(before: string, data: Buffer, start: number): Successor | undefined {
    const candidates = this.successors.get(before);
    if (!candidates) return undefined;
    for (const c of candidates) {
      const end = start + c.length;
      if (end > data.length || data.toString("latin1", end - CHECK_BYTES, end) !== c.end) continue;
      if (sha256(data.subarray(start, end)).toString("latin1") === c.hash) return c;
    }
    return undefined;
  }

  /** Records the body's last full chunk (the one before its tail) after the chunk before it. */
  private remember(data: Buffer, ends: number[], hashes: Buffer[]): void {
    const n = ends.length;
    if (n < 2 || data.length - ends[n - 2]! !== TAIL_BYTES) return; // no tail was cut off
    const start = n >= 3 ? ends[n - 3]! : 0;
    const end = ends[n - 2]!;
    const key = n >= 3 ? hashes[n - 3]!.toString("latin1") : BODY_START;
    const hash = hashes[n - 2]!.toString("latin1");
    const list = (this.successors.get(key) ?? []).filter((s) => s.hash !== hash);
    list.unshift({ hash, length: end - start, end: data.toString("latin1", end - CHECK_BYTES, end) });
    if (list.length > PER_PREDECESSOR) list.pop();
    this.successors.delete(key); // re-inserted last: the Map's order is the LRU's
    this.successors.set(key, list);
    if (this.successors.size > SUCCESSORS_MAX) {
      this.successors.delete(this.successors.keys().next().value as string);
    }
  }
}
