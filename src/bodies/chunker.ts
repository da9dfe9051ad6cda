/**
 * Content-defined chunking (FastCDC with normalized chunking, Xia et al., USENIX ATC '16).
 *
 * A gear hash rolls over the bytes; a cut is made where its masked bits are zero. Boundaries depend
 * only on the bytes near them, so when request N+1 is request N with messages appended, every chunk
 * of the shared prefix but the last comes out identical and is stored once.
 *
 * The gear table is frozen: changing it (or the masks) moves every boundary, which costs dedup
 * against bodies stored before the change but never correctness (a body is its list of chunks).
 */
import type { ChunkingOptions } from "../types.js";

export const DEFAULT_CHUNKING: Readonly<ChunkingOptions> = {
  inlineMax: 1024,
  minSize: 2048,
  avgSize: 8192,
  maxSize: 65536,
};

/** 256 pseudo-random 32-bit values from a fixed xorshift32 seed; frozen (see above). */
const GEAR: Uint32Array = (() => {
  const table = new Uint32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    table[i] = x;
  }
  return table;
})();

/** A mask with `bits` one-bits spread over the high half, as FastCDC spaces them. */
function spreadMask(bits: number): number {
  let mask = 0;
  for (let i = 0; i < bits; i++) mask |= 1 << (31 - i * 2);
  return mask >>> 0;
}

export interface Chunker {
  /** End offsets (exclusive) of the chunks of `data`; the last is `data.length`. */
  cut(data: Uint8Array): number[];
  /** The end (exclusive) of the chunk that starts at `start`. */
  next(data: Uint8Array, start: number): number;
}

export function createChunker(opts: Readonly<ChunkingOptions>): Chunker {
  const avgBits = Math.round(Math.log2(opts.avgSize));
  // Normalized chunking: a harder mask before the average size, an easier one after, which narrows
  // the spread of chunk sizes around the average.
  const maskS = spreadMask(avgBits + 2);
  const maskL = spreadMask(avgBits - 2);
  const { minSize, avgSize, maxSize } = opts;

  function nextCut(data: Uint8Array, start: number): number {
    const remaining = data.length - start;
    if (remaining <= minSize) return data.length;
    const end = start + Math.min(remaining, maxSize);
    const normal = Math.min(start + avgSize, end);
    let h = 0;
    let i = start + minSize; // cut-point skipping: no boundary can fall inside the minimum size
    for (; i < normal; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < end; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      if ((h & maskL) === 0) return i + 1;
    }
    return end;
  }

  return {
    next: nextCut,
    cut(data) {
      const cuts: number[] = [];
      let start = 0;
      while (start < data.length) {
        start = nextCut(data, start);
        cuts.push(start);
      }
      return cuts;
    },
  };
}
