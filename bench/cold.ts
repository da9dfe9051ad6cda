/**
 * The cold-tier half of `npm run bench`, run as child processes by run.ts:
 *   tsx bench/cold.ts <dir> <records> prepare   ingest a month of turns (bench/month.ts), close
 *   tsx bench/cold.ts <dir> <records> compact   open, compact everything (peak RSS sampled: this
 *                                               process does nothing else); JSON out
 *   tsx bench/cold.ts <dir> <records> read      open, cold reads after one pass over the files (the
 *                                               steady state of a long-running reader); JSON out
 *   tsx bench/cold.ts <dir> <records> retention open, gc (nothing to delete: the full mark and plan),
 *                                               then prune every partition away; peak RSS, du; JSON out
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { diskBytes } from "../src/disk-usage.js";
import { openStore, type TraceRecord } from "../src/index.js";
import { DAY, MONTH_START, monthOfTurns } from "./month.js";
import { latency, timed } from "./stats.js";

const [dir, countArg, mode] = process.argv.slice(2) as [string, string, string];
const COUNT = Number(countArg);

async function prepare(): Promise<void> {
  const store = await openStore({ dir, durability: "none" });
  let batch: TraceRecord[] = [];
  for (const t of monthOfTurns(COUNT)) {
    batch.push(...t);
    if (batch.length >= 2000) {
      await store.insertRecords(batch);
      batch = [];
    }
  }
  await store.insertRecords(batch);
  await store.close();
}

async function compact(): Promise<void> {
  const store = await openStore({ dir });
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  let moved = 0;
  const seconds = await timed(async () => {
    moved = (await store.compact({ now: MONTH_START + 40 * DAY })).recordsMoved;
  });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const stats = await store.stats();
  await store.close();
  const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    files: { bytes: number }[];
  };
  const coldBytes = manifest.files.reduce((s, f) => s + f.bytes, 0);
  const out = {
    moved,
    seconds,
    rate: moved / seconds,
    rssBeforeMB: rssBefore / 2 ** 20,
    peakRssMB: peak / 2 ** 20,
    files: manifest.files.length,
    partitions: stats.coldPartitions,
    coldBytesPerRecord: coldBytes / stats.coldRecords,
  };
  process.stdout.write(JSON.stringify(out));
}

async function read(): Promise<void> {
  const turnIds: string[] = [];
  for (const t of monthOfTurns(COUNT)) turnIds.push(t[0]!.turnId!);
  const store = await openStore({ dir });
  const perDay = Math.ceil(turnIds.length / 30);
  for (let d = 0; d < 30; d++) await store.getTurn(turnIds[d * perDay]!, { bodies: false }); // one pass over the files
  const pick = (i: number) => turnIds[(i * 7919) % turnIds.length]!;
  const getTurn = await latency(1000, 100, (i) => store.getTurn(pick(i), { bodies: false }));
  const hour = (i: number) => MONTH_START + ((i * 7919) % (29 * 24)) * 3_600_000;
  const query = await latency(300, 30, (i) =>
    store.query({ from: hour(i), to: hour(i) + 3_600_000, bodies: false }),
  );
  const hourRows = (await store.query({ from: hour(0), to: hour(0) + 3_600_000, bodies: false })).length;
  await store.close();
  process.stdout.write(JSON.stringify({ getTurn, query, hourRows }));
}

/** Peak RSS while `fn` runs (this process does nothing else), in MB. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakMB: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  let value!: T;
  const seconds = await timed(async () => {
    value = await fn();
  });
  clearInterval(sampler);
  return { value, seconds, peakMB: Math.max(peak, process.memoryUsage().rss) / 2 ** 20 };
}

async function retention(): Promise<void> {
  const store = await openStore({ dir });
  const before = await store.stats();
  const rssBeforeMB = process.memoryUsage().rss / 2 ** 20;
  const gc = await peakRss(() => store.gc());
  const duBefore = await diskBytes(dir, true);
  const prune = await peakRss(() => store.prune({ maxColdBytes: 0 }));
  await store.close();
  const duAfter = await diskBytes(dir, true);
  process.stdout.write(
    JSON.stringify({ before, rssBeforeMB, gc, prune, duBefore, duAfter, freed: duBefore - duAfter }),
  );
}

const modes: Record<string, () => Promise<void>> = { prepare, compact, read, retention };
void modes[mode]!();
