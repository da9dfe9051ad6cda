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
import { tempDir } from "./support/fixtures.js";
import {
  BATCH_RECORDS,
  batchWord,
  compareResults,
  oracleSearch,
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
const MAX_WORDS = 150;

interface Model {
  mode: "ingest" | "compact" | "prune";
  /** Batches acknowledged, in every round so far. */
  acked: Set<number>;
  /** Batches that may have been written (acknowledged or started). */
  written: Set<number>;
  /** Batches the last round acknowledged. */
  lastRound: number[];
}

/** Which batches' words to search: the last round's, and a spread of the others. */
function batchesToSearch(m: Model): number[] {
  const recent = new Set(m.lastRound);
  const others = [...m.written].filter((b) => !recent.has(b)).sort((a, b) => a - b);
  const room = Math.max(0, Math.floor(MAX_WORDS / BATCH_RECORDS) - recent.size);
  const stride = Math.max(1, Math.ceil(others.length / Math.max(1, room)));
  return [...recent, ...others.filter((_, i) => i % stride === 0)];
}

async function searchAgrees(store: TraceStore, truth: readonly Searchable[], word: string): Promise<number> {
  const q = wordQuery(word);
  const want = oracleSearch(truth, q, { limit: 1000 })!;
  const got = await searchOf(store)(q.q, { limit: 1000 });
  const problem = compareResults(got, want);
  if (problem !== undefined) throw new Error(`after a kill, q ${JSON.stringify(q.q)}: ${problem}`);
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
    let found = 0;
    let absent = 0;
    for (const b of batchesToSearch(m)) {
      for (let i = 0; i < BATCH_RECORDS; i++) {
        const hits = await searchAgrees(store, truth, batchWord(b, i));
        if (hits > 0) found++;
        else if (m.acked.has(b)) absent++; // acknowledged, and gone: dropped or its body evicted
      }
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
  it("finds every acknowledged record by its word after kills during ingest", async () => {
    const m = await killRounds("ingest", 5, "ack");
    expect(m.acked.size).toBeGreaterThan(5);
  }, 120_000);

  it("finds every record still stored, and only those, after kills during compaction and merges", async () => {
    const m = await killRounds("compact", 6, "compacted");
    expect(m.acked.size).toBeGreaterThan(6);
  }, 120_000);

  it("finds nothing of a dropped partition or an evicted body after kills during prune and gc", async () => {
    const m = await killRounds("prune", 6, "pruned");
    // Retention dropped batches (their words searched and not found): the test saw the drops.
    expect(m.absent).toBeGreaterThan(0);
  }, 120_000);
});
