/**
 * Model-based test of `store.search` (issue 14): a generated corpus (test/support/search-corpus.ts) goes
 * through a store's life (insert, reopen, compaction, merges, prune by age and by size, body eviction, gc,
 * reopen) and after each step the store's answers equal a brute-force scan written from the contract alone
 * over the records `store.query` returns: the same hits (record, field, every hit field) in the same order,
 * the same `truncated`, and snippets that hold the match.
 *
 * Queries: every step searches the corpus's one-record words that a chunk cut splits, a sample of the
 * others, the words of records that a step dropped or whose body it evicted (none may be found any more),
 * and random queries and options from fast-check.
 *
 * Then: words placed across a chunk cut on purpose (letters, a combining mark, CJK bytes, phrases, long
 * words); searches while compaction, prune and inserts run; a release-1 store being upgraded;
 * hand-written edge queries; refused queries and options.
 *
 * SEARCH_SEED, SEARCH_RUNS and SEARCH_RARE override the seed, the random queries per step and the words
 * sampled per step (e.g. SEARCH_RUNS=200 SEARCH_RARE=150 for a long run: all passed on seeds 11-16).
 */

import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChunker, DEFAULT_CHUNKING } from "../src/bodies/chunker.js";
import { openStore, type StoredRecord, type TraceStore } from "../src/index.js";
import type { SearchOptions, SearchResult } from "../src/types.js";
import { tempDir } from "./support/fixtures.js";
import {
  bodyCutInside,
  compareResults,
  type OracleQuery,
  optionsArb,
  oracleSearch,
  parseOracle,
  queryArb,
  renderQuery,
  SEARCH_CHUNKING,
  type Searchable,
  SearchCorpus,
  searchOf,
  snapshot,
  tokenize,
  wordQuery,
} from "./support/search-corpus.js";

const SEED = Number(process.env.SEARCH_SEED ?? 20_261_130);
const RUNS = Number(process.env.SEARCH_RUNS ?? 20);
/** One-record words searched at each step (a different sample each time). */
const RARE_SAMPLE = Number(process.env.SEARCH_RARE ?? 40);
/** Each step of the store's life (a long run takes longer). */
const STEP_TIMEOUT = Math.max(60_000, (RUNS + RARE_SAMPLE) * 1_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 9, 1);
/** The corpus covers six days; the store's clock stands at the end of them. */
const NOW = T0 + 6 * DAY;

/** Is this a one-record word (the corpus makes them: "zq…", "žq…")? */
const isRare = (token: string) => /^(zq|žq)/.test(token);

interface Run {
  store: TraceStore;
  dir: string;
  corpus: SearchCorpus;
  /** The truth at the previous check: records that leave it, or lose their body, are searched for. */
  previous: Map<string, StoredRecord>;
  step: number;
  /** One-record words that straddle a chunk cut of their body: searched at every step. */
  straddlers: string[];
}

/** Searches `q` in the store and in the oracle; throws with a reproduction when they differ. */
async function expectSame(
  run: Run,
  truth: readonly Searchable[],
  q: OracleQuery,
  opts: SearchOptions,
  label: string,
): Promise<void> {
  // The test's own check: the query it wrote reads back as what it meant (no ambiguous text).
  const live = (o: OracleQuery | undefined) => o?.terms.filter((t) => t.tokens.length > 0);
  expect(live(parseOracle(q.q)), `query ${JSON.stringify(q.q)} reads back differently`).toEqual(live(q));
  const want = oracleSearch(truth, q, opts);
  const repro = `[${label}] seed ${SEED}, q ${JSON.stringify(q.q)}, opts ${JSON.stringify(opts)}`;
  const search = searchOf(run.store);
  if (want === undefined) {
    await expect(search(q.q, opts), `${repro}: should be refused`).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    return;
  }
  let got: SearchResult;
  try {
    got = await search(q.q, opts);
  } catch (err) {
    throw new Error(`${repro}: threw ${String(err)}`);
  }
  const problem = compareResults(got, want);
  if (problem !== undefined) throw new Error(`${repro}: ${problem}`);
}

/** Words of records that left the store or lost their body since the last check. */
function goneWords(previous: Map<string, StoredRecord>, truth: readonly Searchable[]): string[] {
  const now = new Map(truth.map((s) => [s.record.id, s.record]));
  const words = new Set<string>();
  for (const [id, before] of previous) {
    const after = now.get(id);
    const lost = [
      ...(after === undefined ? [before.kind === "log" ? before.msg : before.name] : []),
      ...(before.body !== undefined && after?.body === undefined ? [before.body] : []),
    ];
    for (const text of lost) for (const t of tokenize(text)) if (isRare(t)) words.add(t);
  }
  return [...words].slice(0, 80);
}

/** Every check: sampled one-record words, the words of what just went, random queries and options. */
async function agree(run: Run, label: string): Promise<{ hits: number; gone: number }> {
  const truth = await snapshot(run.store);
  const rare = [...new Set(run.corpus.rare.map((r) => r.word))];
  const stride = Math.max(1, Math.floor(rare.length / RARE_SAMPLE));
  const sample = rare.filter((_, i) => i % stride === run.step % stride).slice(0, RARE_SAMPLE);
  const gone = goneWords(run.previous, truth);
  let hits = 0;
  for (const word of [...run.straddlers, ...sample, ...gone]) {
    const q = wordQuery(word);
    await expectSame(run, truth, q, { limit: 1000 }, `${label}, word`);
    hits += oracleSearch(truth, q, { limit: 1000 })!.hits.length;
  }
  await fc.assert(
    fc.asyncProperty(queryArb(run.corpus), optionsArb(run.corpus), async (q, opts) => {
      await expectSame(run, truth, q, opts, `${label}, random`);
    }),
    { seed: SEED + run.step, numRuns: RUNS },
  );
  run.previous = new Map(truth.map((s) => [s.record.id, s.record]));
  run.step++;
  return { hits, gone: gone.length };
}

/** The corpus's one-record words that a chunk cut of their body falls inside (cuts on UTF-8 bytes). */
function straddlingWords(corpus: SearchCorpus): string[] {
  const chunking = { ...DEFAULT_CHUNKING, ...SEARCH_CHUNKING };
  const chunker = createChunker(chunking);
  const out = new Set<string>();
  const bodies = new Set(corpus.records.flatMap((r) => (r.body === undefined ? [] : [r.body])));
  for (const body of bodies) {
    const bytes = Buffer.from(body);
    if (bytes.length <= chunking.inlineMax) continue;
    const cuts = chunker.cut(bytes);
    for (const m of body.matchAll(/(?:zq|žq|Zq)[0-9a-fA-F]{6,}/g)) {
      const start = Buffer.byteLength(body.slice(0, m.index));
      const end = start + Buffer.byteLength(m[0]);
      if (cuts.some((c) => c > start && c < end)) out.add(m[0]);
    }
  }
  return [...out].slice(0, 40);
}

async function reopen(run: Run): Promise<void> {
  await run.store.close();
  run.store = await openStore({ dir: run.dir, chunking: SEARCH_CHUNKING });
}

describe("store.search agrees with a brute-force scan of the store's records", () => {
  let run: Run;

  beforeAll(async () => {
    // Not fixtures' tempDir: that one is removed after each test, and this store lives through all.
    const dir = mkdtempSync(join(tmpdir(), "tracetier-search-"));
    const corpus = new SearchCorpus({ seed: SEED, start: T0, spanMs: 6 * DAY });
    const store = await openStore({ dir, chunking: SEARCH_CHUNKING });
    run = { store, dir, corpus, previous: new Map(), step: 0, straddlers: [] };
  });

  afterAll(async () => {
    await run.store.close();
    rmSync(run.dir, { recursive: true, force: true });
  }, STEP_TIMEOUT);

  it(
    "finds every record right after its batch is acknowledged",
    async () => {
      for (let b = 0; b < 8; b++) {
        await run.store.insertRecords(run.corpus.next(30));
        if (b === 0) await agree(run, "after the first batch");
      }
      const { hits } = await agree(run, "after insert");
      expect(hits).toBeGreaterThan(RARE_SAMPLE / 2); // the words were found, not only agreed on
    },
    STEP_TIMEOUT,
  );

  it(
    "has one-record words across chunk cuts, ASCII and not (the test's own coverage)",
    () => {
      run.straddlers = straddlingWords(run.corpus);
      expect(run.straddlers.filter((w) => w.startsWith("zq")).length).toBeGreaterThan(5);
      expect(run.straddlers.filter((w) => w.startsWith("žq")).length).toBeGreaterThan(2);
    },
    STEP_TIMEOUT,
  );

  it(
    "finds the same after a reopen",
    async () => {
      await reopen(run);
      await agree(run, "after reopen");
    },
    STEP_TIMEOUT,
  );

  it(
    "finds the same once older records are compacted into cold Parquet files",
    async () => {
      const moved = await run.store.compact({ now: NOW, olderThanMs: 2 * DAY });
      expect(moved.recordsMoved).toBeGreaterThan(100);
      const stats = await run.store.stats();
      expect(stats.coldRecords).toBeGreaterThan(0);
      expect(stats.hotRecords).toBeGreaterThan(0); // both tiers answer
      await agree(run, "after compaction");
    },
    STEP_TIMEOUT,
  );

  it(
    "finds the same after late records in a cold hour are compacted five times and merged",
    async () => {
      const hour = T0 + DAY + 10 * HOUR;
      for (let k = 0; k < 6; k++) {
        await run.store.insertRecords(run.corpus.next(6, hour, hour + HOUR));
        await run.store.compact({ now: NOW, olderThanMs: 2 * DAY });
      }
      // Records inserted again (some are cold by now): stored once, so found once.
      await run.store.insertRecords(run.corpus.records.slice(0, 40));
      // Late records of old days that stay hot until the next compaction (retention deletes them there).
      await run.store.insertRecords(run.corpus.next(20, T0, T0 + 2 * DAY));
      await agree(run, "after merges");
      await reopen(run);
      await agree(run, "after merges and reopen");
    },
    STEP_TIMEOUT,
  );

  it(
    "finds nothing of the cold hours and hot records that prune drops by age",
    async () => {
      const before = (await run.store.query({ bodies: false })).length;
      const res = await run.store.prune({ maxAgeMs: 4.5 * DAY }, { now: NOW });
      expect(res.filesDropped).toBeGreaterThan(0);
      expect((await run.store.query({ bodies: false })).length).toBeLessThan(before);
      const { gone } = await agree(run, "after prune by age");
      expect(gone).toBeGreaterThan(0);
    },
    STEP_TIMEOUT,
  );

  it(
    "finds nothing of the oldest cold hours that prune drops by size",
    async () => {
      const { coldBytes } = await run.store.stats();
      const res = await run.store.prune({ maxColdBytes: Math.floor(coldBytes / 2) }, { now: NOW });
      expect(res.filesDropped).toBeGreaterThan(0);
      const { gone } = await agree(run, "after prune by size");
      expect(gone).toBeGreaterThan(0);
    },
    STEP_TIMEOUT,
  );

  it(
    "finds no evicted body's words, by age and by the body cap, after gc",
    async () => {
      // The cutoff: the median timestamp of the records left with a body, so that about half go.
      const withBody = (await run.store.query({ bodies: "sizes" })).filter((r) => r.bodyBytes !== undefined);
      const median = withBody[Math.floor(withBody.length / 2)]!.timestamp;
      const aged = await run.store.prune({ maxBodyAgeMs: NOW - median }, { now: NOW });
      expect(aged.bodiesEvicted).toBeGreaterThan(0);
      await run.store.gc();
      const first = await agree(run, "after eviction by age and gc");
      expect(first.gone).toBeGreaterThan(0);
      const { bodyBytesStored } = await run.store.stats();
      const capped = await run.store.prune(
        { maxTotalBodyBytes: Math.floor(bodyBytesStored / 2) },
        { now: NOW },
      );
      expect(capped.bodiesEvicted).toBeGreaterThan(0);
      await run.store.gc();
      await agree(run, "after eviction by size and gc");
    },
    STEP_TIMEOUT,
  );

  it(
    "finds the same after a last reopen, and new records next to the evicted ones",
    async () => {
      await reopen(run);
      await run.store.insertRecords(run.corpus.next(30));
      await agree(run, "after the last reopen and insert");
    },
    STEP_TIMEOUT,
  );
});

/** Sixty CJK characters, one token of 180 UTF-8 bytes. */
const CJK60 = Array.from({ length: 60 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 97) % 2000))).join("");

describe("store.search while maintenance runs", () => {
  /** Queries that many records answer, through each field. */
  const BROAD = ["cache", "name:llm", "model:llama3", "attr.retry:2", '"stack trace"', "file -error"];

  async function corpusStore(): Promise<{ store: TraceStore; corpus: SearchCorpus; dir: string }> {
    const dir = tempDir();
    const store = await openStore({ dir, chunking: SEARCH_CHUNKING });
    const corpus = new SearchCorpus({ seed: SEED + 1, start: T0, spanMs: 6 * DAY });
    for (let b = 0; b < 6; b++) await store.insertRecords(corpus.next(30));
    return { store, corpus, dir };
  }

  /** Searches BROAD over and over until `job` settles; returns every answer with its query. */
  async function searchDuring(store: TraceStore, job: Promise<unknown>) {
    let done = false;
    void job.finally(() => {
      done = true;
    });
    const answers: Array<{ q: string; got: SearchResult }> = [];
    for (let i = 0; !done || i < BROAD.length; i++) {
      const q = BROAD[i % BROAD.length]!;
      answers.push({ q, got: await searchOf(store)(q, { limit: 1000 }) });
    }
    await job;
    return answers;
  }

  it("gives exact answers while compaction moves records to cold files and merges them", async () => {
    const { store, corpus } = await corpusStore();
    try {
      await store.compact({ now: NOW, olderThanMs: 4 * DAY });
      for (let k = 0; k < 5; k++) await store.insertRecords(corpus.next(6, T0 + DAY, T0 + DAY + HOUR));
      const truth = await snapshot(store);
      // Compaction moves records and merges the small files; the records stay the same.
      const answers = await searchDuring(store, store.compact({ now: NOW, olderThanMs: 0 }));
      expect((await store.stats()).hotRecords).toBe(0);
      for (const { q, got } of answers) {
        const problem = compareResults(got, oracleSearch(truth, parseOracle(q)!, { limit: 1000 })!);
        expect(problem, `q ${q} during compaction`).toBeUndefined();
      }
    } finally {
      await store.close();
    }
  });

  it("finds, while prune drops records and evicts bodies, only records that were there, in order", async () => {
    const { store } = await corpusStore();
    try {
      await store.compact({ now: NOW, olderThanMs: 3 * DAY });
      const before = await snapshot(store);
      const policy = { maxAgeMs: 4 * DAY, maxBodyAgeMs: 3 * DAY };
      const answers = await searchDuring(store, store.prune(policy, { now: NOW }));
      const after = await snapshot(store);
      expect(after.length).toBeLessThan(before.length);
      for (const { q, got } of answers) {
        const ids = (t: readonly Searchable[]) =>
          oracleSearch(t, parseOracle(q)!, { limit: 1000 })!.hits.map((h) => h.recordId);
        const [was, is] = [ids(before), ids(after)];
        const gotIds = got.hits.map((h) => h.recordId);
        // Records only go (or lose their body, which can make a negated term stop excluding them): every
        // hit matched before or matches after, in (timestamp, seq) order, and what matches after, and
        // matched before, is found.
        const order = new Map(before.map((s, i) => [s.record.id, i]));
        const known = gotIds.filter((id) => was.includes(id) || is.includes(id));
        expect(known, `q ${q} during prune: unknown hits`).toEqual(gotIds);
        const positions = gotIds.map((id) => order.get(id)!);
        expect(positions, `q ${q} during prune: order`).toEqual([...positions].sort((a, b) => b - a));
        const missing = is.filter((id) => was.includes(id) && !gotIds.includes(id));
        expect(missing, `q ${q} during prune: missing`).toEqual([]);
      }
    } finally {
      await store.close();
    }
  });

  it("answers exactly after inserts and hot deletes raced the first search's index build", async () => {
    const { store: first, corpus, dir } = await corpusStore();
    await first.close();
    const store = await openStore({ dir, chunking: SEARCH_CHUNKING });
    try {
      // The first search builds the hot records' index; writes and deletes land while it does.
      const racing = [
        searchOf(store)("cache"),
        store.insertRecords(corpus.next(40)),
        store.prune({ maxAgeMs: 3 * DAY }, { now: NOW }),
        searchOf(store)("name:llm"),
        store.insertRecords(corpus.next(40)),
      ];
      await Promise.all(racing);
      const truth = await snapshot(store);
      for (const q of BROAD) {
        const problem = compareResults(
          await searchOf(store)(q, { limit: 1000 }),
          oracleSearch(truth, parseOracle(q)!, { limit: 1000 })!,
        );
        expect(problem, `q ${q} after the race`).toBeUndefined();
      }
    } finally {
      await store.close();
    }
  });

  it("finds each record as soon as its insert resolves, while other inserts run", async () => {
    const { store, corpus } = await corpusStore();
    try {
      const writers = Array.from({ length: 3 }, async (_, w) => {
        for (let k = 0; k < 8; k++) {
          const word = `kwlive${w}x${k}`;
          const rec = {
            kind: "log",
            level: "info",
            msg: `now ${word}`,
            timestamp: T0 + k,
            extensionId: "e",
          } as const;
          await store.insertRecords([...corpus.next(3), rec]);
          const got = await searchOf(store)(word);
          expect(
            got.hits.map((h) => h.where),
            `${word} right after its insert`,
          ).toEqual(["msg"]);
        }
      });
      await Promise.all(writers);
    } finally {
      await store.close();
    }
  });
});

describe("store.search reads hand-written queries as the contract does", () => {
  const queries = [
    ...["name:foo", "Name:foo", "NAME:foo", "Model:x", '"name:foo"', 'name:"foo bar"', 'name:"foo bar"x'],
    ...["attr.k:gamma", "attr.K:gamma", "attr.:empty", 'attr.k:"beta gamma"', '"beta gamma"', "attr.k:v:zed"],
    ...["attr.n:3", "attr.n:-3", "attr.f:0.5", "attr.big:1e", "attr.big:21", "zed", "k"],
    ...["file", "FILE", "x:y", "naïve", "NAÏVE", "naive", "hello -world", 'hello -"world"', "hello -WORLD"],
    ...['foo"bar', 'name:foo"', 'foo"bar baz"', "-- foo", "foo --", "- foo", "foo -", "-foo bar"],
  ];
  let store: TraceStore;
  let dir: string;
  let truth: Searchable[];

  beforeAll(async () => {
    // One store for all (not fixtures' tempDir, removed after each test).
    dir = mkdtempSync(join(tmpdir(), "tracetier-search-"));
    store = await openStore({ dir });
    await store.insertRecords([
      {
        kind: "span-open",
        spanId: "a",
        name: "foo bar",
        timestamp: T0,
        extensionId: "e",
        attributes: { "k:v": "zed", "": "empty key", k: ["alpha beta", "gamma"], n: -3, f: 0.5, big: 1e21 },
      },
      {
        kind: "log",
        level: "info",
        msg: "name foo model x attr k gamma",
        timestamp: T0 + 1,
        extensionId: "e",
        body: "Hello\tWORLD ﬁle naïve x:y foobar baz",
      },
    ]);
    truth = await snapshot(store);
  });

  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const q of queries) {
    it(`answers ${JSON.stringify(q)} as the oracle does`, async () => {
      const parsed = parseOracle(q);
      const want = parsed && oracleSearch(truth, parsed);
      if (want === undefined) {
        await expect(searchOf(store)(q)).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
      } else {
        expect(compareResults(await searchOf(store)(q), want)).toBeUndefined();
      }
    });
  }
});

describe("store.search on a store written before search existed", () => {
  /** Words and two-word phrases of the store's own texts, every `step`-th. */
  function queriesOf(truth: readonly Searchable[], step: number): OracleQuery[] {
    const out: OracleQuery[] = [];
    const texts = truth.flatMap((s) =>
      [s.body, s.msg, s.name, ...s.attributes].filter((t) => t !== undefined),
    );
    texts.forEach((t, i) => {
      if (i % step !== 0 || t.tokens.length === 0) return;
      const at = (i * 31) % t.tokens.length;
      out.push(wordQuery(t.tokens[at]!));
      if (at + 1 < t.tokens.length)
        out.push(
          renderQuery([
            { field: "any", text: t.tokens.slice(at, at + 2).join(" "), quoted: true, negated: false },
          ]),
        );
    });
    return out;
  }

  it("answers exactly while its index is built at open, and after a reopen (release-1 fixture)", async () => {
    const dir = tempDir();
    cpSync(new URL("./fixtures/store-r1/store", import.meta.url), dir, { recursive: true });
    for (const when of ["right after the upgrading open", "after a reopen"]) {
      const store = await openStore({ dir });
      try {
        const truth = await snapshot(store);
        const queries = queriesOf(truth, Math.max(1, Math.floor(truth.length / 40)));
        expect(queries.length).toBeGreaterThan(20);
        for (const q of queries) {
          for (const opts of [{ limit: 1000 }, { limit: 3, order: "asc" as const }]) {
            const problem = compareResults(await searchOf(store)(q.q, opts), oracleSearch(truth, q, opts)!);
            expect(problem, `${when}: q ${q.q}, ${JSON.stringify(opts)}`).toBeUndefined();
          }
        }
      } finally {
        await store.close();
      }
    }
  });
});

describe("store.search finds a word that a chunk cut splits", () => {
  const chunker = createChunker({ ...DEFAULT_CHUNKING, ...SEARCH_CHUNKING });
  // [what, the body's word (once), bytes of it before the cut, the query]
  const cases = [
    ["an ASCII word", "kwsplitword", 5, "kwsplitword"],
    ["a word in capitals, searched in lower case", "KWUPPERCASE", 4, "kwuppercase"],
    ["a letter and its combining mark (NFKC composes them)", "qcafe\u0301x", 5, "qcaféx"],
    ["the two bytes of a combining mark", "qcafe\u0301y", 6, "qcaféy"],
    ["the bytes of a CJK character", "漢字語彙", 4, "漢字語彙"],
    ["the bytes of a Latin letter", "žqsplit", 1, "žqsplit"],
    ["a phrase at its space", "kwfirst kwsecond", 7, '"kwfirst kwsecond"'],
    ["a phrase just after its space", "kwthird kwfourth", 8, '"kwthird kwfourth"'],
    ["a word of exactly 64 units (the longest indexed)", `kw${"y".repeat(62)}`, 40, `kw${"y".repeat(62)}`],
    [
      "a CJK word of 60 characters (180 bytes, maybe more cuts)",
      CJK60,
      Array.from({ length: 120 }, (_, i) => 30 + i),
      CJK60,
    ],
    ["a word over 64 units (not indexed: scanned)", `kwlong${"x".repeat(70)}`, 30, `kwlong${"x".repeat(70)}`],
  ] as const;
  for (const [what, word, at, q] of cases) {
    it(`finds ${what}, hot, cold and after a reopen`, async () => {
      const { body, cutAt } = bodyCutInside(word, at, (d) => chunker.cut(d));
      expect(chunker.cut(Buffer.from(body))).toContain(cutAt);
      const dir = tempDir();
      let store = await openStore({ dir, chunking: SEARCH_CHUNKING });
      try {
        const other = {
          kind: "log",
          level: "info",
          msg: "filler",
          timestamp: T0 + 1,
          extensionId: "e",
          body: body.replace(word, "lorem"),
        } as const;
        const rec = {
          kind: "span-open",
          spanId: "s",
          name: "n",
          timestamp: T0,
          extensionId: "e",
          body,
        } as const;
        await store.insertRecords([rec, other]);
        const [id] = (await store.query({ kind: "span-open" })).map((r) => r.id);
        const expectFound = async (when: string) => {
          const res = await searchOf(store)(q);
          expect(
            res.hits.map((h) => [h.recordId, h.where]),
            `${when}: ${q}`,
          ).toEqual([[id, "body"]]);
          expect(tokenize(res.hits[0]!.snippet).join(" ")).toContain(tokenize(q).join(" "));
        };
        await expectFound("hot");
        await store.compact({ now: T0 + 7 * DAY });
        await expectFound("cold");
        await store.close();
        store = await openStore({ dir, chunking: SEARCH_CHUNKING });
        await expectFound("reopened");
      } finally {
        await store.close();
      }
    });
  }
});

describe("store.search refuses a query or options the contract refuses", () => {
  const refused = [
    ["an empty query", ""],
    ["only blanks", "   \t "],
    ["only token-less terms", '-- "..." ,'],
    ["only negated terms", "-cache -name:tool"],
    ["an unclosed quote", 'cache "stack trace'],
    ["more than 32 terms", Array.from({ length: 33 }, (_, i) => `w${i}`).join(" ")],
    ["more than 1,000 characters", `cache ${"x".repeat(1000)}`],
  ] as const;
  for (const [what, q] of refused) {
    it(`refuses ${what} with ERR_INVALID_OPTION naming q`, async () => {
      const store = await openStore({ dir: tempDir() });
      try {
        await expect(searchOf(store)(q)).rejects.toMatchObject({
          code: "ERR_INVALID_OPTION",
          message: expect.stringContaining('"q"'),
        });
      } finally {
        await store.close();
      }
    });
  }

  const badOptions = [
    ["limit", { limit: 0 }],
    ["limit", { limit: 1001 }],
    ["limit", { limit: 2.5 }],
    ["order", { order: "up" }],
    ["from", { from: Number.NaN }],
    ["to", { to: "tomorrow" }],
    ["turnId", { turnId: 5 }],
  ] as const;
  for (const [name, opts] of badOptions) {
    it(`refuses ${JSON.stringify(opts)} with ERR_INVALID_OPTION naming ${name}`, async () => {
      const store = await openStore({ dir: tempDir() });
      try {
        await expect(searchOf(store)("cache", opts as unknown as SearchOptions)).rejects.toMatchObject({
          code: "ERR_INVALID_OPTION",
          message: expect.stringContaining(`"${name}"`),
        });
      } finally {
        await store.close();
      }
    });
  }

  it("accepts 32 terms and a negated term after a positive one", async () => {
    const store = await openStore({ dir: tempDir() });
    try {
      const search = searchOf(store);
      await store.insertRecords(new SearchCorpus({ seed: 1, start: T0, spanMs: DAY }).next(5));
      await expect(search(Array.from({ length: 32 }, (_, i) => `w${i}`).join(" "))).resolves.toEqual({
        hits: [],
        truncated: false,
      });
      const q = renderQuery([
        { field: "any", text: "cache", quoted: false, negated: false },
        { field: "any", text: "stack trace", quoted: true, negated: true },
      ]);
      await expect(search(q.q)).resolves.toMatchObject({ truncated: false });
    } finally {
      await store.close();
    }
  });
});
