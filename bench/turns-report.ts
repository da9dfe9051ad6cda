/**
 * The turns-list table of `npm run bench` (`--only turns`): drives bench/turns.ts, a child process to
 * prepare the month and a fresh one to measure, and prints one markdown table. Goal: issue 13's.
 */
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, scratch } from "./stats.js";

interface P {
  p50: number;
  p99: number;
}

interface Measured {
  stats: { hot: number; cold: number; files: number };
  openMs: number;
  firstMs: number;
  heapMB: number;
  rssMB: number;
  warmMs: number;
  afterWarmMs: number;
  first: P;
  sql: P;
  filteredModel: P;
  filteredErrors: P;
  filteredRange: P;
  page20: P;
  usage: P;
  afterWrite: P;
  afterCompaction: { firstMs: number; refreshMs: number };
}

export async function turnsTable(records: number): Promise<string[]> {
  // TRACETIER_BENCH_TURNS_DIR: a directory a previous run prepared is measured again as it is
  const kept = process.env.TRACETIER_BENCH_TURNS_DIR;
  const dir = kept ?? scratch("turns");
  const script = fileURLToPath(new URL("./turns.ts", import.meta.url));
  const child = (mode: string): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ["--import", "tsx", script, dir, String(records), mode],
        { encoding: "utf8", maxBuffer: 1 << 24 },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${mode}: ${stderr}`, { cause: err })) : resolve(stdout),
      );
    });
  const t0 = performance.now();
  let prepareSecs = 0;
  if (!(kept && existsSync(join(dir, "prepared")))) {
    // the two stores are filled side by side (two cores), the store's compaction last
    await Promise.all([child("prepare"), child("prepare-sqlite")]);
    writeFileSync(join(dir, "prepared"), "");
    prepareSecs = (performance.now() - t0) / 1000;
  }
  const m = JSON.parse(await child("measure")) as Measured;
  const ms = (p: P) => `${fmt(p.p50, 2)} / ${fmt(p.p99, 2)}`;
  return [
    "",
    `Turns list and usage (bench/turns.ts): the month (bench/month.ts), ${fmt(m.stats.cold)} records in ${fmt(m.stats.files)} cold partitions and ${fmt(m.stats.hot)} hot (its last day), in a fresh process; store calls, no HTTP; p50 / p99 ms over 20 runs (usage 10). ${prepareSecs > 0 ? `Prepared in ${fmt(prepareSecs)} s.` : "Prepared by an earlier run."}`,
    "",
    "| metric | tracetier | goal |",
    "|---|---:|---|",
    `| first page (50), cold: the first call after an open (ms) | ${fmt(m.firstMs)} | |`,
    `| the collector's background warm-up after an open (ms), then the first page (ms) | ${fmt(m.warmMs)}, ${fmt(m.afterWarmMs, 2)} | |`,
    `| first page (50), warm | ${ms(m.first)} | ≤ 300 ms |`,
    `| SQLite baseline: GROUP BY turn over its records, newest 50 | ${ms(m.sql)} (${fmt(m.sql.p50 / m.first.p50)}× tracetier's p50) | |`,
    `| filtered page: model | ${ms(m.filteredModel)} | ≤ 300 ms |`,
    `| filtered page: errors only | ${ms(m.filteredErrors)} | ≤ 300 ms |`,
    `| filtered page: one day, one extension | ${ms(m.filteredRange)} | ≤ 300 ms |`,
    `| page 20 by cursor | ${ms(m.page20)} | ≤ 300 ms |`,
    `| first page right after a write to a live turn | ${ms(m.afterWrite)} | ≤ 300 ms |`,
    `| first page right after a compaction of 6 hot hours (ms), and the index's refresh in all (ms) | ${fmt(m.afterCompaction.firstMs)}, ${fmt(m.afterCompaction.refreshMs)} | ≤ 300 ms |`,
    `| usage by day and model, the whole month | ${ms(m.usage)} | |`,
    `| JS heap / RSS once warm (MB) | ${fmt(m.heapMB)} / ${fmt(m.rssMB)} | |`,
  ];
}
