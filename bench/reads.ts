/**
 * The read half of the benchmark, run in its own process by run.ts so that neither store is measured
 * inside a heap holding the whole generated workload (a reader process does not). Prints JSON.
 * Arguments: <tracetier dir> <sqlite path> <file with JSON { turnIds, bigIds }>.
 *
 * Two figures per read: "first" is each turn's first read after the store opens (LevelDB loads table
 * blocks, V8 compiles the read path); "steady" is after one pass over every turn, as in a long-running
 * collector. The same procedure is applied to the baseline.
 */
import { readFileSync } from "node:fs";
import { openStore } from "../src/index.js";
import { openBaseline } from "./baseline-sqlite.js";
import { latency } from "./stats.js";

const [ttDir, sqlitePath, idsFile] = process.argv.slice(2) as [string, string, string];
const { turnIds, bigIds } = JSON.parse(readFileSync(idsFile, "utf8")) as {
  turnIds: string[];
  bigIds: string[];
};
const RUNS = 2000;
const WARMUP = 100;
const turn = (i: number) => turnIds[(i * 7919) % turnIds.length]!;
const big = (i: number) => bigIds[i % bigIds.length]!;

const inOrder = (i: number) => turnIds[i % turnIds.length]!;

async function main(): Promise<void> {
  const out: Record<string, { p50: number; p99: number }> = {};
  for (const [name, cache] of [
    ["cached", undefined],
    ["uncached", 0],
  ] as const) {
    const store = await openStore({ dir: ttDir, chunkCacheBytes: cache });
    out[`first.${name}`] = await latency(turnIds.length, 0, (i) => store.getTurn(inOrder(i)));
    out[`turn.${name}`] = await latency(RUNS, WARMUP, (i) => store.getTurn(turn(i)));
    out[`thin.${name}`] = await latency(RUNS, WARMUP, (i) => store.getTurn(turn(i), { bodies: false }));
    out[`body.${name}`] = await latency(RUNS, WARMUP, (i) => store.getBody(big(i)));
    await store.close();
  }
  const base = openBaseline(sqlitePath, "fast");
  out["first.baseline"] = await latency(turnIds.length, 0, (i) => base.getTurn(inOrder(i), true));
  out["turn.baseline"] = await latency(RUNS, WARMUP, (i) => base.getTurn(turn(i), true));
  out["thin.baseline"] = await latency(RUNS, WARMUP, (i) => base.getTurn(turn(i), false));
  out["body.baseline"] = await latency(RUNS, WARMUP, (i) => base.getBody(big(i)));
  base.close();
  process.stdout.write(JSON.stringify(out));
}

void main();
