/**
 * Immutable postings segments of the chunk index (docs/format.md, "Chunk index segments").
 *
 * A segment maps terms (32-bit hashes, src/search/text.ts) to docs (8-byte prefixes of a chunk's or an
 * inline body's SHA-256). Docs are numbered locally, in byte order of their names, so a posting is a
 * small number; postings are delta varints, grouped in blocks of about BLOCK_BYTES by term, each block
 * deflated when that makes it smaller. The header (doc table and each block's first term) is kept in
 * memory; a term lookup reads one block per segment.
 *
 *   header = [1 version = 1][varint docs][docs × 8-byte name, sorted][varint blocks]
 *            blocks × [u32 LE first term]
 *   block  = [1 codec: 0 raw, 1 raw deflate][payload]
 *   payload = [varint terms] terms × ([varint term − previous term (first: the term)][varint n]
 *             [n × varint doc − previous doc − 1 (first: the doc)])
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { CorruptStoreError } from "../../base/errors.js";

export const SEGMENT_VERSION = 1;
export const DOC_BYTES = 8;
/** Raw bytes a block aims for: a lookup inflates one block per segment (small blocks, fast lookups). */
export const BLOCK_BYTES = 16 * 1024;
/**
 * A block inflated to more than this is damage (or a hostile file), not postings: a block holds about
 * BLOCK_BYTES, more only for one term's list, a few bytes per doc of its segment.
 */
const MAX_BLOCK_BYTES = 256 * 1024 * 1024;
const CODEC_RAW = 0;
const CODEC_DEFLATE = 1;

/** A segment's postings in memory: sorted doc names, and for each term its sorted local doc numbers. */
export interface Postings {
  /** n × 8 bytes, sorted, distinct. */
  docs: Buffer;
  /** Terms ascending; each list ascending and distinct. */
  terms: Map<number, Uint32Array>;
}

/** What a segment is stored as: the header and its blocks (LevelDB values, keys.ts). */
export interface EncodedSegment {
  header: Uint8Array;
  blocks: Uint8Array[];
}

/** A decoded header: the doc table and where each block starts. */
export interface SegmentHeader {
  docs: Buffer;
  firstTerms: Uint32Array;
}

export function docCount(docs: Buffer): number {
  return docs.length / DOC_BYTES;
}

export function docAt(docs: Buffer, i: number): Buffer {
  return docs.subarray(i * DOC_BYTES, (i + 1) * DOC_BYTES);
}

// ---- building ----

/**
 * Postings from (doc name, terms) pairs, in any order, a doc possibly more than once (its terms are
 * joined): the doc table sorted, every list sorted and deduplicated.
 */
export function buildPostings(entries: Iterable<{ doc: Uint8Array; terms: Iterable<number> }>): Postings {
  const byDoc = new Map<string, Set<number>>();
  for (const { doc, terms } of entries) {
    const key = Buffer.from(doc.buffer, doc.byteOffset, DOC_BYTES).toString("latin1");
    let set = byDoc.get(key);
    if (!set) {
      set = new Set();
      byDoc.set(key, set);
    }
    for (const t of terms) set.add(t);
  }
  const names = [...byDoc.keys()].sort(compareLatin1);
  const lists = new Map<number, number[]>();
  names.forEach((name, i) => {
    for (const t of byDoc.get(name)!) {
      let l = lists.get(t);
      if (!l) {
        l = [];
        lists.set(t, l);
      }
      l.push(i); // names are visited in order: every list comes out sorted and distinct
    }
  });
  return {
    docs: Buffer.from(names.join(""), "latin1"),
    terms: sortedTerms(lists),
  };
}

function compareLatin1(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedTerms(lists: Map<number, number[]>): Map<number, Uint32Array> {
  const keys = [...lists.keys()].sort((a, b) => a - b);
  return new Map(keys.map((k) => [k, Uint32Array.from(lists.get(k)!)]));
}

// ---- encoding ----

export function encodeSegment(p: Postings): EncodedSegment {
  const blocks: Buffer[] = [];
  const firstTerms: number[] = [];
  let out = new Writer();
  let n = 0;
  let prev = 0;
  const seal = () => {
    if (n === 0) return;
    blocks.push(packBlock(out.bytes(), n));
    out = new Writer();
    n = 0;
  };
  for (const [term, docs] of p.terms) {
    if (n > 0 && out.length >= BLOCK_BYTES) seal();
    if (n === 0) {
      firstTerms.push(term);
      prev = 0;
    }
    out.varint(term - prev);
    prev = term;
    out.varint(docs.length);
    let last = -1;
    for (const d of docs) {
      out.varint(d - last - 1);
      last = d;
    }
    n++;
  }
  seal();
  const head = new Writer();
  head.byte(SEGMENT_VERSION);
  head.varint(docCount(p.docs));
  head.raw(p.docs);
  head.varint(firstTerms.length);
  const starts = Buffer.allocUnsafe(4 * firstTerms.length);
  firstTerms.forEach((t, i) => {
    starts.writeUInt32LE(t, 4 * i);
  });
  head.raw(starts);
  return { header: head.bytes(), blocks };
}

function packBlock(payload: Buffer, terms: number): Buffer {
  const w = new Writer();
  w.varint(terms);
  w.raw(payload);
  const raw = w.bytes();
  const packed = deflateRawSync(raw);
  return packed.length < raw.length
    ? Buffer.concat([Buffer.of(CODEC_DEFLATE), packed])
    : Buffer.concat([Buffer.of(CODEC_RAW), raw]);
}

// ---- decoding ----

/** A Buffer view of bytes (a structured clone, as from the index thread, gives a plain Uint8Array). */
function asBuf(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function decodeHeader(bytes: Uint8Array, what: string): SegmentHeader {
  try {
    const r = new Reader(asBuf(bytes));
    if (r.byte() !== SEGMENT_VERSION) throw new Error("unknown version");
    const docs = r.raw(r.varint() * DOC_BYTES);
    const blocks = r.varint();
    const starts = r.raw(4 * blocks);
    if (!r.done()) throw new Error("bytes after the block table");
    const firstTerms = new Uint32Array(blocks);
    for (let i = 0; i < blocks; i++) firstTerms[i] = starts.readUInt32LE(4 * i);
    return { docs: Buffer.from(docs), firstTerms };
  } catch (err) {
    throw new CorruptStoreError(`${what} does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/** The block that would hold `term`, or -1 when the term is below every block. */
export function blockOf(h: SegmentHeader, term: number): number {
  let lo = 0;
  let hi = h.firstTerms.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (h.firstTerms[mid]! <= term) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Every (term, local docs) of a block, in term order. */
export function decodeBlock(bytes: Uint8Array, what: string): Map<number, Uint32Array> {
  const buf = asBuf(bytes);
  try {
    const codec = buf[0];
    if (codec !== CODEC_RAW && codec !== CODEC_DEFLATE) throw new Error(`unknown codec ${String(codec)}`);
    const body =
      codec === CODEC_RAW
        ? buf.subarray(1)
        : inflateRawSync(buf.subarray(1), { maxOutputLength: MAX_BLOCK_BYTES });
    const r = new Reader(body);
    const n = r.varint();
    const out = new Map<number, Uint32Array>();
    let term = 0;
    for (let i = 0; i < n; i++) {
      term += r.varint();
      const count = r.varint();
      if (count > r.left) throw new Error("a posting list is longer than its block"); // each doc ≥ 1 byte
      const docs = new Uint32Array(count);
      let d = -1;
      for (let j = 0; j < docs.length; j++) docs[j] = d += r.varint() + 1;
      out.set(term, docs);
    }
    if (!r.done()) throw new Error("bytes after the last term");
    return out;
  } catch (err) {
    throw new CorruptStoreError(`${what} does not decode: ${(err as Error).message}`, { cause: err });
  }
}

/** The local docs of `term` in a decoded block (empty when absent). */
export function docsInBlock(block: Map<number, Uint32Array>, term: number): Uint32Array {
  return block.get(term) ?? EMPTY;
}

const EMPTY = new Uint32Array(0);

// ---- merging ----

/**
 * One segment's postings from several, by doc name: docs `live` refuses are left out, and so is a term
 * left with no doc.
 */
export function mergePostings(parts: readonly Postings[], live: (doc: Buffer) => boolean): Postings {
  const names = new Set<string>();
  for (const p of parts)
    for (let i = 0; i < docCount(p.docs); i++) {
      const d = docAt(p.docs, i);
      if (live(d)) names.add(d.toString("latin1"));
    }
  const sorted = [...names].sort(compareLatin1);
  const number = new Map(sorted.map((n, i) => [n, i]));
  const lists = new Map<number, number[]>();
  for (const p of parts) {
    const remap = new Int32Array(docCount(p.docs));
    for (let i = 0; i < remap.length; i++) remap[i] = number.get(docAt(p.docs, i).toString("latin1")) ?? -1;
    for (const [term, docs] of p.terms) {
      let l = lists.get(term);
      for (const d of docs) {
        const m = remap[d]!;
        if (m < 0) continue;
        if (!l) {
          l = [];
          lists.set(term, l);
        }
        l.push(m);
      }
    }
  }
  const terms = new Map<number, Uint32Array>();
  for (const term of [...lists.keys()].sort((a, b) => a - b)) {
    const l = Uint32Array.from(lists.get(term)!).sort();
    let n = 0;
    for (let i = 0; i < l.length; i++) if (i === 0 || l[i] !== l[i - 1]) l[n++] = l[i]!;
    terms.set(term, l.slice(0, n));
  }
  return { docs: Buffer.from(sorted.join(""), "latin1"), terms };
}

/** A segment's postings back from its header and blocks (for merges and verify). */
export function decodeSegment(h: SegmentHeader, blocks: readonly Uint8Array[], what: string): Postings {
  const terms = new Map<number, Uint32Array>();
  blocks.forEach((b, i) => {
    for (const [t, d] of decodeBlock(b, `${what} block ${i}`)) terms.set(t, d);
  });
  return { docs: h.docs, terms };
}

// ---- varints ----

class Writer {
  private buf = Buffer.allocUnsafe(1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  varint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.buf[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.length++] = v;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.at;
  }

  byte(): number {
    if (this.at >= this.buf.length) throw new Error("truncated");
    return this.buf[this.at++]!;
  }

  varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
      shift += 7;
      if (shift > 28) throw new Error("a varint is too long");
    }
    if (v > 0xffff_ffff) throw new Error("a varint is out of range");
    return v;
  }

  raw(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new Error("truncated");
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  done(): boolean {
    return this.at === this.buf.length;
  }
}
