/**
 * The cold-tier half of `npm run bench`, run as child processes by run.ts, one measurement per fresh
 * process (its RSS is the measurement's own, and nothing is warm that a real process would not have):
 *   tsx bench/cold.ts <dir> <records> prepare   [days]  ingest turns over `days` days (bench/month.ts;
 *                                                       default 30), close
 *   tsx bench/cold.ts <dir> <records> compact   [days]  open, compact everything (peak RSS sampled:
 *                                                       this process does nothing else); JSON out
 *   tsx bench/cold.ts <dir> <records> hotbytes          what the hot LevelDB still holds per cold record
 *                                                       (store closed): keyspace bytes, du; JSON out
 *   tsx bench/cold.ts <dir> <records> read      [days]  open, cold reads after one pass over the days
 *                                                       (the steady state of a long-running reader)
 *   tsx bench/cold.ts <dir> <records> first <turnId>    open, then one cold getTurn: the first read
 *   tsx bench/cold.ts <dir> <records> retention         open, gc (nothing to delete: the full mark and
 *                                                       plan), then prune every partition away; JSON out
 *
 * Only the public API (src/index.ts) and on-disk facts (the directory layout, LevelDB keys by their
 * first byte) are used, so that the same file measures any version of the tiers.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { diskBytes } from "../src/base/disk-usage.js";
import { openStore, type TraceRecord } from "../src/index.js";
import { DAY, MONTH_START, turnsOver } from "./month.js";
import { latency, timed } from "./stats.js";

const [dir, countArg, mode, arg] = process.argv.slice(2) as [string, string, string, string | undefined];
const COUNT = Number(countArg);
const DAYS = Number(arg ?? 30); // not used by `first`, whose argument is a turn id
const MB = 2 ** 20;

async function prepare(): Promise<void> {
  const store = await openStore({ dir, durability: "none" });
  let batch: TraceRecord[] = [];
  for (const t of turnsOver(COUNT, DAYS)) {
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
  // CPU time of the whole process (worker threads included): on a shared machine the wall-clock rate
  // moves with the load, the CPU seconds much less.
  const cpuBefore = process.cpuUsage();
  // `now` well after the last day: everything is older than the default 24 h age, all of it moves.
  const run = await peakRss(() => store.compact({ now: MONTH_START + (DAYS + 10) * DAY }), 10);
  const cpu = process.cpuUsage(cpuBefore);
  const stats = await store.stats();
  await store.close();
  const out = {
    cpuSecs: (cpu.user + cpu.system) / 1e6,
    moved: run.value.recordsMoved,
    seconds: run.seconds,
    rate: run.value.recordsMoved / run.seconds,
    rssBeforeMB: rssBefore / MB,
    peakRssMB: run.peakMB,
    files: await parquetFiles(join(dir, "cold")),
    partitions: stats.coldPartitions,
    coldBytesPerRecord: stats.coldBytes / stats.coldRecords,
  };
  process.stdout.write(JSON.stringify(out));
}

/** Parquet files under the cold directory (Hive layout: one directory per partition). */
async function parquetFiles(coldDir: string): Promise<number> {
  const entries = await readdir(coldDir, { recursive: true });
  return entries.filter((e) => e.endsWith(".parquet")).length;
}

/**
 * Body keyspaces (b, k, e: tiers/hot/keys.ts) are what the hot tier holds for bodies, whatever tier
 * their records are in; everything else left after a full compaction is the hot tier's cost per cold
 * record (issue 11: ≤ 0.5 bytes per cold record).
 */
const BODY_PREFIXES = new Set(["b", "k", "e"]);

async function hotbytes(): Promise<void> {
  const store = await openStore({ dir });
  const { coldRecords, hotRecords } = await store.stats();
  await store.close();
  const hotDir = join(dir, "hot");
  // du first: opening the LevelDB below may flush its log into a table and change the figure.
  const du = await diskBytes(hotDir, true);
  const keyspaces = await keyspaceBytes(hotDir);
  let nonBody = 0;
  for (const [prefix, k] of Object.entries(keyspaces)) if (!BODY_PREFIXES.has(prefix)) nonBody += k.bytes;
  process.stdout.write(JSON.stringify({ coldRecords, hotRecords, du, nonBody, keyspaces }));
}

/** Entries and key + value bytes per keyspace (first key byte), read from the closed store's LevelDB. */
async function keyspaceBytes(path: string): Promise<Record<string, { entries: number; bytes: number }>> {
  const db = new ClassicLevel<Buffer, Buffer>(path, {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
    createIfMissing: false,
  });
  await db.open();
  const out: Record<string, { entries: number; bytes: number }> = {};
  const it = db.iterator({ fillCache: false });
  try {
    for (let page = await it.nextv(4096); page.length > 0; page = await it.nextv(4096)) {
      for (const [key, value] of page) {
        const prefix = String.fromCharCode(key[0]!);
        const k = out[prefix] ?? { entries: 0, bytes: 0 };
        k.entries++;
        k.bytes += key.length + value.length;
        out[prefix] = k;
      }
    }
  } finally {
    await it.close();
    await db.close();
  }
  return out;
}

/** The turn ids `turnsOver` generates, in order (a reader process has the ids, not the records). */
function allTurnIds(): string[] {
  const ids: string[] = [];
  for (const t of turnsOver(COUNT, DAYS)) ids.push(t[0]!.turnId!);
  return ids;
}

async function read(): Promise<void> {
  const turnIds = allTurnIds();
  const store = await openStore({ dir });
  const perDay = Math.ceil(turnIds.length / DAYS);
  // One pass over the days (a turn of each), as a long-running reader would have made.
  for (let d = 0; d < DAYS; d++) await store.getTurn(turnIds[d * perDay]!, { bodies: false });
  const pick = (i: number) => turnIds[(i * 7919) % turnIds.length]!;
  const getTurn = await latency(1000, 100, (i) => store.getTurn(pick(i), { bodies: false }));
  const hour = (i: number) => MONTH_START + ((i * 7919) % ((DAYS - 1) * 24)) * 3_600_000;
  const query = await latency(300, 30, (i) =>
    store.query({ from: hour(i), to: hour(i) + 3_600_000, bodies: false }),
  );
  const hourRows = (await store.query({ from: hour(0), to: hour(0) + 3_600_000, bodies: false })).length;
  await store.close();
  // Turns for the `first` processes, spread over the whole span.
  const samples = Array.from({ length: 10 }, (_, i) => turnIds[(i * 104_729 + 17) % turnIds.length]!);
  process.stdout.write(JSON.stringify({ getTurn, query, hourRows, samples }));
}

/**
 * The first cold read of a fresh process: openStore, then one getTurn of a cold turn. Both timed
 * apart (whatever a tier loads at open or defers to the first read, the sum is what a caller waits).
 */
async function first(): Promise<void> {
  const turnId = arg!;
  let store!: Awaited<ReturnType<typeof openStore>>;
  const openSecs = await timed(async () => {
    store = await openStore({ dir });
  });
  let rows = 0;
  const readSecs = await timed(async () => {
    rows = (await store.getTurn(turnId, { bodies: false })).length;
  });
  await store.close();
  if (rows === 0) throw new Error(`turn ${turnId} not found`); // a miss would measure nothing
  process.stdout.write(JSON.stringify({ openMs: openSecs * 1000, firstMs: readSecs * 1000, rows }));
}

/** Peak RSS while `fn` runs (this process does nothing else), in MB, sampled every `everyMs`. */
async function peakRss<T>(
  fn: () => Promise<T>,
  everyMs = 5,
): Promise<{ value: T; seconds: number; peakMB: number }> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, everyMs);
  let value!: T;
  const seconds = await timed(async () => {
    value = await fn();
  });
  clearInterval(sampler);
  return { value, seconds, peakMB: Math.max(peak, process.memoryUsage().rss) / MB };
}

async function retention(): Promise<void> {
  const store = await openStore({ dir });
  const before = await store.stats();
  const rssBeforeMB = process.memoryUsage().rss / MB;
  const gc = await peakRss(() => store.gc());
  const duBefore = await diskBytes(dir, true);
  const prune = await peakRss(() => store.prune({ maxColdBytes: 0 }));
  await store.close();
  const duAfter = await diskBytes(dir, true);
  process.stdout.write(
    JSON.stringify({ before, rssBeforeMB, gc, prune, duBefore, duAfter, freed: duBefore - duAfter }),
  );
}

const modes: Record<string, () => Promise<void>> = { prepare, compact, hotbytes, read, first, retention };
modes[mode]!().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
