/**
 * Kill tests of search (issue 14): a child process (test/support/search-child.ts) ingests batches whose
 * records each hold a word of their own, compacting and pruning in some modes; it is SIGKILLed at random
 * points. After each kill the store is reopened and every word searched: the answers equal a brute-force
 * scan of what `store.query` holds (test/support/search-corpus.ts's oracle), so an acknowledged record
 * is found, a record still stored is found, and a record of a dropped partition, or a body evicted, is not.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceStore } from "../src/index.js";
import type { SearchOptions } from "../src/types.js";
import { tempDir } from "./support/fixtures.js";
import {
  BATCH_RECORDS,
  BROAD_QUERIES,
  batchWord,
  compareResults,
  type OracleQuery,
  oracleSearch,
  parseOracle,
  SEARCH_CHUNKING,
  type Searchable,
  searchBatch,
  searchBatchBase,
  searchOf,
  snapshot,
  wordQuery,
} from "./support/search-corpus.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const CHILD = fileURLToPath(new URL("./support/search-child.ts", import.meta.url));
/** Words searched after each kill, at most (the newest batches' all, then a sample of the rest). */
const MAX_WORDS = 120;
/** SEARCH_KILL_ROUNDS overrides each test's number of kills (e.g. 30 for a long run). */
const ROUNDS = Number(process.env.SEARCH_KILL_ROUNDS ?? 0);
const rounds = (n: number) => ROUNDS || n;
const TIMEOUT = Math.max(120_000, ROUNDS * 20_000);

interface Model {
  mode: "ingest" | "compact" | "prune";
  /** Batches acknowledged, in every round so far. */
  acked: Set<number>;
  /** Batches that may have been written (acknowledged or started). */
  written: Set<number>;
  /** Batches the last round acknowledged. */
  lastRound: number[];
}

/** Every `k`-th element, `k` such that at most `n` are kept. */
const spread = <T>(items: readonly T[], n: number): T[] =>
  items.filter((_, i) => i % Math.max(1, Math.ceil(items.length / Math.max(1, n))) === 0);

/** Which words to search one by one: a spread of the last round's batches', then of the others'. */
function wordsToSearch(m: Model): string[] {
  const words = (batches: number[]) =>
    batches.flatMap((b) => Array.from({ length: BATCH_RECORDS }, (_, i) => batchWord(b, i)));
  const recent = new Set(m.lastRound);
  const others = [...m.written].filter((b) => !recent.has(b)).sort((a, b) => a - b);
  const fresh = spread(words([...recent]), MAX_WORDS * 0.6);
  return [...fresh, ...spread(words(others), MAX_WORDS - fresh.length)];
}

async function searchAgrees(
  store: TraceStore,
  truth: readonly Searchable[],
  q: OracleQuery,
  opts: SearchOptions = {},
): Promise<number> {
  const want = oracleSearch(truth, q, { ...opts, limit: 1000 })!;
  const got = await searchOf(store)(q.q, { ...opts, limit: 1000 });
  const problem = compareResults(got, want);
  if (problem !== undefined)
    throw new Error(`after a kill, q ${JSON.stringify(q.q)}, ${JSON.stringify(opts)}: ${problem}`);
  return want.hits.length;
}

/** Reopens the store: acknowledged records are there (unless retention may have dropped them), and search agrees. */
async function check(dir: string, m: Model): Promise<{ found: number; absent: number }> {
  const store = await openStore({ dir, chunking: SEARCH_CHUNKING });
  try {
    const truth = await snapshot(store);
    const present = new Set(truth.map((s) => s.record.id));
    // Retention drops old batches in the prune mode: there only the newest acknowledged batch must be whole.
    const mustHave = m.mode === "prune" ? [Math.max(...m.acked)] : [...m.acked];
    for (const b of mustHave)
      for (const r of searchBatch(b, searchBatchBase(m.mode, b)))
        expect(present.has(stableId(r)), `acknowledged record of batch ${b} missing`).toBe(true);
    // Queries that every record of one kind answers (each field: messages, names, attributes, bodies),
    // oldest and newest first: every stored record is found, nothing else.
    for (const q of BROAD_QUERIES)
      for (const order of ["asc", "desc"] as const)
        await searchAgrees(store, truth, parseOracle(q)!, { order });
    let found = 0;
    let absent = 0;
    for (const word of wordsToSearch(m)) {
      const hits = await searchAgrees(store, truth, wordQuery(word));
      if (hits > 0) found++;
      else if (m.acked.has(Number(/^kw(\d+)r/.exec(word)![1]))) absent++; // acknowledged, and gone: dropped or evicted
    }
    return { found, absent };
  } finally {
    await store.close();
  }
}

/** Runs `rounds` child lives, each killed a random time after its first `after` line; checks after each. */
async function killRounds(
  mode: Model["mode"],
  rounds: number,
  after: string,
): Promise<Model & { absent: number }> {
  const dir = tempDir();
  const m: Model = { mode, acked: new Set(), written: new Set(), lastRound: [] };
  let absent = 0;
  let next = 0;
  for (let round = 0; round < rounds; round++) {
    const first = mode === "prune" ? next : round * 1000;
    const child = startChild([mode, dir, String(first)], CHILD);
    await waitForLine(child, (l) => l.startsWith(after), 60_000);
    await new Promise((r) => setTimeout(r, Math.random() * 400));
    child.kill("SIGKILL");
    await exited(child);
    m.lastRound = [];
    for (const l of child.lines) {
      const [what, n] = l.split(" ");
      if (what !== "ack") continue;
      m.acked.add(Number(n));
      m.lastRound.push(Number(n));
      next = Math.max(next, Number(n) + 1);
    }
    // Batches started but not acknowledged (two writers in the ingest mode) may be stored, or not.
    const top = Math.max(first - 1, ...m.lastRound);
    for (let b = first; b <= top + 2; b++) m.written.add(b);
    const t0 = Date.now();
    const r = await check(dir, m);
    if (process.env.SEARCH_DEBUG)
      console.log(mode, round, "acked", m.acked.size, "check ms", Date.now() - t0, r);
    expect(r.found).toBeGreaterThan(0);
    absent += r.absent;
  }
  return { ...m, absent };
}

describe("search after SIGKILL", () => {
  it(
    "finds every acknowledged record by its word after kills during ingest",
    async () => {
      const m = await killRounds("ingest", rounds(4), "ack");
      expect(m.acked.size).toBeGreaterThan(4);
    },
    TIMEOUT,
  );

  it(
    "finds every record still stored, and only those, after kills during compaction and merges",
    async () => {
      const m = await killRounds("compact", rounds(5), "compacted");
      expect(m.acked.size).toBeGreaterThan(5);
    },
    TIMEOUT,
  );

  it(
    "finds nothing of a dropped partition or an evicted body after kills during prune and gc",
    async () => {
      const m = await killRounds("prune", rounds(5), "pruned");
      // Retention dropped batches (their words searched and not found): the test saw the drops.
      expect(m.absent).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});
