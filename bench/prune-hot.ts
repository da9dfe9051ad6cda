/**
 * The "prune by age" row of `npm run bench` alone, on a heavier-bodied workload and without the rest of
 * the run: tracetier against the SQLite baseline on the same records, back to back.
 *
 *   tsx bench/prune-hot.ts prepare <dir> [conversations] [turnsPerConversation]
 *       writes both stores under <dir> (once; ingest is the slow part)
 *   tsx bench/prune-hot.ts run <dir>
 *       copies both stores to scratch directories and prunes everything before the median timestamp
 *       in each (SQLite first, as in bench/run.ts), then prints one JSON line of times and counts
 *
 * Profile tracetier's side with `node --cpu-prof --import tsx bench/prune-hot.ts run <dir> --only-tt`.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskBytes } from "../src/base/disk-usage.js";
import { openStore } from "../src/index.js";
import { generateTurns } from "../src/workload/generator.js";
import { openBaseline } from "./baseline-sqlite.js";
import { cleanup, scratch, timed } from "./stats.js";

const BATCH = 500;

async function prepare(dir: string, conversations: number, turns: number): Promise<void> {
  const records = [...generateTurns({ conversations, turnsPerConversation: turns, seed: 1 })].flat();
  const json = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  const store = await openStore({ dir: join(dir, "tt") });
  const base = openBaseline(join(dir, "base.db"), "fast");
  for (let i = 0; i < records.length; i += BATCH) {
    const part = records.slice(i, i + BATCH);
    await store.insertRecords(part);
    base.insertRecords(part);
  }
  await store.close();
  base.close();
  const times = records.map((r) => r.timestamp).sort((a, b) => a - b);
  const cutoff = times[Math.floor(times.length / 2)]!;
  writeFileSync(join(dir, "meta.json"), JSON.stringify({ records: records.length, json, cutoff }));
  process.stdout.write(`${JSON.stringify({ records: records.length, jsonMB: json / 1e6, cutoff })}\n`);
}

async function run(dir: string, onlyTt: boolean): Promise<void> {
  const { cutoff, records } = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as {
    cutoff: number;
    records: number;
  };
  const out: Record<string, unknown> = { records };
  if (!onlyTt) {
    const sqlite = join(scratch("prune-base"), "base.db");
    execFileSync("cp", [join(dir, "base.db"), sqlite]);
    const base = openBaseline(sqlite, "fast");
    const before = statSync(sqlite).blocks * 512;
    let counts = {};
    const cpu = cpuMs();
    out.sqliteMs = (await timed(() => (counts = base.prune(cutoff)))) * 1000;
    out.sqliteCpuMs = cpuMs() - cpu;
    base.close();
    out.sqlite = { ...counts, freedMB: (before - statSync(sqlite).blocks * 512) / 1e6 };
  }
  const tt = join(scratch("prune-tt"), "tt");
  execFileSync("cp", ["-r", join(dir, "tt"), tt]);
  const store = await openStore({ dir: tt });
  const before = await diskBytes(tt);
  let result: Awaited<ReturnType<typeof store.prune>> | undefined;
  const cpu = cpuMs();
  out.tracetierMs =
    (await timed(async () => (result = await store.prune({ maxAgeMs: 0 }, { now: cutoff })))) * 1000;
  out.tracetierCpuMs = cpuMs() - cpu;
  await store.close();
  out.tracetier = { ...result, freedMB: (before - (await diskBytes(tt))) / 1e6 };
  if (out.sqliteMs !== undefined) {
    out.ratio = (out.tracetierMs as number) / (out.sqliteMs as number);
    out.cpuRatio = (out.tracetierCpuMs as number) / (out.sqliteCpuMs as number);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** CPU time of this process, all threads (LevelDB's and SQLite's work included), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const [mode, dir, a, b] = process.argv.slice(2);
try {
  if (mode === "prepare" && dir) await prepare(dir, Number(a ?? 30), Number(b ?? 30));
  else if (mode === "run" && dir) await run(dir, process.argv.includes("--only-tt"));
  else throw new Error("usage: prune-hot.ts prepare <dir> [conversations] [turns] | run <dir> [--only-tt]");
} finally {
  cleanup();
}
