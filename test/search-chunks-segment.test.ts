/**
 * Chunk index segments (src/search/chunks/segment.ts): what is encoded decodes to the same postings,
 * a lookup through the header finds exactly a term's docs, and a merge is the union of its parts less
 * the docs it is told are dead (fast-check over random postings).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IndexCore } from "../src/search/chunks/core.js";
import {
  blockOf,
  buildPostings,
  decodeBlock,
  decodeHeader,
  decodeSegment,
  docAt,
  docCount,
  encodeSegment,
  mergePostings,
  type Postings,
} from "../src/search/chunks/segment.js";

/** (doc, terms) entries: docs from a small set of names so that they repeat, terms over the u32 range. */
const entries = fc.array(
  fc.record({
    doc: fc.integer({ min: 0, max: 40 }).map((n) => Buffer.from(`d${String(n).padStart(7, "0")}`, "latin1")),
    terms: fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.nat({ max: 0xffff_ffff })), {
      maxLength: 60,
    }),
  }),
  { maxLength: 40 },
);

/** term → doc names (latin1), the plain way. */
function model(es: readonly { doc: Buffer; terms: number[] }[]): Map<number, Set<string>> {
  const m = new Map<number, Set<string>>();
  for (const { doc, terms } of es)
    for (const t of terms) {
      const s = m.get(t) ?? new Set<string>();
      s.add(doc.toString("latin1"));
      m.set(t, s);
    }
  return m;
}

function asModel(p: Postings): Map<number, Set<string>> {
  const m = new Map<number, Set<string>>();
  for (const [t, docs] of p.terms)
    m.set(t, new Set([...docs].map((d) => docAt(p.docs, d).toString("latin1"))));
  return m;
}

/** A term's docs through the encoded header and the one block it names, as a lookup does. */
function lookup(header: Uint8Array, blocks: readonly Uint8Array[], term: number): Set<string> {
  const h = decodeHeader(header, "test");
  const b = blockOf(h, term);
  if (b < 0) return new Set();
  return new Set(
    [...(decodeBlock(blocks[b]!, "test").get(term) ?? [])].map((d) => docAt(h.docs, d).toString("latin1")),
  );
}

describe("chunk index segments", () => {
  it("decode to the postings they were built from, and a lookup finds exactly each term's docs", () => {
    fc.assert(
      fc.property(entries, fc.nat({ max: 0xffff_ffff }), (es, probe) => {
        const want = model(es);
        const p = buildPostings(es);
        const enc = encodeSegment(p);
        const back = decodeSegment(decodeHeader(enc.header, "test"), enc.blocks, "test");
        expect(asModel(back)).toEqual(want);
        for (const [t, docs] of want) expect(lookup(enc.header, enc.blocks, t)).toEqual(docs);
        if (!want.has(probe)) expect(lookup(enc.header, enc.blocks, probe).size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("split many terms into several blocks, each term found in the block its header names", () => {
    const es = Array.from({ length: 300 }, (_, i) => ({
      doc: Buffer.from(`doc${String(i).padStart(5, "0")}`, "latin1"),
      terms: Array.from({ length: 200 }, (_, j) => (i * 7919 + j * 104_729) >>> 0),
    }));
    const enc = encodeSegment(buildPostings(es));
    expect(enc.blocks.length).toBeGreaterThan(1);
    const h = decodeHeader(enc.header, "test");
    const blocks = enc.blocks.map((b) => decodeBlock(b, "test"));
    for (const [t, docs] of model(es)) {
      const got = blocks[blockOf(h, t)]!.get(t) ?? [];
      expect(new Set([...got].map((d) => docAt(h.docs, d).toString("latin1")))).toEqual(docs);
    }
  });

  it("merge into the union of their parts, without the dead docs", () => {
    fc.assert(
      fc.property(
        fc.array(entries, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 40 })),
        (parts, deadNums) => {
          const dead = new Set(deadNums.map((n) => `d${String(n).padStart(7, "0")}`));
          const encoded = parts.map((es) => encodeSegment(buildPostings(es)));
          const decoded = encoded.map((e) => decodeSegment(decodeHeader(e.header, "t"), e.blocks, "t"));
          const merged = mergePostings(decoded, (d) => !dead.has(d.toString("latin1")));
          const want = model(parts.flat().filter((e) => !dead.has(e.doc.toString("latin1"))));
          for (const [t, s] of want) if (s.size === 0) want.delete(t);
          expect(asModel(merged)).toEqual(want);
          // docs sorted and distinct, lists ascending: what the encoding's deltas need
          const names = Array.from({ length: docCount(merged.docs) }, (_, i) =>
            docAt(merged.docs, i).toString("latin1"),
          );
          expect(names).toEqual([...new Set(names)].sort());
          for (const l of merged.terms.values())
            for (let i = 1; i < l.length; i++) expect(l[i]!).toBeGreaterThan(l[i - 1]!);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("merge in the index core as mergePostings does, given the live docs", () => {
    fc.assert(
      fc.property(
        fc.array(entries, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 40 })),
        (parts, liveNums) => {
          const live = [...new Set(liveNums.map((n) => `d${String(n).padStart(7, "0")}`))].sort();
          const encoded = parts.map((es) => encodeSegment(buildPostings(es)));
          const core = new IndexCore();
          const out = core.handle({
            kind: "merge",
            id: 0,
            parts: encoded,
            live: Buffer.from(live.join(""), "latin1"),
          });
          const want = model(parts.flat().filter((e) => live.includes(e.doc.toString("latin1"))));
          if (out === undefined || typeof out === "number" || out instanceof Uint8Array) {
            expect(want.size === 0 || [...want.values()].every((s) => s.size === 0)).toBe(true);
            return;
          }
          const got = asModel(decodeSegment(decodeHeader(out.header, "t"), out.blocks, "t"));
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("a damaged segment block", () => {
  it("is ERR_CORRUPT_STORE when it claims a posting list longer than itself", () => {
    // raw codec, 1 term, term 7, a count of 2^32 - 1 docs, then nothing
    const block = Uint8Array.from([0, 1, 7, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeBlock(block, "a test block")).toThrow(
      expect.objectContaining({ code: "ERR_CORRUPT_STORE" }),
    );
  });
});
