/**
 * The chunk index's in-memory tail: the postings of what was indexed since the last flush, searched
 * with the segments, written as one segment by a flush (index.ts).
 */
import { DOC_BYTES, mergePostings, type Postings } from "./segment.js";

export class Tail {
  private readonly names: Buffer[] = [];
  private readonly byName = new Map<string, number>();
  private readonly postings = new Map<number, number[]>();
  /** Bytes of text indexed into it (the flush threshold). */
  bytes = 0;

  get empty(): boolean {
    return this.names.length === 0;
  }

  /** Posts `terms` under `doc` (8 bytes). */
  add(doc: Uint8Array, terms: Uint32Array): void {
    const key = Buffer.from(doc.buffer, doc.byteOffset, DOC_BYTES).toString("latin1");
    let n = this.byName.get(key);
    if (n === undefined) {
      n = this.names.length;
      this.byName.set(key, n);
      this.names.push(Buffer.from(key, "latin1"));
    }
    for (const t of terms) {
      const l = this.postings.get(t);
      if (l === undefined) this.postings.set(t, [n]);
      else if (l[l.length - 1] !== n) l.push(n);
    }
  }

  /** The docs holding `term`, added to `into` (latin1 keys). */
  docsOf(term: number, into: Map<string, Buffer>): void {
    for (const n of this.postings.get(term) ?? []) {
      const name = this.names[n]!;
      into.set(name.toString("latin1"), name);
    }
  }

  /** As a segment's postings (sorted, deduplicated). */
  toPostings(): Postings {
    const terms = new Map<number, Uint32Array>();
    for (const [t, l] of this.postings) terms.set(t, Uint32Array.from(l));
    return mergePostings([{ docs: Buffer.concat(this.names), terms }], () => true);
  }
}
