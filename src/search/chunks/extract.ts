/**
 * The CPU-heavy part of indexing a batch, as a pure function of its input: inflate each new chunk (or
 * inline body), decode its whole characters, take its distinct terms; and for each new pair of
 * neighbouring chunks, the word that runs across their cut. Runs in the index worker thread
 * (worker.ts) or, when there is none, on the main thread (index.ts): the same code either way.
 *
 * Junctions: a chunk is cut at a byte offset, inside a word or even inside a character. A chunk's own
 * terms cover its whole characters (chunk-text.ts), so the token across a cut is missing from both
 * sides. For each new cut, the bytes within JUNCTION_BYTES of it (from as many chunks as that takes)
 * are decoded together, and the tokens of the joined text that neither side's own text has are posted
 * under the later chunk's doc (`junctionTerms`, taken on the folded text: NFKC and the final sigma can
 * make a token across a cut that no raw run of word characters shows, `abc|℡` being `abctel`).
 * JUNCTION_BYTES covers the longest indexed token on either side: MAX_TOKEN_UNITS folded units, each
 * from at most 9 bytes (a Hangul syllable NFKC composes from three jamo), plus a split character.
 */

import { chunkText } from "../../bodies/chunk-text.js";
import type { Dictionary, DictionarySource } from "../../bodies/codec.js";
import { inflateStored } from "../../bodies/codec.js";
import { junctionTerms, MAX_TOKEN_UNITS, termsOf } from "../text.js";
import { DOC_BYTES } from "./segment.js";

export const JUNCTION_BYTES = 9 * MAX_TOKEN_UNITS + 4;

export interface ExtractJob {
  id: number;
  /** Dictionaries not sent before (the worker keeps them). */
  dicts: Dictionary[];
  /** Stored forms (codec byte first) of the chunks and inline bodies this job reads. */
  items: Uint8Array[];
  /** Items indexed whole: their indexes in `items`. */
  whole: Uint32Array;
  /** Their doc names, 8 bytes each. */
  wholeDocs: Uint8Array;
  /**
   * Cuts, flat: for each, [items before the cut, their indexes (oldest first)…, items after, their
   * indexes…]; the junction's doc is the first item after the cut, named in `cutDocs`.
   */
  cuts: Uint32Array;
  cutDocs: Uint8Array;
}

export interface ExtractResult {
  id: number;
  /** Doc names, 8 bytes each; a doc may come twice (its own terms, a junction). */
  docs: Uint8Array;
  /** Terms per doc, in order. */
  counts: Uint32Array;
  terms: Uint32Array;
  /** Bytes of text indexed (decoded chunks), for the flush threshold. */
  bytes: number;
}

export class Extractor implements DictionarySource {
  private readonly dicts = new Map<number, Dictionary>();

  dictionary(id: number): Dictionary | undefined {
    return this.dicts.get(id);
  }

  /** Every dictionary learned (for a thread that takes over from here). */
  dictionaries(): Dictionary[] {
    return [...this.dicts.values()];
  }

  /** Keeps dictionaries a job brings (each is sent once). */
  learn(dicts: readonly Dictionary[]): void {
    for (const d of dicts) this.dicts.set(d.id, { id: d.id, bytes: Buffer.from(d.bytes) });
  }

  run(job: ExtractJob): ExtractResult {
    this.learn(job.dicts);
    const raw: (Uint8Array | undefined)[] = new Array(job.items.length);
    // A stored form that does not inflate is damage that verify reports (and a read of its body
    // fails, coded): indexing skips it rather than stopping, which would hold the WAL back for good.
    const bytesOf = (i: number) => {
      raw[i] ??= inflateOrEmpty(job.items[i]!, this);
      return raw[i]!;
    };
    const docs: Uint8Array[] = [];
    const counts: number[] = [];
    const terms: number[] = [];
    let bytes = 0;
    const post = (doc: Uint8Array, set: Set<number>) => {
      if (set.size === 0) return;
      docs.push(doc);
      counts.push(set.size);
      for (const t of set) terms.push(t);
    };
    job.whole.forEach((item, i) => {
      const data = bytesOf(item);
      bytes += data.length;
      post(job.wholeDocs.subarray(i * DOC_BYTES, (i + 1) * DOC_BYTES), termsOf(chunkText(data).text));
    });
    let at = 0;
    for (let c = 0; at < job.cuts.length; c++) {
      const before = job.cuts.subarray(at + 1, at + 1 + job.cuts[at]!);
      at += 1 + before.length;
      const after = job.cuts.subarray(at + 1, at + 1 + job.cuts[at]!);
      at += 1 + after.length;
      const terms = cutTerms([...before].map(bytesOf), [...after].map(bytesOf));
      post(job.cutDocs.subarray(c * DOC_BYTES, (c + 1) * DOC_BYTES), terms);
    }
    const docBytes = new Uint8Array(docs.length * DOC_BYTES);
    docs.forEach((d, i) => {
      docBytes.set(d, i * DOC_BYTES);
    });
    return {
      id: job.id,
      docs: docBytes,
      counts: Uint32Array.from(counts),
      terms: Uint32Array.from(terms),
      bytes,
    };
  }
}

function inflateOrEmpty(stored: Uint8Array, dicts: DictionarySource): Uint8Array {
  try {
    return inflateStored(stored, "an indexed chunk", dicts);
  } catch {
    return new Uint8Array(0);
  }
}

/**
 * The terms of the tokens across the cut between `before` and `after` (chunks in order): none when the
 * cut is not inside one. The cut is moved back to a character boundary, so a character split by it
 * belongs to the right side, whole; that character is in neither chunk's own text (`split`).
 */
export function cutTerms(before: Uint8Array[], after: Uint8Array[]): Set<number> {
  const left = tailBytes(before, JUNCTION_BYTES);
  const right = headBytes(after, JUNCTION_BYTES);
  const joined = Buffer.concat([left, right]);
  let cut = left.length;
  while (cut > 0 && cut < joined.length && (joined[cut]! & 0xc0) === 0x80) cut--;
  const r = joined.toString("utf8", cut);
  const split = cut < left.length && r.length > 0 ? String.fromCodePoint(r.codePointAt(0)!).length : 0;
  return junctionTerms(joined.toString("utf8", 0, cut), r, split);
}

function tailBytes(parts: Uint8Array[], n: number): Buffer {
  const out: Uint8Array[] = [];
  let have = 0;
  for (let i = parts.length - 1; i >= 0 && have < n; i--) {
    const p = parts[i]!;
    const take = Math.min(p.length, n - have);
    out.unshift(p.subarray(p.length - take));
    have += take;
  }
  return Buffer.concat(out);
}

function headBytes(parts: Uint8Array[], n: number): Buffer {
  const out: Uint8Array[] = [];
  let have = 0;
  for (const p of parts) {
    if (have >= n) break;
    const take = Math.min(p.length, n - have);
    out.push(p.subarray(0, take));
    have += take;
  }
  return Buffer.concat(out);
}
