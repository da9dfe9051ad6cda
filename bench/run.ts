/**
 * `npm run bench`: tracetier against the seed's SQLite store, in one run, on one generated workload.
 * Prints a markdown table of figures and ratios (docs/performance.md keeps the latest one), the cold
 * tier's table (bench/cold-report.ts), then the measured choices (docs/decisions.md).
 *
 * Options:
 *   --quick             smaller workloads (100k cold records instead of 1M)
 *   --only a,b          only these scenarios, to iterate on one part quickly: ingest, reads, disk,
 *                       prune (hot prune against SQLite), prune-thin (the same on 220k thin
 *                       records), collector, cold (30 daily partitions), year (365), decisions,
 *                       cold-10m, turns (the turns list and usage over the month, bench/turns.ts),
 *                       search (full-text search: its costs and speeds, bench/search.ts)
 *   --skip-decisions    all but the decisions
 *   --cold-10m          add cold-10m: 10M records over 30 days, compacted, hot bytes per cold record
 *                       (about 25 minutes on an idle 2-core machine, so not in the default run)
 *   --profile a,b       the workload profiles the hot scenarios (ingest, reads, disk) run on, each with
 *                       its own table: agent (src/workload's default) and diverse (less repetition,
 *                       ~690 KB of bodies a turn); default both. Prune, the collector and the
 *                       decisions run on the first profile given.
 */
import { execFileSync } from "node:child_process";
import { cpSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { diskBytes } from "../src/base/disk-usage.js";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { generateTurns, WORKLOAD_PROFILES, type WorkloadProfile } from "../src/workload/generator.js";
import { openBaseline } from "./baseline-sqlite.js";
import { type ColdSpan, coldTables } from "./cold-report.js";
import { collectorBench, collectorLines } from "./collector.js";
import { runDecisions } from "./decisions.js";
import { turnsOver } from "./month.js";
import { searchTables } from "./search.js";
import { cleanup, fmt, scratch, timed } from "./stats.js";
import { turnsTable } from "./turns-report.js";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const BATCH = 500;
const CONCURRENT = 32;

const SCENARIOS =
  "ingest reads disk prune prune-thin collector cold year decisions cold-10m turns search".split(" ");
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1]?.split(",") : undefined;
for (const s of only ?? []) if (!SCENARIOS.includes(s)) throw new Error(`--only: no scenario ${s}`);
const profiles = (
  argv.includes("--profile") ? argv[argv.indexOf("--profile") + 1]?.split(",") : [...WORKLOAD_PROFILES]
) as WorkloadProfile[];
for (const p of profiles) if (!WORKLOAD_PROFILES.includes(p)) throw new Error(`--profile: no profile ${p}`);
function want(s: string): boolean {
  if (only) return only.includes(s);
  if (s === "decisions") return !argv.includes("--skip-decisions");
  if (s === "cold-10m") return argv.includes("--cold-10m");
  return true;
}

interface Row {
  metric: string;
  tracetier: string;
  baseline: string;
  ratio: string;
  goal: string;
}
const rows: Row[] = [];
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Workload {
  profile: WorkloadProfile;
  turns: TraceRecord[][];
  records: TraceRecord[];
  rawBytes: number;
}

/** Both stores holding the whole workload, as ingest left them. */
interface Stores {
  ttDir: string;
  sqlitePath: string;
}

async function main(): Promise<void> {
  const hotScenarios = ["ingest", "reads", "disk", "prune"].filter(want);
  let first: Workload | undefined;
  for (const [i, profile] of profiles.entries()) {
    const needed = hotScenarios.length > 0 || (i === 0 && (want("collector") || want("decisions")));
    if (!needed) continue;
    const w = workload(profile);
    if (i === 0) first = w;
    if (hotScenarios.length > 0) {
      const stores = await ingestBoth(w, i === 0);
      if (want("ingest") && i === 0) await singleRows(w.records);
      if (want("reads")) readRows(w.turns, w.records, stores);
      if (want("disk")) await diskRows(w.rawBytes, stores.ttDir, profile);
      if (want("prune") && i === 0)
        await pruneRows(w.records, stores.ttDir, stores.sqlitePath, "half of a never-compacted store");
      printTable(w);
      rows.length = 0;
      cleanup(); // this profile's stores: the next profile's are as large
    }
  }
  if (want("prune-thin")) await pruneThinRows();
  if (rows.length > 0) printTable(undefined);
  if (first && want("collector"))
    process.stdout.write(`${collectorLines(await collectorBench(first.records)).join("\n")}\n`);
  if (first && want("decisions")) await runDecisions(first.records, quick);
  const spans = coldSpans();
  if (spans.length > 0) process.stdout.write(`${coldTables(spans).join("\n")}\n`);
  if (want("turns")) process.stdout.write(`${(await turnsTable(quick ? 100_000 : 1_000_000)).join("\n")}\n`);
  if (want("search")) process.stdout.write(`${(await searchTables(profiles, quick)).join("\n")}\n`);
}

function coldSpans(): ColdSpan[] {
  const cold = quick ? 100_000 : 1_000_000;
  const spans: ColdSpan[] = [];
  if (want("cold")) spans.push({ records: cold, days: 30, retention: true });
  // A quarter of the month's records over a year: still a turn every hour, so every hour of 365 days
  // is a file (8,760), 12× the month's; a year at the month's density (13M records) would take the
  // default run past what it can afford.
  if (want("year")) spans.push({ records: cold / 4, days: 365, retention: false });
  if (want("cold-10m")) spans.push({ records: 10_000_000, days: 30, retention: false, compactOnly: true });
  return spans;
}

/**
 * The generated workload of a profile. Diverse turns are about three times as heavy as agent ones, so
 * it gets half the conversations (360 turns, about 264 MB of JSON; 720 and 180 MB for agent).
 */
function workload(profile: WorkloadProfile): Workload {
  const conversations = profile === "diverse" ? (quick ? 8 : 30) : quick ? 15 : 60;
  const turns = [...generateTurns({ conversations, turnsPerConversation: 12, seed: 1, profile })];
  const records = turns.flat();
  const rawBytes = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  log(
    `workload ${profile}: ${records.length} records, ${fmt(rawBytes / 1e6, 1)} MB of JSON, ${turns.length} turns`,
  );
  return { profile, turns, records, rawBytes };
}

/**
 * Durable ingest, batches of 500, into both stores (the SQLite one with the fast id: it is the one
 * reads and prune compare against). The seed's own id is measured only for the ingest rows of the
 * first profile (`withSeed`).
 */
async function ingestBoth(w: Workload, withSeed: boolean): Promise<Stores> {
  const { records, rawBytes } = w;
  const seedRate = want("ingest") && withSeed ? await baselineIngest(records, "seed") : 0;
  const sqlitePath = join(scratch("sqlite-fast"), "trace.db");
  const fastRate = await baselineIngest(records, "fast", sqlitePath);
  const ttDir = scratch("tt");
  const store = await openStore({ dir: ttDir });
  const ttSecs = await timed(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  await store.close();
  const ttRate = records.length / ttSecs;
  log(`tracetier batch-${BATCH}: ${fmt(ttRate)} records/s`);
  if (!want("ingest")) return { ttDir, sqlitePath };
  if (withSeed)
    rows.push(row("durable ingest, batches of 500 (records/s) vs seed as written", ttRate, seedRate, "≥ 5×"));
  rows.push(row("durable ingest, batches of 500 (records/s) vs seed with fast id", ttRate, fastRate, "≥ 2×"));
  rows.push({
    metric: "durable ingest, batches of 500 (MB/s of JSON)",
    tracetier: fmt(rawBytes / 1e6 / ttSecs, 1),
    baseline: `${withSeed ? `${fmt((seedRate * rawBytes) / records.length / 1e6, 1)} / ` : ""}${fmt((fastRate * rawBytes) / records.length / 1e6, 1)}`,
    ratio: "",
    goal: "",
  });
  return { ttDir, sqlitePath };
}

/** Single-record inserts, 32 concurrent callers (group commit) vs one-record commits. */
async function singleRows(records: TraceRecord[]): Promise<void> {
  const singles = records.slice(0, quick ? 2000 : 6000);
  const baseSingle = await baselineSingles(singles.slice(0, quick ? 500 : 1500));
  const singleStore = await openStore({ dir: scratch("tt-single") });
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
  const sameStore = await openStore({ dir: scratch("tt-same") });
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
}

/** Reads, hot, in a separate process for both stores (see reads.ts). */
function readRows(turns: TraceRecord[][], records: TraceRecord[], stores: Stores): void {
  const big = records.filter(
    (r) => r.body !== undefined && r.body.length >= 90_000 && r.body.length <= 110_000,
  );
  const idsFile = join(scratch("ids"), "ids.json");
  writeFileSync(
    idsFile,
    JSON.stringify({ turnIds: turns.map((t) => t[0]!.turnId!), bigIds: big.map((r) => stableId(r)) }),
  );
  const script = fileURLToPath(new URL("./reads.ts", import.meta.url));
  log(`reads: node --import tsx ${script} ${stores.ttDir} ${stores.sqlitePath} ${idsFile}`);
  const reads = JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", script, stores.ttDir, stores.sqlitePath, idsFile], {
      encoding: "utf8",
    }),
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
  floorRows(reads);
}

/**
 * What LevelDB alone costs on this machine, in the same process and run as the reads (bench/reads.ts,
 * `floor.*`): classic-level calls on the store's own database, opened with the hot tier's options,
 * over the same turns in the same order, with no decoding. The last two are a getTurn's irreducible
 * round trips: its records' range, then its bodies' manifests (and, for a read the chunk cache cannot
 * serve, its chunks).
 */
function floorRows(reads: Record<string, { p50: number; p99: number }>): void {
  const floors: [label: string, key: string][] = [
    ["floor: one getSync of a manifest key", "floor.get1"],
    ["floor: an iterator's nextv over a turn's records (open, nextv, close)", "floor.nextv"],
    ["floor: getSync of each of a turn's manifests", "floor.manifests"],
    ["floor: getSync of each distinct chunk of a turn", "floor.chunks"],
    [
      "floor of a steady getTurn: nextv of its records + getSync of its manifests, interleaved with getTurn",
      "floor.turn",
    ],
    ["floor of a first read after open: nextv + manifests + chunks, fresh open", "floor.first"],
  ];
  for (const [label, key] of floors) {
    const f = reads[key]!;
    rows.push({
      metric: `${label} (ms, p50 / p99)`,
      tracetier: `${fmt(f.p50, 3)} / ${fmt(f.p99, 3)}`,
      baseline: "",
      ratio: "",
      goal: "",
    });
  }
  const steady = reads["turn.vsfloor"]!;
  const floor = reads["floor.turn"]!;
  rows.push({
    metric: `getTurn with bodies p99 ÷ its floor's p99, the two interleaved (${fmt(steady.p99, 2)} ms ÷ ${fmt(floor.p99, 2)} ms)`,
    tracetier: `${fmt(steady.p99 / floor.p99, 2)}×`,
    baseline: "",
    ratio: "",
    goal: "≤ 2 ms, or ≤ 1.5× the floor",
  });
}

async function diskRows(rawBytes: number, ttDir: string, profile: WorkloadProfile): Promise<void> {
  const store = await openStore({ dir: ttDir });
  const stats = await store.stats();
  await store.close();
  const ttDisk = await diskBytes(ttDir);
  const baseDisk = baselineDiskBytes;
  const goal = profile === "agent" ? "≤ 0.04" : "≤ 0.06";
  rows.push({
    metric: "disk bytes ÷ raw JSON bytes, everything hot (as ingested)",
    tracetier: (ttDisk / rawBytes).toFixed(3),
    baseline: (baseDisk / rawBytes).toFixed(3),
    ratio: `${fmt(baseDisk / ttDisk, 1)}× smaller`,
    goal,
  });
  const compacted = await compactedDisk(ttDir);
  rows.push({
    metric: "disk bytes ÷ raw JSON bytes, records compacted to Parquet (bodies stay hot), a copy",
    tracetier: (compacted / rawBytes).toFixed(3),
    baseline: (baseDisk / rawBytes).toFixed(3),
    ratio: `${fmt(baseDisk / compacted, 1)}× smaller`,
    goal,
  });
  rows.push({
    metric: "body bytes stored ÷ original body bytes",
    tracetier: (stats.bodyBytesStored / stats.bodyBytesOriginal).toFixed(3),
    baseline: "",
    ratio: "",
    goal: "",
  });
}

let baselineDiskBytes = 0;

/** The disk a copy of the store takes once every record is compacted (the prune rows need the original). */
async function compactedDisk(ttDir: string): Promise<number> {
  const copy = scratch("tt-compacted");
  cpSync(ttDir, copy, { recursive: true });
  const store = await openStore({ dir: copy });
  await store.compact({ now: Date.UTC(2100, 0, 1), olderThanMs: 0 });
  await store.close();
  await (await openStore({ dir: copy })).close(); // as a restarted collector finds it
  return diskBytes(copy);
}

/**
 * Retention on the same records in both stores: everything before the median timestamp goes (records
 * and the bodies only they referred to). Time, and what the file system got back.
 */
async function pruneRows(
  records: TraceRecord[],
  ttDir: string,
  sqlitePath: string,
  what: string,
): Promise<void> {
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
  rows.push({
    ...latRow(
      `prune by age, ${what} (${fmt(result!.recordsDeleted)} records) and their bodies (ms)`,
      ttSecs * 1000,
      baseSecs * 1000,
      "≤ 0.4× SQLite's time",
    ),
    // Issue 11's goal is a fraction of SQLite's time, so say it as one.
    ratio: `${fmt(ttSecs / baseSecs, 2)}× SQLite's time`,
  });
  rows.push({
    metric: `disk the file system got back after that prune (MB; bytesReclaimed reported; ${what})`,
    tracetier: `${fmt(freed / 1e6, 1)} (${fmt(result!.bytesReclaimed / 1e6, 1)})`,
    baseline: fmt(baseFreed / 1e6, 1),
    ratio: "",
    goal: "freed ≥ 95% of bytesReclaimed",
  });
}

/**
 * Hot prune at a scale where it takes seconds: the main workload's SQLite prune takes about 0.1 s, too
 * short for a stable ratio on a shared machine. A week of the cold benchmark's thin turns (220k
 * records, 20k short bodies), never compacted, half pruned by age in both stores.
 */
async function pruneThinRows(): Promise<void> {
  const records = [...turnsOver(quick ? 20_000 : 200_000, 7)].flat();
  const sqlitePath = join(scratch("sqlite-thin"), "trace.db");
  const base = openBaseline(sqlitePath, "fast");
  for (let i = 0; i < records.length; i += BATCH) base.insertRecords(records.slice(i, i + BATCH));
  base.close();
  const ttDir = scratch("tt-thin");
  const store = await openStore({ dir: ttDir, durability: "none" }); // how it was ingested is not measured
  for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  await store.close();
  await pruneRows(records, ttDir, sqlitePath, "half of a week of thin turns, never compacted");
}

async function baselineIngest(
  records: TraceRecord[],
  idImpl: "seed" | "fast",
  path = join(scratch(`sqlite-${idImpl}`), "trace.db"),
): Promise<number> {
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

function printTable(w: Workload | undefined): void {
  const what = w
    ? `profile ${w.profile}, ${fmt(w.records.length)} records in ${fmt(w.turns.length)} turns, ${fmt(w.rawBytes / 1e6, 1)} MB of JSON (generated, seed 1)`
    : "see each row";
  const out = [
    "",
    `Workload: ${what}. Baseline: seed SQLite store (better-sqlite3, synchronous=FULL).`,
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
