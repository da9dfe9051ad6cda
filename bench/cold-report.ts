/**
 * The cold-tier tables of `npm run bench`: drives bench/cold.ts, one child process per measurement,
 * over a month (30 daily partitions) and over a year (365, the same number of records spread thinner),
 * and prints one markdown table with a column per span. Goals are issue 11's.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { fmt, percentile, scratch } from "./stats.js";

/** Fresh processes for the first-read figure: one read each is one sample, so take a few. */
const FIRST_SAMPLES = 5;

export interface ColdSpan {
  /** Records asked of the generator (it makes about 1.1× that). */
  records: number;
  days: number;
  /** Run the retention mode too (it empties the store, so it comes last). */
  retention: boolean;
  /** Only prepare, compact and hotbytes (the 10M run: the figure asked is the hot bytes). */
  compactOnly?: boolean;
}

interface Lat {
  p50: number;
  p99: number;
}

interface SpanFigures {
  span: ColdSpan;
  prepareSecs: number;
  compact: {
    moved: number;
    rate: number;
    seconds: number;
    cpuSecs: number;
    rssBeforeMB: number;
    peakRssMB: number;
    files: number;
    partitions: number;
    coldBytesPerRecord: number;
  };
  hot: HotBytes;
  read?: { getTurn: Lat; query: Lat; hourRows: number; samples: string[] };
  first?: { openMs: number; firstMs: number }[];
  retention?: RetentionFigures;
}

interface HotBytes {
  coldRecords: number;
  hotRecords: number;
  du: number;
  nonBody: number;
  keyspaces: Record<string, { entries: number; bytes: number }>;
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
      // Optional: the breakdown is not part of what every version reports the same way.
      timings?: { dropMs?: number; hotMs?: number; bodiesMs?: number; reclaimMs?: number };
    };
  };
  freed: number;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Runs every span's child processes, one after the other (one benchmark at a time on the machine). */
export function coldTables(spans: ColdSpan[]): string[] {
  const figures = spans.map(runSpan);
  return table(figures);
}

function runSpan(span: ColdSpan): SpanFigures {
  const dir = scratch(`cold-${span.days}d`);
  const script = fileURLToPath(new URL("./cold.ts", import.meta.url));
  const child = <T>(mode: string, arg = String(span.days)): T => {
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", script, dir, String(span.records), mode, arg],
      {
        encoding: "utf8",
        maxBuffer: 1 << 24,
      },
    );
    return (out === "" ? undefined : JSON.parse(out)) as T;
  };
  const t0 = performance.now();
  child("prepare");
  const prepareSecs = (performance.now() - t0) / 1000;
  log(`cold ${span.days} days: prepared in ${fmt(prepareSecs, 1)} s`);
  const f: SpanFigures = { span, prepareSecs, compact: child("compact"), hot: child("hotbytes") };
  log(`cold ${span.days} days: compacted ${fmt(f.compact.moved)} records at ${fmt(f.compact.rate)}/s`);
  if (span.compactOnly) return f;
  f.read = child("read");
  f.first = f.read!.samples.slice(0, FIRST_SAMPLES).map((id) => child("first", id));
  if (span.retention) f.retention = child("retention");
  return f;
}

type Cell = (f: SpanFigures) => string;

function table(figures: SpanFigures[]): string[] {
  const cols = figures.map(
    (f) =>
      `${f.compact.partitions} partitions, ${fmt(f.compact.moved)} records (${fmt(f.compact.files)} files)`,
  );
  const line = (metric: string, cell: Cell, goal: string) =>
    `| ${metric} | ${figures.map(cell).join(" | ")} | ${goal} |`;
  return [
    "",
    "Cold tier: turns compacted into daily partitions in a fresh process, then read and pruned in others (bench/cold.ts).",
    "",
    `| metric | ${cols.join(" | ")} | goal |`,
    `|---|${cols.map(() => "---:|").join("")}---|`,
    line("compaction (records/s)", (f) => fmt(f.compact.rate), "≥ 100,000"),
    line(
      "compaction wall / CPU seconds (CPU: user + system, all threads; less load-dependent)",
      (f) => `${fmt(f.compact.seconds, 1)} / ${fmt(f.compact.cpuSecs, 1)}`,
      "",
    ),
    line(
      "peak RSS while compacting (MB; RSS before it started)",
      (f) => `${fmt(f.compact.peakRssMB)} (${fmt(f.compact.rssBeforeMB)})`,
      "≤ 256",
    ),
    line(
      "cold bytes per record (Parquet, bodies apart)",
      (f) => fmt(f.compact.coldBytesPerRecord, 1),
      "≤ 60",
    ),
    ...hotLines(line),
    ...readLines(line),
    ...retentionLines(line),
  ];
}

type Line = (metric: string, cell: Cell, goal: string) => string;

function hotLines(line: Line): string[] {
  const perRecord = (f: SpanFigures, bytes: number) => fmt(bytes / f.hot.coldRecords, 2);
  const notBodies = (f: SpanFigures) =>
    Object.entries(f.hot.keyspaces)
      .filter(([p]) => !"bke".includes(p))
      .map(([p, k]) => `${p} ${fmt(k.entries)}`)
      .join(", ");
  return [
    line(
      "hot bytes per cold record: key + value bytes of the hot LevelDB outside the body keyspaces b/k/e",
      (f) => perRecord(f, f.hot.nonBody),
      "≤ 0.5",
    ),
    line(
      "the same in MB (hot records left)",
      (f) => `${fmt(f.hot.nonBody / 1e6, 1)} (${fmt(f.hot.hotRecords)})`,
      "< 1",
    ),
    line("entries per keyspace, b/k/e apart", notBodies, ""),
    line(
      "du of hot/ after close ÷ cold records (bodies included; MB)",
      (f) => `${perRecord(f, f.hot.du)} (${fmt(f.hot.du / 1e6, 1)})`,
      "",
    ),
  ];
}

function readLines(line: Line): string[] {
  const r = (f: SpanFigures) => f.read;
  const opt =
    (cell: Cell): Cell =>
    (f) =>
      r(f) ? cell(f) : "not run";
  const first = (pick: (s: { openMs: number; firstMs: number }) => number): Cell =>
    opt((f) => {
      const v = f.first!.map(pick).sort((a, b) => a - b);
      return `${fmt(percentile(v, 50), 1)} / ${fmt(v[v.length - 1]!, 1)}`;
    });
  return [
    line(
      "cold getTurn p50 / p99 (ms), thin, after one pass over the days",
      opt((f) => `${fmt(r(f)!.getTurn.p50, 2)} / ${fmt(r(f)!.getTurn.p99, 2)}`),
      "p99 ≤ 10",
    ),
    line(
      `first cold getTurn after open, fresh process (ms; median / max of ${FIRST_SAMPLES})`,
      first((s) => s.firstMs),
      "≤ 30",
    ),
    line(
      "openStore in that process (ms; median / max)",
      first((s) => s.openMs),
      "",
    ),
    line(
      "openStore called → first getTurn returned (ms; median / max)",
      first((s) => s.openMs + s.firstMs),
      "",
    ),
    line(
      "one-hour query p50 / p99 (ms; records in the hour)",
      opt((f) => `${fmt(r(f)!.query.p50, 2)} / ${fmt(r(f)!.query.p99, 2)} (${r(f)!.hourRows})`),
      "p50 ≤ 15",
    ),
  ];
}

function retentionLines(line: Line): string[] {
  const opt =
    (cell: (r: RetentionFigures) => string): Cell =>
    (f) =>
      f.retention ? cell(f.retention) : "not run";
  const ms = (v: number | undefined) => (v === undefined ? "n/a" : fmt(v / 1000, 2));
  return [
    line(
      "gc over every record and body (s; peak RSS MB)",
      opt((r) => `${fmt(r.gc.seconds, 2)} (${fmt(r.gc.peakMB)})`),
      "≤ 5 s, ≤ 256 MB",
    ),
    line(
      "prune dropping every partition: drop step (s; PruneResult.timings)",
      opt((r) => ms(r.prune.value.timings?.dropMs)),
      "≤ 0.2",
    ),
    line(
      "the same prune in all, with the GC of the orphaned bodies and the LevelDB rewrite (s; of which bodies / rewrite)",
      opt(
        (r) =>
          `${fmt(r.prune.seconds, 2)} (${ms(r.prune.value.timings?.bodiesMs)} / ${ms(r.prune.value.timings?.reclaimMs)})`,
      ),
      "",
    ),
    line(
      "records / bodies that prune deleted; peak RSS (MB)",
      opt(
        (r) =>
          `${fmt(r.prune.value.recordsDeleted)} / ${fmt(r.prune.value.bodiesDeleted)}; ${fmt(r.prune.peakMB)}`,
      ),
      "",
    ),
    line(
      "disk freed (du) ÷ bytesReclaimed reported",
      opt((r) => `${fmt((100 * r.freed) / r.prune.value.bytesReclaimed, 1)}%`),
      "≥ 95%",
    ),
  ];
}
