/**
 * Model-based test of `store.search` (issue 14): a generated corpus (test/support/search-corpus.ts) goes
 * through a store's life (insert, reopen, compaction, merges, prune by age and by size, body eviction, gc,
 * reopen) and after each step the store's answers equal a brute-force scan written from the contract alone
 * over the records `store.query` returns: the same hits (record, field, every hit field) in the same order,
 * the same `truncated`, and snippets that hold the match.
 *
 * Queries: every step searches a sample of the corpus's one-record words (many straddle chunk cuts: the
 * store's chunks are small here), the words of records that a step dropped or whose body it evicted (none
 * may be found any more), and random queries and options from fast-check.
 *
 * SEARCH_SEED and SEARCH_RUNS override the seed and the number of random queries per step
 * (e.g. SEARCH_RUNS=1000 for a long run).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type StoredRecord, type TraceStore } from "../src/index.js";
import type { SearchOptions, SearchResult } from "../src/types.js";
import { tempDir } from "./support/fixtures.js";
import {
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
const RUNS = Number(process.env.SEARCH_RUNS ?? 30);
/** One-record words searched at each step (a different sample each time). */
const RARE_SAMPLE = Number(process.env.SEARCH_RARE ?? 60);

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
  return [...words].slice(0, 200);
}

/** Every check: sampled one-record words, the words of what just went, random queries and options. */
async function agree(run: Run, label: string): Promise<{ hits: number; gone: number }> {
  const truth = await snapshot(run.store);
  const rare = [...new Set(run.corpus.rare.map((r) => r.word))];
  const stride = Math.max(1, Math.floor(rare.length / RARE_SAMPLE));
  const sample = rare.filter((_, i) => i % stride === run.step % stride).slice(0, RARE_SAMPLE);
  const gone = goneWords(run.previous, truth);
  let hits = 0;
  for (const word of [...sample, ...gone]) {
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
    run = { store, dir, corpus, previous: new Map(), step: 0 };
  });

  afterAll(async () => {
    await run.store.close();
    rmSync(run.dir, { recursive: true, force: true });
  });

  it("finds every record right after its batch is acknowledged", async () => {
    for (let b = 0; b < 8; b++) {
      await run.store.insertRecords(run.corpus.next(30));
      if (b === 0) await agree(run, "after the first batch");
    }
    const { hits } = await agree(run, "after insert");
    expect(hits).toBeGreaterThan(RARE_SAMPLE / 2); // the words were found, not only agreed on
  });

  it("finds the same after a reopen", async () => {
    await reopen(run);
    await agree(run, "after reopen");
  });

  it("finds the same once older records are compacted into cold Parquet files", async () => {
    const moved = await run.store.compact({ now: NOW, olderThanMs: 2 * DAY });
    expect(moved.recordsMoved).toBeGreaterThan(100);
    const stats = await run.store.stats();
    expect(stats.coldRecords).toBeGreaterThan(0);
    expect(stats.hotRecords).toBeGreaterThan(0); // both tiers answer
    await agree(run, "after compaction");
  });

  it("finds the same after late records in a cold hour are compacted five times and merged", async () => {
    const hour = T0 + DAY + 10 * HOUR;
    for (let k = 0; k < 6; k++) {
      await run.store.insertRecords(run.corpus.next(6, hour, hour + HOUR));
      await run.store.compact({ now: NOW, olderThanMs: 2 * DAY });
    }
    // Late records of old days that stay hot until the next compaction (retention deletes them there).
    await run.store.insertRecords(run.corpus.next(20, T0, T0 + 2 * DAY));
    await agree(run, "after merges");
    await reopen(run);
    await agree(run, "after merges and reopen");
  });

  it("finds nothing of the cold hours and hot records that prune drops by age", async () => {
    const before = (await run.store.query({ bodies: false })).length;
    const res = await run.store.prune({ maxAgeMs: 4.5 * DAY }, { now: NOW });
    expect(res.filesDropped).toBeGreaterThan(0);
    expect((await run.store.query({ bodies: false })).length).toBeLessThan(before);
    const { gone } = await agree(run, "after prune by age");
    expect(gone).toBeGreaterThan(0);
  });

  it("finds nothing of the oldest cold hours that prune drops by size", async () => {
    const { coldBytes } = await run.store.stats();
    const res = await run.store.prune({ maxColdBytes: Math.floor(coldBytes / 2) }, { now: NOW });
    expect(res.filesDropped).toBeGreaterThan(0);
    const { gone } = await agree(run, "after prune by size");
    expect(gone).toBeGreaterThan(0);
  });

  it("finds no evicted body's words, by age and by the body cap, after gc", async () => {
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
  });

  it("finds the same after a last reopen, and new records next to the evicted ones", async () => {
    await reopen(run);
    await run.store.insertRecords(run.corpus.next(30));
    await agree(run, "after the last reopen and insert");
  });
});

describe("store.search refuses a query the contract refuses", () => {
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
