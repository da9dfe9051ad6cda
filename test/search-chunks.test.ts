/**
 * The hot tier's body index (src/search/chunks/, search contract §3): every word of every stored body
 * leads, through docsOf → bodiesOf (and the in-memory HotRecordIndex's recordsOfBodies), to the hot
 * records holding that body, across chunk cuts (inside a word, inside a character), after flushes and
 * merges, after a reopen; GC and eviction take a body's `q` keys with it.
 */
import { randomBytes } from "node:crypto";
import { cpSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { chunkText } from "../src/bodies/chunk-text.js";
import { dictionaryTraining } from "../src/bodies/dictionary.js";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { cutTerms } from "../src/search/chunks/extract.js";
import { type ChunkIndex, chunkIndexSettings } from "../src/search/chunks/index.js";
import { segmentHeaderKey } from "../src/search/chunks/keys.js";
import { decodeHeader, docAt, docCount } from "../src/search/chunks/segment.js";
import type { HotRecordIndex } from "../src/search/hot-records.js";
import { MAX_TOKEN_UNITS, termOf, termsOf, tokenize } from "../src/search/text.js";
import { P_DOC_BODY, prefixEnd } from "../tiers/hot/keys.js";
import type { HotTier } from "../tiers/hot/tier.js";
import { span, tempDir } from "./support/fixtures.js";

const SMALL_CHUNKS = { inlineMax: 48, minSize: 64, avgSize: 128, maxSize: 256 };
const DEFAULTS = { ...chunkIndexSettings };

afterEach(() => {
  Object.assign(chunkIndexSettings, DEFAULTS);
});

function indexOf(store: TraceStore): ChunkIndex {
  return (store as unknown as { chunkIndex: ChunkIndex }).chunkIndex;
}

/** Timestamps of the hot records the index leads to for `word` (bodies → records: the search's step). */
async function found(store: TraceStore, word: string): Promise<Set<number>> {
  const index = indexOf(store);
  const hotText = (store as unknown as { hotText: HotRecordIndex }).hotText;
  await Promise.all([index.caughtUp(), hotText.ready()]);
  const docs = await index.docsOf(termOf(word));
  const bodies = await index.bodiesOf(docs);
  return new Set(hotText.recordsOfBodies(bodies).map((r) => r.ts));
}

function rec(i: number, body: string | undefined): TraceRecord {
  return span({
    spanId: `s-${i}`,
    name: "llm.request",
    timestamp: 1_700_000_000_000 + i,
    extensionId: "test",
    turnId: `turn-${i % 3}`,
    ...(body === undefined ? {} : { body }),
  });
}

/** Every indexable word of each record's body finds that record. */
async function expectAllFound(store: TraceStore, records: TraceRecord[]): Promise<void> {
  for (const r of records) {
    if (r.body === undefined) continue;
    for (const w of new Set(tokenize(r.body))) {
      if (w.length > 64) continue;
      expect((await found(store, w)).has(r.timestamp), `"${w}" of record ${r.timestamp}`).toBe(true);
    }
  }
}

const ASCII_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"];
const UNICODE_WORDS = [
  "café",
  "naïve",
  "straße",
  "漢字かな",
  "Ωmega",
  "ﬁnance",
  "e\u0301lan",
  "𝒳ray",
  "İstanbul",
];

function bodyOf(words: string[], seed: number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(`${words[(seed * 7 + i * 13) % words.length]}${(seed * 31 + i) % 997}`);
  return out.join(i18nSeparator(seed));
}

function i18nSeparator(seed: number): string {
  return [" ", ", ", "\n", " — "][seed % 4]!;
}

describe("the chunk index", () => {
  it("finds every word of ASCII bodies cut into small chunks, words split by the cuts included", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const records = Array.from({ length: 30 }, (_, i) => rec(i, bodyOf(ASCII_WORDS, i, 40 + i)));
    await store.insertRecords(records);
    await expectAllFound(store, records);
    await store.close();
  });

  it("finds every word of multibyte bodies, a character split by a cut included", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const records = Array.from({ length: 30 }, (_, i) => rec(i, bodyOf(UNICODE_WORDS, i, 40 + i)));
    await store.insertRecords(records);
    await expectAllFound(store, records);
    await store.close();
  });

  it("finds random bodies' words, with repeated and growing bodies (fast-check)", async () => {
    const word = fc.oneof(
      fc.constantFrom(...ASCII_WORDS, ...UNICODE_WORDS),
      fc.stringMatching(/^[a-z0-9é漢]{1,12}$/),
    );
    const body = fc.array(fc.tuple(word, fc.constantFrom(" ", "-", "\n", "", ".")), {
      minLength: 1,
      maxLength: 80,
    });
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 8 }), async (bodies) => {
        const dir = tempDir();
        const store = await openStore({ dir, chunking: SMALL_CHUNKS });
        const texts = bodies.map((b) => b.map(([w, s]) => w + s).join(""));
        // each body also resent grown by the next (as an LLM request resends its history)
        const records = texts.flatMap((t, i) => [rec(2 * i, t), rec(2 * i + 1, t + (texts[i + 1] ?? ""))]);
        await store.insertRecords(records);
        await expectAllFound(store, records);
        await store.close();
      }),
      { numRuns: 12 },
    );
  });

  it("finds words after flushes, merges of segments and a reopen", async () => {
    Object.assign(chunkIndexSettings, { flushBytes: 512 });
    const dir = tempDir();
    let store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const records: TraceRecord[] = [];
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 3 }, (_, i) => rec(b * 3 + i, bodyOf(ASCII_WORDS, b * 3 + i, 30)));
      records.push(...batch);
      await store.insertRecords(batch);
      await indexOf(store).caughtUp();
      await indexOf(store).flush();
    }
    // 20 flushes: FANOUT (8) segments of a size class were merged at least twice
    expect(indexOf(store).segmentIds.length).toBeLessThan(20);
    await expectAllFound(store, records);
    await store.close();
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await expectAllFound(store, records);
    await store.close();
  });

  it("hands its tail to the index thread once the thread is up: words fed before and after are found", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const index = indexOf(store);
    const before = Array.from({ length: 5 }, (_, i) => rec(i, bodyOf(UNICODE_WORDS, i, 30)));
    await store.insertRecords(before);
    for (let i = 0; i < 400 && !index.inThread; i++) await new Promise((r) => setTimeout(r, 25));
    expect(index.inThread).toBe(true);
    const after = Array.from({ length: 5 }, (_, i) => rec(10 + i, bodyOf(ASCII_WORDS, i, 30)));
    await store.insertRecords(after);
    await expectAllFound(store, [...before, ...after]);
    await index.flush();
    await expectAllFound(store, [...before, ...after]);
    await store.close();
  });

  it("indexes what the WAL replays at open (a store not closed)", async () => {
    Object.assign(chunkIndexSettings, { flushBytes: Number.POSITIVE_INFINITY, flushIntervalMs: 0 });
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    indexOf(store).requestFlush = () => {}; // nothing flushed: the postings are only in the tail
    const records = Array.from({ length: 10 }, (_, i) => rec(i, bodyOf(UNICODE_WORDS, i, 30)));
    await store.insertRecords(records);
    // A second store over a copy of the directory as it is now is what an open after a kill sees.
    const copy = tempDir();
    await (store as unknown as { hot: HotTier }).hot.flushMemtable();
    cpSync(dir, copy, { recursive: true, filter: (src) => !src.endsWith("LOCK") });
    await store.close();
    const reopened = await openStore({ dir: copy, chunking: SMALL_CHUNKS });
    await expectAllFound(reopened, records);
    await reopened.close();
  });

  it("keeps WAL segments until the batches they hold are indexed and written", async () => {
    Object.assign(chunkIndexSettings, { flushBytes: Number.POSITIVE_INFINITY, flushIntervalMs: 0 });
    const dir = tempDir();
    const store = await openStore({ dir, walSegmentBytes: 16 * 1024 });
    const index = indexOf(store);
    const flush = index.requestFlush.bind(index);
    index.requestFlush = () => {}; // the index never flushes on its own
    for (let b = 0; b < 20; b++)
      await store.insertRecords([rec(b, `${randomBytes(6000).toString("base64")} batch${b}`)]);
    const walFiles = () => readdirSync(join(dir, "wal")).length;
    expect(walFiles(), "every segment is still there").toBeGreaterThan(5);
    index.requestFlush = flush;
    await store.insertRecords([rec(100, "one more")]); // its apply asks for a flush, then a checkpoint
    await index.flush();
    await store.insertRecords([rec(101, "and another")]);
    await new Promise((r) => setTimeout(r, 100));
    expect(walFiles()).toBeLessThanOrEqual(2);
    await store.close();
  });

  it("deletes a body's q keys when GC deletes it with its last record", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const now = Date.now();
    const old = { ...rec(1, bodyOf(ASCII_WORDS, 1, 60)), timestamp: now - 3 * 86_400_000 };
    const fresh = { ...rec(2, bodyOf(UNICODE_WORDS, 2, 60)), timestamp: now };
    await store.insertRecords([old, fresh]);
    const before = await keyCount(store, P_DOC_BODY);
    await store.prune({ maxAgeMs: 86_400_000 }, { now });
    const after = await keyCount(store, P_DOC_BODY);
    expect(after, "the old body's q keys went with it").toBeLessThan(before);
    expect(after, "the fresh body's stay").toBeGreaterThan(0);
    const word = tokenize(old.body!)[0]!;
    expect((await found(store, word)).size).toBe(0);
    await expectAllFound(store, [fresh]);
    await store.close();
  });

  it("deletes an evicted body's q keys with its manifest", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const now = Date.now();
    const a = { ...rec(1, `${bodyOf(ASCII_WORDS, 1, 60)} onlyina`), timestamp: now - 3 * 86_400_000 };
    const b = { ...rec(2, `${bodyOf(UNICODE_WORDS, 2, 60)} onlyinb`), timestamp: now };
    await store.insertRecords([a, b]);
    const before = await keyCount(store, P_DOC_BODY);
    await store.prune({ maxBodyAgeMs: 86_400_000 }, { now });
    expect(await keyCount(store, P_DOC_BODY)).toBeLessThan(before);
    expect((await found(store, "onlyina")).size).toBe(0);
    expect((await found(store, "onlyinb")).has(b.timestamp)).toBe(true);
    await store.close();
  });

  it("drops the docs of collected bodies when it merges segments, and still finds the live ones", async () => {
    Object.assign(chunkIndexSettings, { flushBytes: 256 });
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const index = indexOf(store);
    const now = Date.now();
    const old = Array.from({ length: 6 }, (_, i) => ({
      ...rec(i, `${bodyOf(ASCII_WORDS, i, 40)} gone${i}`),
      timestamp: now - 3 * 86_400_000 + i,
    }));
    for (const r of old) {
      await store.insertRecords([r]);
      await index.caughtUp();
      await index.flush();
    }
    const gone = await index.docsOf(termOf("gone3"));
    expect(gone.length).toBeGreaterThan(0);
    await store.prune({ maxAgeMs: 86_400_000 }, { now }); // the records go, then GC takes their bodies
    expect(await keyCount(store, P_DOC_BODY)).toBe(0);
    expect(await docTables(store)).toContain(gone[0]!.toString("hex"));
    const live = Array.from({ length: 10 }, (_, i) => ({
      ...rec(100 + i, bodyOf(UNICODE_WORDS, i, 40)),
      timestamp: now + i,
    }));
    for (const r of live) {
      await store.insertRecords([r]);
      await index.caughtUp();
      await index.flush(); // 16 flushes: the old segments are merged with new ones
    }
    const after = await docTables(store);
    for (const d of gone)
      expect(after, "a collected body's doc, dropped by the merge").not.toContain(d.toString("hex"));
    expect((await found(store, "gone3")).size).toBe(0);
    await expectAllFound(store, live);
    await store.close();
  });

  it("no longer leads a body word to a record once compaction moves it to the cold tier", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const now = Date.now();
    await store.insertRecords([{ ...rec(1, "moved away body text"), timestamp: now - 3 * 86_400_000 }]);
    await store.insertRecords([{ ...rec(2, "stays hot body text"), timestamp: now }]);
    expect((await found(store, "moved")).size).toBe(1);
    await store.compact({ now });
    expect((await found(store, "moved")).size).toBe(0);
    expect((await found(store, "stays")).size).toBe(1);
    await store.close();
  });
});

/** Every listed segment's docs (hex). */
async function docTables(store: TraceStore): Promise<string[]> {
  const hot = (store as unknown as { hot: HotTier }).hot;
  const out: string[] = [];
  for (const id of indexOf(store).segmentIds) {
    const raw = await hot.get(segmentHeaderKey(id));
    if (!raw) continue;
    const h = decodeHeader(raw, "test");
    for (let i = 0; i < docCount(h.docs); i++) out.push(docAt(h.docs, i).toString("hex"));
  }
  return out;
}

async function keyCount(store: TraceStore, prefix: number): Promise<number> {
  const hot = (store as unknown as { hot: HotTier }).hot;
  const p = Buffer.of(prefix);
  let n = 0;
  for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }, false)) n += batch.length;
  return n;
}

describe("the terms across a chunk cut", () => {
  /** Every token of the joined text is a term of one side's own text or of the cut. */
  function covered(left: string, right: string, cutAt = Buffer.byteLength(left)): void {
    const bytes = Buffer.from(left + right, "utf8");
    const before = bytes.subarray(0, cutAt);
    const after = bytes.subarray(cutAt);
    const own = new Set<number>([...termsOf(chunkText(before).text), ...termsOf(chunkText(after).text)]);
    const cut = cutTerms([before], [after]);
    for (const t of tokenize(left + right)) {
      if (t.length > MAX_TOKEN_UNITS) continue;
      expect(own.has(termOf(t)) || cut.has(termOf(t)), `${JSON.stringify(t)} of ${left}|${right}`).toBe(true);
    }
  }

  it("holds a token that NFKC makes across the cut (abc|℡ is abctel)", () => {
    covered("abc", "℡ d");
  });

  it("holds a word whose final sigma depends on what follows the cut", () => {
    covered("x ΟΔΟΣ", "'Α y");
  });

  it("holds a word whose character the cut splits in two", () => {
    const text = "naïve café";
    for (let at = 1; at < Buffer.byteLength(text); at++) covered(text, "", at);
  });

  it("holds every token of random text cut anywhere", () => {
    const alphabet = [
      "a",
      "B",
      "é",
      "e\u0301",
      "ß",
      "Σ",
      "'",
      " ",
      "-",
      "漢",
      "字",
      "℡",
      "ﬁ",
      "😀",
      "_",
      "9",
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (chars, n) => {
          const text = chars.join("");
          const bytes = Buffer.byteLength(text);
          covered(text, "", 1 + (n % Math.max(1, bytes - 1)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("the chunk index's thread taking over", () => {
  it("finds words of chunks compressed with a dictionary the main thread learned before a flush there", async () => {
    const saved = { ...dictionaryTraining };
    const flushBytes = chunkIndexSettings.flushBytes;
    Object.assign(dictionaryTraining, { trainBytes: 64 * 1024, minSamples: 4 });
    try {
      const dir = tempDir();
      const t0 = Date.UTC(2026, 9, 1);
      let n = 0;
      const body = (tag: string) =>
        JSON.stringify({
          messages: Array.from({ length: 60 }, (_, i) => ({
            role: "user",
            content: `${tag} message ${i} about ${tag}${i} lorem ipsum dolor ${n}`,
          })),
        });
      const rec = (b: string): TraceRecord =>
        ({
          kind: "span-open",
          spanId: `s${n}`,
          name: "llm",
          timestamp: t0 + n++,
          extensionId: "e",
          body: b,
        }) as TraceRecord;
      let store = await openStore({ dir });
      for (let i = 0; i < 40; i++) await store.insertRecords([rec(body(`warm${i}`))]);
      await store.close();
      store = await openStore({ dir }); // a new thread starts: the first jobs and a flush run here
      chunkIndexSettings.flushBytes = 1;
      await store.insertRecords([rec(body("alphaword"))]);
      const index = indexOf(store);
      await index.caughtUp();
      await index.flush();
      for (let i = 0; i < 200 && !index.inThread; i++) await new Promise((r) => setTimeout(r, 25));
      expect(index.inThread).toBe(true);
      await store.insertRecords([rec(body("zebraword"))]);
      for (const w of ["alphaword", "zebraword", "zebraword7"])
        expect((await store.search(w)).hits, w).toHaveLength(1);
      await store.close();
    } finally {
      Object.assign(dictionaryTraining, saved);
      chunkIndexSettings.flushBytes = flushBytes;
    }
  });
});
