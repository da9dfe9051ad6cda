/**
 * A byte-bounded LRU of inflated chunks. A conversation's requests share most of their chunks (the
 * system prompt, the tool schemas, the history so far), so reading a turn, or the next turn of the same
 * conversation, finds most of its chunks here instead of reading and inflating them again. The bytes
 * are Buffers (outside the JS heap); the Map holds only the references.
 *
 * The bound is on memory, not on payload: each entry is charged its key, its bytes and a fixed
 * overhead, and every entry owns exactly its bytes. A chunk handed in as a view of a larger buffer is
 * copied first: zlib's inflate returns a view of its 16 KiB output block, so an 8 KiB chunk kept as is
 * would hold 16 KiB alive (and a view of a whole body would hold the body), and a cache of "64 MiB"
 * would hold twice that or more. Measured with `npm run soak` (docs/performance.md, issue 12).
 */

/**
 * What an entry costs besides its bytes: the Map's slot, the Uint8Array and ArrayBuffer objects on the
 * JS heap, the backing store's record and the allocator's header. An upper estimate for 64-bit V8.
 */
export const ENTRY_OVERHEAD_BYTES = 256;

/** The memory an entry of `key` with `bytes` of data is charged (a string's characters at 2 bytes). */
export function entryCost(key: string, bytes: number): number {
  return bytes + 2 * key.length + ENTRY_OVERHEAD_BYTES;
}

export class ChunkCache {
  private readonly maxBytes: number;
  private charged = 0;
  private readonly entries = new Map<string, Uint8Array>();
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** The memory the entries are charged, at most the bound. */
  get bytes(): number {
    return this.charged;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Uint8Array | undefined {
    const v = this.entries.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key); // re-insert: Map order is recency order
    this.entries.set(key, v);
    return v;
  }

  /** Keeps `value` (a copy of it when it is a view into a larger buffer, see above). */
  set(key: string, value: Uint8Array): void {
    const cost = entryCost(key, value.byteLength);
    if (cost > this.maxBytes || this.entries.has(key)) return;
    const owned =
      value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : new Uint8Array(value);
    this.entries.set(key, owned);
    this.charged += cost;
    for (const [k, v] of this.entries) {
      if (this.charged <= this.maxBytes) break;
      this.entries.delete(k);
      this.charged -= entryCost(k, v.byteLength);
    }
  }

  /** Forgets a chunk (retention deletes it from disk; a stale copy here must not outlive it). */
  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.charged -= entryCost(key, v.byteLength);
  }
}
