/**
 * The index thread's work (runner.ts runs it in a worker thread, or here when there is none): extract
 * each job's terms into the in-memory tail, answer the tail's lookups, seal the tail into an encoded
 * segment (a flush), and merge segments. Everything CPU-heavy of indexing is here, so the main thread
 * keeps only what touches LevelDB.
 */
import type { Dictionary } from "../../bodies/codec.js";
import { type ExtractJob, Extractor } from "./extract.js";
import {
  DOC_BYTES,
  decodeHeader,
  decodeSegment,
  docCount,
  type EncodedSegment,
  encodeSegment,
  mergePostings,
} from "./segment.js";
import { Tail } from "./tail.js";

export type CoreRequest =
  | { kind: "job"; id: number; job: ExtractJob }
  | { kind: "lookup"; id: number; term: number }
  | { kind: "seal"; id: number }
  | { kind: "merge"; id: number; parts: EncodedSegment[]; live: Uint8Array };

/** What each request answers: text bytes indexed; docs (8 bytes each); a segment or none. */
export type CoreValue = number | Uint8Array | EncodedSegment | undefined;

export type CoreReply = { id: number; value: CoreValue } | { id: number; error: string };

export class IndexCore {
  private readonly extractor = new Extractor();
  private tail = new Tail();

  handle(req: CoreRequest): CoreValue {
    switch (req.kind) {
      case "job":
        return this.job(req.job);
      case "lookup":
        return this.lookup(req.term);
      case "seal":
        return this.seal();
      case "merge":
        return merge(req.parts, req.live);
    }
  }

  /** Every dictionary learned here (the thread taking over must have them: jobs send each once). */
  dictionaries(): Dictionary[] {
    return this.extractor.dictionaries();
  }

  /** Learns the job's dictionaries without running it (a job the thread already ran, replayed here). */
  learn(job: ExtractJob): void {
    this.extractor.learn(job.dicts);
  }

  private job(job: ExtractJob): number {
    const r = this.extractor.run(job);
    let at = 0;
    for (let i = 0; i < r.counts.length; i++) {
      const n = r.counts[i]!;
      this.tail.add(r.docs.subarray(i * DOC_BYTES, (i + 1) * DOC_BYTES), r.terms.subarray(at, at + n));
      at += n;
    }
    return r.bytes;
  }

  private lookup(term: number): Uint8Array {
    const found = new Map<string, Buffer>();
    this.tail.docsOf(term, found);
    return Buffer.concat([...found.values()]);
  }

  private seal(): EncodedSegment | undefined {
    const tail = this.tail;
    this.tail = new Tail();
    if (tail.empty) return undefined;
    return encodeSegment(tail.toPostings());
  }
}

/** One segment from several, without the docs `live` (sorted 8-byte names) lacks; none if empty. */
function merge(parts: readonly EncodedSegment[], live: Uint8Array): EncodedSegment | undefined {
  const names = new Set<string>();
  const all = Buffer.from(live.buffer, live.byteOffset, live.byteLength);
  for (let i = 0; i < all.length; i += DOC_BYTES) names.add(all.toString("latin1", i, i + DOC_BYTES));
  const decoded = parts.map((p, i) =>
    decodeSegment(decodeHeader(p.header, `merged segment ${i}`), p.blocks, `merged segment ${i}`),
  );
  const merged = mergePostings(decoded, (d) => names.has(d.toString("latin1")));
  return docCount(merged.docs) > 0 ? encodeSegment(merged) : undefined;
}
