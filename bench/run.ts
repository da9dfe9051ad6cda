/**
 * `npm run bench`: tracetier against the seed's SQLite store, in one run, on one generated workload.
 * Prints a markdown table of figures and ratios (docs/performance.md keeps the latest one), then the
 * measured choices (docs/decisions.md). Options: --quick (smaller workload), --skip-decisions.
 */
import { execFileSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { diskBytes } from "../src/disk-usage.js";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { generateTurns } from "../src/workload/generator.js";
import { openBaseline } from "./baseline-sqlite.js";
import { collectorBench, collectorLines } from "./collector.js";
import { runDecisions } from "./decisions.js";
import { cleanup, fmt, scratch, timed } from "./stats.js";

const quick = process.argv.includes("--quick");
const BATCH = 500;
const CONCURRENT = 32;

interface Row {
  metric: string;
  tracetier: string;
  baseline: string;
  ratio: string;
  goal: string;
}
const rows: Row[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const turns = [...generateTurns({ conversations: quick ? 15 : 60, turnsPerConversation: 12, seed: 1 })];
  const records = turns.flat();
  const rawBytes = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  const singles = records.slice(0, quick ? 2000 : 6000);
  log(`workload: ${records.length} records, ${fmt(rawBytes / 1e6, 1)} MB of JSON, ${turns.length} turns`);

  // --- durable ingest, batches of 500
  const seedRate = await baselineIngest(records, "seed");
  const fastRate = await baselineIngest(records, "fast");
  const ttDir = scratch("tt");
  let store = await openStore({ dir: ttDir });
  const ttSecs = await timed(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  const ttRate = records.length / ttSecs;
  log(`tracetier batch-${BATCH}: ${fmt(ttRate)} records/s`);
  rows.push(row("durable ingest, batches of 500 (records/s) vs seed as written", ttRate, seedRate, "≥ 5×"));
  rows.push(row("durable ingest, batches of 500 (records/s) vs seed with fast id", ttRate, fastRate, "≥ 2×"));
  rows.push({
    metric: "durable ingest, batches of 500 (MB/s of JSON)",
    tracetier: fmt(rawBytes / 1e6 / ttSecs, 1),
    baseline: `${fmt((seedRate * rawBytes) / records.length / 1e6, 1)} / ${fmt((fastRate * rawBytes) / records.length / 1e6, 1)}`,
    ratio: "",
    goal: "",
  });

  // --- single-record inserts, 32 concurrent callers (group commit) vs one-record commits
  const baseSingle = await baselineSingles(singles.slice(0, quick ? 500 : 1500));
  const singleDir = scratch("tt-single");
  const singleStore = await openStore({ dir: singleDir });
  let next = 0;
  const singleSecs = await timed(() =>
    Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < singles.length) await singleStore.insertRecords([singles[next++]!]);
      }),
    ),
  );
  await singleStore.close();
  const singleRate = singles.length / singleSecs;
  log(`tracetier single x${CONCURRENT}: ${fmt(singleRate)} records/s`);
  rows.push(
    row(
      `single-record inserts, ${CONCURRENT} concurrent callers (records/s)`,
      singleRate,
      baseSingle,
      "≥ 5×",
    ),
  );
  // The same records in batches of 500, for a like-for-like ratio (later records dedup more).
  const sameDir = scratch("tt-same");
  const sameStore = await openStore({ dir: sameDir });
  const sameSecs = await timed(async () => {
    for (let i = 0; i < singles.length; i += BATCH)
      await sameStore.insertRecords(singles.slice(i, i + BATCH));
  });
  await sameStore.close();
  const sameRate = singles.length / sameSecs;
  rows.push({
    metric: `single-record rate ÷ batch-500 rate on the same ${singles.length} records (${fmt(sameRate)}/s)`,
    tracetier: `${fmt((100 * singleRate) / sameRate)}%`,
    baseline: "",
    ratio: "",
    goal: "≥ 80%",
  });

  // --- reads, hot, in a separate process for both stores (see reads.ts)
  await store.close();
  const sqlitePath = join(scratch("read"), "trace.db");
  const base = openBaseline(sqlitePath, "fast");
  for (let i = 0; i < records.length; i += BATCH) base.insertRecords(records.slice(i, i + BATCH));
  base.close();
  const big = records.filter(
    (r) => r.body !== undefined && r.body.length >= 90_000 && r.body.length <= 110_000,
  );
  const idsFile = join(scratch("ids"), "ids.json");
  writeFileSync(
    idsFile,
    JSON.stringify({ turnIds: turns.map((t) => t[0]!.turnId!), bigIds: big.map((r) => stableId(r)) }),
  );
  const reads = JSON.parse(
    execFileSync(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./reads.ts", import.meta.url)), ttDir, sqlitePath, idsFile],
      {
        encoding: "utf8",
      },
    ),
  ) as Record<string, { p50: number; p99: number }>;
  const readRows: [label: string, key: string, baseline: string, q: "p50" | "p99", goal: string][] = [
    ["getTurn with bodies, first read after open, p50 (ms)", "first.cached", "first.baseline", "p50", ""],
    ["getTurn with bodies, first read after open, p99 (ms)", "first.cached", "first.baseline", "p99", ""],
    [
      "getTurn with bodies, first read, chunk cache off, p99 (ms)",
      "first.uncached",
      "first.baseline",
      "p99",
      "",
    ],
    ["getTurn with bodies p50 (ms)", "turn.cached", "turn.baseline", "p50", ""],
    ["getTurn with bodies p99 (ms)", "turn.cached", "turn.baseline", "p99", "≤ 2 ms"],
    ["getTurn with bodies p50, chunk cache off (ms)", "turn.uncached", "turn.baseline", "p50", ""],
    ["getTurn with bodies p99, chunk cache off (ms)", "turn.uncached", "turn.baseline", "p99", "≤ 2 ms"],
    ["getTurn thin p50 (ms)", "thin.cached", "thin.baseline", "p50", ""],
    ["getTurn thin p99 (ms)", "thin.cached", "thin.baseline", "p99", ""],
    [
      `getBody of a ~100 KB body p99 (ms; ${big.length} such bodies)`,
      "body.cached",
      "body.baseline",
      "p99",
      "≤ 2 ms",
    ],
    [
      "getBody of a ~100 KB body p99, chunk cache off (ms)",
      "body.uncached",
      "body.baseline",
      "p99",
      "≤ 2 ms",
    ],
  ];
  for (const [label, key, baseline, q, goal] of readRows) {
    rows.push(latRow(label, reads[key]![q], reads[baseline]![q], goal));
  }

  // --- disk
  store = await openStore({ dir: ttDir });
  const stats = await store.stats();
  await store.close();
  const ttDisk = await diskBytes(ttDir);
  const baseDisk = baselineDiskBytes;
  rows.push({
    metric: "disk bytes ÷ raw JSON bytes",
    tracetier: (ttDisk / rawBytes).toFixed(3),
    baseline: (baseDisk / rawBytes).toFixed(3),
    ratio: `${fmt(baseDisk / ttDisk, 1)}× smaller`,
    goal: "≤ 0.10",
  });
  rows.push({
    metric: "body bytes stored ÷ original body bytes",
    tracetier: (stats.bodyBytesStored / stats.bodyBytesOriginal).toFixed(3),
    baseline: "",
    ratio: "",
    goal: "",
  });

  await pruneRows(records, ttDir, sqlitePath);
  printTable(records.length, rawBytes);
  process.stdout.write(`${collectorLines(await collectorBench(records)).join("\n")}\n`);
  coldTable(quick ? 100_000 : 1_000_000);
  if (!process.argv.includes("--skip-decisions")) await runDecisions(records, quick);
}

let baselineDiskBytes = 0;

/**
 * Retention on the same records in both stores: everything before the median timestamp goes (records
 * and the bodies only they referred to). Time, and what the file system got back.
 */
async function pruneRows(records: TraceRecord[], ttDir: string, sqlitePath: string): Promise<void> {
  const times = records.map((r) => r.timestamp).sort((a, b) => a - b);
  const cutoff = times[Math.floor(times.length / 2)]!;
  const base = openBaseline(sqlitePath, "fast");
  const baseBefore = statSync(sqlitePath).blocks * 512;
  let baseCounts = { recordsDeleted: 0, bodiesDeleted: 0 };
  const baseSecs = await timed(() => {
    baseCounts = base.prune(cutoff);
  });
  base.close();
  const baseFreed = baseBefore - statSync(sqlitePath).blocks * 512;
  const store = await openStore({ dir: ttDir });
  const duBefore = await diskBytes(ttDir);
  let result: Awaited<ReturnType<typeof store.prune>> | undefined;
  const ttSecs = await timed(async () => {
    result = await store.prune({ maxAgeMs: 0 }, { now: cutoff });
  });
  await store.close();
  const freed = duBefore - (await diskBytes(ttDir));
  log(`prune: tracetier ${JSON.stringify(result)}; sqlite ${JSON.stringify(baseCounts)}`);
  rows.push(
    latRow(
      `prune by age, half of the records (${fmt(result!.recordsDeleted)}) and their bodies (ms)`,
      ttSecs * 1000,
      baseSecs * 1000,
      "",
    ),
  );
  rows.push({
    metric: "disk the file system got back after that prune (MB; bytesReclaimed reported)",
    tracetier: `${fmt(freed / 1e6, 1)} (${fmt(result!.bytesReclaimed / 1e6, 1)})`,
    baseline: fmt(baseFreed / 1e6, 1),
    ratio: "",
    goal: "freed ≥ 95% of bytesReclaimed",
  });
}

/** The cold tier, in child processes: one prepares a month of turns, a fresh one compacts and reads. */
function coldTable(n: number): void {
  const dir = scratch("cold");
  const script = fileURLToPath(new URL("./cold.ts", import.meta.url));
  const child = (mode: string) =>
    execFileSync(process.execPath, ["--import", "tsx", script, dir, String(n), mode], {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    });
  child("prepare");
  const c = JSON.parse(child("compact")) as {
    moved: number;
    rate: number;
    rssBeforeMB: number;
    peakRssMB: number;
    files: number;
    partitions: number;
    coldBytesPerRecord: number;
  };
  const r = JSON.parse(child("read")) as {
    getTurn: { p50: number; p99: number };
    query: { p50: number; p99: number };
    hourRows: number;
  };
  const ret = JSON.parse(child("retention")) as RetentionFigures;
  const lines = [
    "",
    `Cold tier: a month of turns, ${fmt(c.moved)} records compacted into ${c.partitions} daily partitions (${c.files} files), in a fresh process.`,
    "",
    "| metric | tracetier | goal |",
    "|---|---:|---|",
    `| compaction (records/s) | ${fmt(c.rate)} | ≥ 100,000 |`,
    `| peak RSS while compacting (MB; ${fmt(c.rssBeforeMB)} MB before it started) | ${fmt(c.peakRssMB)} | ≤ 256 |`,
    `| cold getTurn p50 / p99 (ms), thin, fresh reader process | ${fmt(r.getTurn.p50, 2)} / ${fmt(r.getTurn.p99, 2)} | p99 ≤ 15 |`,
    `| one-hour query p50 / p99 (ms; ${r.hourRows} records per hour) | ${fmt(r.query.p50, 2)} / ${fmt(r.query.p99, 2)} | p50 ≤ 15 |`,
    `| cold bytes per record (Parquet, bodies apart) | ${fmt(c.coldBytesPerRecord, 1)} | ≤ 60 |`,
    ...retentionLines(ret),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

interface RetentionFigures {
  before: { coldRecords: number; bodies: number };
  rssBeforeMB: number;
  gc: { seconds: number; peakMB: number };
  prune: {
    seconds: number;
    peakMB: number;
    value: {
      partitionsDropped: number;
      recordsDeleted: number;
      bodiesDeleted: number;
      bytesReclaimed: number;
      timings: { dropMs: number; hotMs: number; bodiesMs: number; reclaimMs: number };
    };
  };
  freed: number;
}

function retentionLines(r: RetentionFigures): string[] {
  const p = r.prune.value;
  const t = p.timings;
  return [
    `| gc over ${fmt(r.before.coldRecords)} records and ${fmt(r.before.bodies)} bodies (s) | ${fmt(r.gc.seconds, 2)} | ≤ 5 |`,
    `| peak RSS during that gc (MB; ${fmt(r.rssBeforeMB)} MB before) | ${fmt(r.gc.peakMB)} | ≤ 256 |`,
    `| prune dropping ${p.partitionsDropped} partitions (${fmt(p.recordsDeleted)} records): drop step (s) | ${fmt(t.dropMs / 1000, 2)} | ≤ 1 |`,
    `| the same prune in all: + GC of ${fmt(p.bodiesDeleted)} orphaned bodies ${fmt(t.bodiesMs / 1000, 2)} s + LevelDB rewrite ${fmt(t.reclaimMs / 1000, 2)} s (s) | ${fmt(r.prune.seconds, 2)} | |`,
    `| disk freed (du) ÷ bytesReclaimed reported | ${fmt((100 * r.freed) / p.bytesReclaimed, 1)}% | ≥ 95% |`,
  ];
}

async function baselineIngest(records: TraceRecord[], idImpl: "seed" | "fast"): Promise<number> {
  const path = join(scratch(`sqlite-${idImpl}`), "trace.db");
  const db = openBaseline(path, idImpl);
  const secs = await timed(() => {
    for (let i = 0; i < records.length; i += BATCH) db.insertRecords(records.slice(i, i + BATCH));
  });
  db.close();
  if (idImpl === "fast") baselineDiskBytes = statSync(path).blocks * 512;
  log(`baseline (${idImpl} id) batch-${BATCH}: ${fmt(records.length / secs)} records/s`);
  return records.length / secs;
}

async function baselineSingles(records: TraceRecord[]): Promise<number> {
  const db = openBaseline(join(scratch("sqlite-single"), "trace.db"), "seed");
  const secs = await timed(() => {
    for (const r of records) db.insertRecords([r]);
  });
  db.close();
  log(`baseline one-record commits: ${fmt(records.length / secs)} records/s`);
  return records.length / secs;
}

function row(metric: string, tt: number, base: number, goal: string): Row {
  return { metric, tracetier: fmt(tt), baseline: fmt(base), ratio: `${fmt(tt / base, 2)}×`, goal };
}

function latRow(metric: string, tt: number, base: number, goal: string): Row {
  return {
    metric,
    tracetier: fmt(tt, 2),
    baseline: fmt(base, 2),
    ratio: `${fmt(base / tt, 1)}× faster`,
    goal,
  };
}

function printTable(n: number, raw: number): void {
  const out = [
    `Workload: ${fmt(n)} records, ${fmt(raw / 1e6, 1)} MB of JSON (generated, seed 1). Baseline: seed SQLite store (better-sqlite3, synchronous=FULL).`,
    "",
    "| metric | tracetier | baseline | ratio | goal |",
    "|---|---:|---:|---:|---|",
    ...rows.map((r) => `| ${r.metric} | ${r.tracetier} | ${r.baseline} | ${r.ratio} | ${r.goal} |`),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
