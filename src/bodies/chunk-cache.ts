/**
 * A byte-bounded LRU of inflated chunks. A conversation's requests share most of their chunks (the
 * system prompt, the tool schemas, the history so far), so reading a turn, or the next turn of the same
 * conversation, finds most of its chunks here instead of reading and inflating them again. The bytes
 * are Buffers (outside the JS heap); the Map holds only the references.
 */
export class ChunkCache {
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly entries = new Map<string, Uint8Array>();
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
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

  set(key: string, value: Uint8Array): void {
    if (value.length > this.maxBytes || this.entries.has(key)) return;
    this.entries.set(key, value);
    this.bytes += value.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  /** Forgets a chunk (retention deletes it from disk; a stale copy here must not outlive it). */
  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.bytes -= v.length;
  }
}
