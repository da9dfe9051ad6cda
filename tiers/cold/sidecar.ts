/**
 * A cold file's search index, its "sidecar": `date=…/g…-n.idx` beside `date=…/g…-n.parquet`, written
 * with the file (before the manifest commit that lists both) and unlinked with it. It maps, for that
 * file only:
 *   - each term (src/search/text.ts: FNV-1a of a token of ≤ 64 UTF-16 units) of the rows' searchable
 *     texts other than the body (msg, span name, each attribute value as text, search-contract §1) to
 *     the rows that hold it;
 *   - each body-hash prefix (the first 8 bytes of the body's SHA-256) to the rows with that body.
 * Row numbers are positions in the Parquet file (rows are sorted there by turn, time, seq), so a hit is
 * read back by row group (ColdTier.readRows). Postings are sorted, delta-varint; a section is deflated
 * when that makes it smaller. Format (docs/format.md, "Cold search sidecars"):
 *
 *   [4 "TTIX"][1 version = 1][1 flags: 1 text section deflated, 2 body section deflated][2 zero]
 *   [u32 LE rows]
 *   [u32 LE length][text section: varint terms, then per term ascending: varint term delta,
 *                   varint n, n varint row deltas (the first from 0)]
 *   [u32 LE length][body section: varint prefixes, then per prefix ascending: 8 bytes prefix,
 *                   varint n, n varint row deltas]
 *   [u32 LE CRC-32 of everything before]
 *
 * Decoding treats the bytes as untrusted: anything out of shape is ERR_CORRUPT_STORE naming the file.
 */
import { crc32, deflateRawSync, inflateRawSync } from "node:zlib";
import { CorruptStoreError } from "../../src/base/errors.js";
import { termArray, termsOf } from "../../src/search/text.js";

export const SIDECAR_MAGIC = "TTIX";
export const SIDECAR_VERSION = 1;
const HEADER_BYTES = 12;
const TEXT_DEFLATED = 1;
const BODIES_DEFLATED = 2;
/** Bytes of a body-hash prefix (search-contract §3, §4). */
export const BODY_PREFIX_BYTES = 8;
/**
 * zlib level for the sections: level 1 keeps most of the gain of 6 on varint postings at a fraction
 * of its time (the build runs inside compaction's encoder, docs/decisions.md).
 */
const DEFLATE_LEVEL = 1;

/**
 * For measurements only (bench: compaction with vs without sidecars): `build: false` makes compaction
 * and merges write files without a sidecar, as an older version did (searches then scan them).
 */
export const sidecarSettings: { build: boolean } = { build: true };

/** The sidecar of `name` (`date=…/x.parquet` → `date=…/x.idx`). */
export function sidecarName(name: string): string {
  return `${name.slice(0, name.length - ".parquet".length)}.idx`;
}

/** What a row contributes to its file's sidecar (a Parquet row, or the record it was made from). */
export interface SidecarSource {
  msg?: unknown;
  name?: unknown;
  /** The record's attributes as an object (a Parquet row's JSON text: see sourceOfRow). */
  attributes?: unknown;
  /** The body's SHA-256: 32 bytes, or 64 hex characters as the Parquet column holds it. */
  bodyHash?: Uint8Array | string | null;
}

/** A Parquet row (or its columns msg, name, attributes, bodyHash) as a sidecar source. */
export function sourceOfRow(row: Record<string, unknown>): SidecarSource {
  const attrs = row.attributes;
  return {
    msg: row.msg,
    name: row.name,
    attributes: typeof attrs === "string" ? JSON.parse(attrs) : undefined,
    bodyHash: row.bodyHash as string | null,
  };
}

/** The texts of one attribute value (search-contract §1): arrays give each element. */
function addValueTerms(value: unknown, into: Set<number>, texts: TextTerms): void {
  if (typeof value === "string") texts.add(value, into);
  else if (typeof value === "number" || typeof value === "boolean") texts.add(String(value), into);
  else if (Array.isArray(value)) for (const v of value) if (!Array.isArray(v)) addValueTerms(v, into, texts);
}

/** Texts up to this long have their terms remembered during one build. */
const CACHED_TEXT_UNITS = 128;
/** Distinct texts remembered at most during one build. */
const CACHED_TEXTS = 8192;

/**
 * termsOf with the terms of short texts remembered for the rest of a build: span names, log messages
 * and attribute values such as a model's name repeat from row to row in agent traces, and tokenizing
 * them again was most of a build's time.
 */
class TextTerms {
  private readonly known = new Map<string, Uint32Array>();

  add(text: string, into: Set<number>): void {
    if (text.length > CACHED_TEXT_UNITS) {
      termsOf(text, into);
      return;
    }
    let terms = this.known.get(text);
    if (terms === undefined) {
      terms = termArray(text);
      if (this.known.size < CACHED_TEXTS) this.known.set(text, terms);
    }
    for (const t of terms) into.add(t);
  }
}

function prefixHex(hash: Uint8Array | string | null | undefined): string | undefined {
  if (typeof hash === "string") return hash.length >= 16 ? hash.slice(0, 16).toLowerCase() : undefined;
  if (hash instanceof Uint8Array && hash.length >= BODY_PREFIX_BYTES)
    return Buffer.from(hash.buffer, hash.byteOffset, BODY_PREFIX_BYTES).toString("hex");
  return undefined;
}

/** A file's sidecar bytes, from its rows in file order (pure: runs in the encoder thread). */
export function buildSidecar(rows: readonly SidecarSource[]): Uint8Array {
  const byTerm = new Map<number, number[]>();
  const byBody = new Map<string, number[]>();
  const terms = new Set<number>();
  const texts = new TextTerms();
  rows.forEach((r, i) => {
    terms.clear();
    if (typeof r.msg === "string") texts.add(r.msg, terms);
    if (typeof r.name === "string") texts.add(r.name, terms);
    const attrs = r.attributes;
    if (typeof attrs === "object" && attrs !== null && !Array.isArray(attrs))
      for (const v of Object.values(attrs)) addValueTerms(v, terms, texts);
    for (const t of terms) {
      const list = byTerm.get(t);
      if (list) list.push(i);
      else byTerm.set(t, [i]);
    }
    const body = prefixHex(r.bodyHash);
    if (body !== undefined) {
      const list = byBody.get(body);
      if (list === undefined) byBody.set(body, [i]);
      else if (list.at(-1) !== i) list.push(i);
    }
  });
  const text = new VarintWriter();
  const sortedTerms = Uint32Array.from(byTerm.keys()).sort();
  text.varint(sortedTerms.length);
  let prev = 0;
  for (const t of sortedTerms) {
    text.varint(t - prev);
    prev = t;
    text.postings(byTerm.get(t)!);
  }
  const bodies = new VarintWriter();
  const prefixes = [...byBody.keys()].sort();
  bodies.varint(prefixes.length);
  for (const p of prefixes) {
    bodies.bytes(Buffer.from(p, "hex"));
    bodies.postings(byBody.get(p)!);
  }
  return assemble(rows.length, text.finish(), bodies.finish());
}

/** The section deflated when that is smaller, and whether it is. */
function packed(section: Uint8Array): { data: Uint8Array; deflated: boolean } {
  if (section.length < 64) return { data: section, deflated: false };
  const z = deflateRawSync(section, { level: DEFLATE_LEVEL });
  return z.length < section.length ? { data: z, deflated: true } : { data: section, deflated: false };
}

function assemble(rows: number, textRaw: Uint8Array, bodiesRaw: Uint8Array): Uint8Array {
  const text = packed(textRaw);
  const bodies = packed(bodiesRaw);
  const out = Buffer.alloc(HEADER_BYTES + 4 + text.data.length + 4 + bodies.data.length + 4);
  out.write(SIDECAR_MAGIC, 0, "latin1");
  out[4] = SIDECAR_VERSION;
  out[5] = (text.deflated ? TEXT_DEFLATED : 0) | (bodies.deflated ? BODIES_DEFLATED : 0);
  out.writeUInt32LE(rows, 8);
  let at = HEADER_BYTES;
  for (const s of [text.data, bodies.data]) {
    out.writeUInt32LE(s.length, at);
    out.set(s, at + 4);
    at += 4 + s.length;
  }
  out.writeUInt32LE(crc32(out.subarray(0, at)), at);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A growable byte buffer of LEB128 varints. */
class VarintWriter {
  private buf = Buffer.allocUnsafe(4096);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  varint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.buf[this.at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.at++] = v;
  }

  /** n, then the rows (ascending) as deltas, the first from 0. */
  postings(rows: readonly number[]): void {
    this.varint(rows.length);
    let prev = 0;
    for (const r of rows) {
      this.varint(r - prev);
      prev = r;
    }
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

/** A decoded sidecar (search-contract §4): lookups decode one posting list each. */
export interface ColdFileIndex {
  rows: number;
  /** Rows whose msg/name/attribute texts hold `term` (sorted, deduplicated; false candidates allowed). */
  rowsOfTerm(term: number): Uint32Array;
  /** Rows whose body hash starts with one of these 8-byte prefixes (sorted, deduplicated). */
  rowsOfBodies(prefixes: readonly Buffer[]): Uint32Array;
}

/** Thrown inside decoding; turned into ERR_CORRUPT_STORE naming the file. */
class Malformed extends Error {}

/** A cursor over varints that refuses to read past its end. */
class VarintReader {
  at: number;
  constructor(
    readonly buf: Uint8Array,
    at = 0,
  ) {
    this.at = at;
  }

  varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (this.at >= this.buf.length) throw new Malformed("a varint runs past its section");
      const b = this.buf[this.at++]!;
      if (shift === 28 && b > 0x0f) throw new Malformed("a varint is over 32 bits");
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  }

  /** Skips a posting list, checking its rows are ascending and below `rows`. */
  skipPostings(rows: number): void {
    const n = this.varint();
    let row = -1;
    for (let i = 0; i < n; i++) {
      const d = this.varint();
      row = i === 0 ? d : row + d;
      if ((i > 0 && d === 0) || row >= rows) throw new Malformed("a posting list is out of order or range");
    }
  }

  postings(): Uint32Array {
    const n = this.varint();
    const out = new Uint32Array(n);
    let row = 0;
    for (let i = 0; i < n; i++) {
      row += this.varint();
      out[i] = row;
    }
    return out;
  }
}

class DecodedIndex implements ColdFileIndex {
  constructor(
    readonly rows: number,
    readonly text: Uint8Array,
    private readonly terms: Uint32Array,
    /** Where each term's posting list starts in `text`. */
    private readonly termAt: Uint32Array,
    readonly bodies: Uint8Array,
    /** Where each prefix starts in `bodies` (its postings follow its 8 bytes). */
    private readonly bodyAt: Uint32Array,
  ) {}

  /** Bytes held in memory (for the tier's byte-bounded cache). */
  get bytes(): number {
    return this.text.length + this.bodies.length + 4 * (this.terms.length * 2 + this.bodyAt.length) + 64;
  }

  rowsOfTerm(term: number): Uint32Array {
    let lo = 0;
    let hi = this.terms.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.terms[mid]! < term) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.terms.length || this.terms[lo] !== term) return new Uint32Array(0);
    return new VarintReader(this.text, this.termAt[lo]).postings();
  }

  rowsOfBodies(prefixes: readonly Buffer[]): Uint32Array {
    const found: Uint32Array[] = [];
    for (const p of prefixes) {
      const i = this.findPrefix(p);
      if (i !== undefined)
        found.push(new VarintReader(this.bodies, this.bodyAt[i]! + BODY_PREFIX_BYTES).postings());
    }
    if (found.length === 0) return new Uint32Array(0);
    if (found.length === 1) return found[0]!;
    const all = new Uint32Array(found.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of found) {
      all.set(f, at);
      at += f.length;
    }
    all.sort();
    let n = 0;
    for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[n++] = all[i]!;
    return all.slice(0, n);
  }

  private findPrefix(p: Buffer): number | undefined {
    if (p.length < BODY_PREFIX_BYTES) return undefined;
    const key = p.subarray(0, BODY_PREFIX_BYTES);
    let lo = 0;
    let hi = this.bodyAt.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.bodyAt[mid]!;
      if (Buffer.compare(this.bodies.subarray(at, at + BODY_PREFIX_BYTES), key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.bodyAt.length) return undefined;
    const at = this.bodyAt[lo]!;
    return Buffer.compare(this.bodies.subarray(at, at + BODY_PREFIX_BYTES), key) === 0 ? lo : undefined;
  }
}

/**
 * Whether two sidecars index the same: the same row count and the same postings, whatever each
 * section's deflate made of them (a check that a stored sidecar is the one its file's rows give now,
 * with this version's tokenizer: `verify`).
 */
export function sameSidecar(a: Uint8Array, b: Uint8Array): boolean {
  const x = decode(Buffer.from(a.buffer, a.byteOffset, a.length));
  const y = decode(Buffer.from(b.buffer, b.byteOffset, b.length));
  return x.rows === y.rows && Buffer.from(x.text).equals(y.text) && Buffer.from(x.bodies).equals(y.bodies);
}

/** The row count a sidecar's header states, or `undefined` when it has no header. */
export function sidecarRows(bytes: Uint8Array): number | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32LE(8);
}

/**
 * Decodes a sidecar, checking its CRC, its header and every posting list (rows ascending, below the
 * row count). `what` names the file in the error: ERR_CORRUPT_STORE.
 */
export function decodeSidecar(bytes: Uint8Array, what: string): ColdFileIndex & { bytes: number } {
  try {
    return decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (err) {
    if (!(err instanceof Malformed) && !isZlibError(err)) throw err;
    throw new CorruptStoreError(`cold search sidecar ${what} is damaged: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  // zlib's own codes, and the output limit's (a bomb)
  return typeof code === "string" && (code.startsWith("Z_") || code === "ERR_BUFFER_TOO_LARGE");
}

function decode(buf: Buffer): DecodedIndex {
  if (buf.length < HEADER_BYTES + 12) throw new Malformed(`it is ${buf.length} bytes, too short`);
  const end = buf.length - 4;
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw new Malformed("its CRC-32 does not match");
  if (buf.toString("latin1", 0, 4) !== SIDECAR_MAGIC) throw new Malformed("it does not start with TTIX");
  if (buf[4] !== SIDECAR_VERSION) throw new Malformed(`unknown version ${buf[4]}`);
  const flags = buf[5]!;
  const rows = buf.readUInt32LE(8);
  const textEnd = HEADER_BYTES + 4 + buf.readUInt32LE(HEADER_BYTES);
  if (textEnd + 4 > end) throw new Malformed("its text section runs past the end");
  const bodiesEnd = textEnd + 4 + buf.readUInt32LE(textEnd);
  if (bodiesEnd !== end) throw new Malformed("its sections do not end where its CRC starts");
  const text = section(buf.subarray(HEADER_BYTES + 4, textEnd), (flags & TEXT_DEFLATED) !== 0);
  const bodies = section(buf.subarray(textEnd + 4, bodiesEnd), (flags & BODIES_DEFLATED) !== 0);
  const { terms, termAt } = termTable(text, rows);
  return new DecodedIndex(rows, text, terms, termAt, bodies, bodyTable(bodies, rows));
}

/** A section inflated to more than this is damage (or a hostile file): postings take a few bytes a row. */
const MAX_SECTION_BYTES = 256 * 1024 * 1024;

function section(data: Buffer, deflated: boolean): Uint8Array {
  // a copy: the cache keeps the section, not the file's whole buffer
  return deflated
    ? new Uint8Array(inflateRawSync(data, { maxOutputLength: MAX_SECTION_BYTES }))
    : Uint8Array.from(data);
}

function termTable(text: Uint8Array, rows: number): { terms: Uint32Array; termAt: Uint32Array } {
  const r = new VarintReader(text);
  const n = r.varint();
  if (n > text.length) throw new Malformed("its term count is larger than its text section");
  const terms = new Uint32Array(n);
  const termAt = new Uint32Array(n);
  let term = 0;
  for (let i = 0; i < n; i++) {
    const d = r.varint();
    if (i > 0 && d === 0) throw new Malformed("its terms are not ascending");
    term += d;
    if (term > 0xffffffff) throw new Malformed("a term is over 32 bits");
    terms[i] = term;
    termAt[i] = r.at;
    r.skipPostings(rows);
  }
  if (r.at !== text.length) throw new Malformed("its text section has bytes after its last term");
  return { terms, termAt };
}

function bodyTable(bodies: Uint8Array, rows: number): Uint32Array {
  const r = new VarintReader(bodies);
  const n = r.varint();
  if (n * BODY_PREFIX_BYTES > bodies.length)
    throw new Malformed("its prefix count is larger than its body section");
  const at = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    at[i] = r.at;
    r.at += BODY_PREFIX_BYTES;
    if (r.at > bodies.length) throw new Malformed("a body-hash prefix runs past its section");
    if (
      i > 0 &&
      Buffer.compare(bodies.subarray(at[i - 1]!, at[i - 1]! + 8), bodies.subarray(at[i]!, at[i]! + 8)) >= 0
    )
      throw new Malformed("its body-hash prefixes are not ascending");
    r.skipPostings(rows);
  }
  if (r.at !== bodies.length) throw new Malformed("its body section has bytes after its last prefix");
  return at;
}
