/**
 * A byte-bounded LRU: entries are dropped, least recently used first, once their sizes add up to more
 * than the bound. Values are never copied; `sizeOf` says what one holds in memory.
 */
export class ByteLru<V> {
  private readonly maxBytes: number;
  private readonly sizeOf: (v: V) => number;
  private bytes = 0;
  private readonly entries = new Map<string, V>();

  constructor(maxBytes: number, sizeOf: (v: V) => number) {
    this.maxBytes = maxBytes;
    this.sizeOf = sizeOf;
  }

  /** Bytes held now (never more than the bound). */
  get size(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    this.entries.delete(key); // re-insert: Map order is recency order
    this.entries.set(key, v);
    return v;
  }

  /** Keeps `value` unless it alone is over the bound; replaces what `key` held. */
  set(key: string, value: V): void {
    const size = this.sizeOf(value);
    this.delete(key);
    if (size > this.maxBytes) return;
    this.entries.set(key, value);
    this.bytes += size;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= this.sizeOf(v);
    }
  }

  delete(key: string): void {
    const v = this.entries.get(key);
    if (v === undefined) return;
    this.entries.delete(key);
    this.bytes -= this.sizeOf(v);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get empty(): boolean {
    return this.entries.size === 0;
  }
}
