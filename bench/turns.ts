/**
 * The turns list and usage (issue 13), run as child processes by run.ts (`--only turns`):
 *   tsx bench/turns.ts <dir> <records> prepare   the month (bench/month.ts) into a store, everything but
 *                                                its last day compacted to cold
 *   tsx bench/turns.ts <dir> <records> prepare-sqlite   the same records into the SQLite baseline's
 *                                                records table (<dir>/baseline.db); run beside `prepare`
 *   tsx bench/turns.ts <dir> <records> measure   a fresh process: open, the first page cold, then warm
 *                                                pages, filtered pages, page 20, usage; the SQLite
 *                                                turns list side by side; JSON out
 * Server time only (the store's calls, no HTTP).
 */
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { warmTurns } from "../src/store.js";
import { openBaseline } from "./baseline-sqlite.js";
import { DAY, MONTH_START, monthOfTurns } from "./month.js";
import { interleaved, latency, percentile, timed } from "./stats.js";

const [dir, countArg, mode] = process.argv.slice(2) as [string, string, string];
const COUNT = Number(countArg);
const DAYS = 30;

/** The month into the store, everything but its last day compacted (run beside `prepare-sqlite`). */
async function prepare(): Promise<void> {
  const store = await openStore({ dir: join(dir, "store"), durability: "none" });
  let batch: TraceRecord[] = [];
  const t0 = performance.now();
  for (const t of monthOfTurns(COUNT)) {
    batch.push(...t);
    if (batch.length >= 5000) {
      await store.insertRecords(batch);
      batch = [];
    }
  }
  await store.insertRecords(batch);
  const t1 = performance.now();
  // the last day stays hot: a collector's store has a hot remainder
  const moved = await store.compact({ now: MONTH_START + DAYS * DAY, olderThanMs: DAY });
  const stats = await store.stats();
  await store.close();
  const secs = { ingest: (t1 - t0) / 1000, compact: (performance.now() - t1) / 1000 };
  process.stdout.write(JSON.stringify({ moved: moved.recordsMoved, stats, secs }));
}

/** The same records into the SQLite baseline (not durable: it is only read afterwards). */
async function prepareSqlite(): Promise<void> {
  const base = openBaseline(join(dir, "baseline.db"), "fast", false);
  let batch: TraceRecord[] = [];
  for (const t of monthOfTurns(COUNT)) {
    batch.push(...t);
    if (batch.length >= 20_000) {
      base.insertRecords(batch);
      batch = [];
    }
  }
  base.insertRecords(batch);
  base.close();
}

/** The SQLite baseline's turns list: one GROUP BY over its records table, newest first. */
function sqliteTurns(db: Database.Database) {
  const page =
    db.prepare(`SELECT turnId, MIN(extensionId) AS extensionId, MIN(conversationId) AS conversationId,
      MIN(timestamp) AS start, MAX(timestamp) AS end, COUNT(*) AS records,
      COUNT(DISTINCT CASE WHEN kind != 'log' THEN spanId END) AS spans,
      SUM(kind = 'log') AS logs,
      SUM((kind = 'span-close' AND status = 'error') OR (kind = 'log' AND level = 'error')) AS errors,
      SUM(COALESCE(json_extract(attributes, '$."gen_ai.usage.input_tokens"'), 0)) AS inputTokens,
      SUM(COALESCE(json_extract(attributes, '$."gen_ai.usage.output_tokens"'), 0)) AS outputTokens
    FROM records WHERE turnId IS NOT NULL GROUP BY turnId ORDER BY start DESC, turnId DESC LIMIT 50`);
  return () => page.all();
}

async function measure(): Promise<void> {
  let store!: TraceStore;
  const openMs = (await timed(async () => (store = await openStore({ dir: join(dir, "store") })))) * 1000;
  const firstMs = (await timed(() => store.turns({ limit: 50 }))) * 1000;
  // a second fresh view of the same work: warmTurns alone (what the collector does at start), reopened
  await store.close();
  store = await openStore({ dir: join(dir, "store") });
  const warmMs = (await timed(() => warmTurns(store))) * 1000;
  const afterWarmMs = (await timed(() => store.turns({ limit: 50 }))) * 1000;
  const rss = process.memoryUsage();

  const db = new Database(join(dir, "baseline.db"), { readonly: true });
  const sqlite = sqliteTurns(db);
  const [first, sql] = await interleaved(20, 2, [() => store.turns({ limit: 50 }), sqlite]);
  const filteredModel = await latency(20, 2, () => store.turns({ limit: 50, model: "claude-sonnet-4-5" }));
  const filteredErrors = await latency(20, 2, () => store.turns({ limit: 50, errors: true }));
  const filteredRange = await latency(20, 2, () =>
    store.turns({
      limit: 50,
      from: MONTH_START + 10 * DAY,
      to: MONTH_START + 11 * DAY,
      extensionId: "coder",
    }),
  );
  // the cursor of page 19, then page 20 timed
  let cursor: string | undefined;
  for (let p = 0; p < 19; p++) cursor = (await store.turns({ limit: 50, cursor })).nextCursor;
  const page20 = await latency(20, 2, () => store.turns({ limit: 50, cursor }));
  const usage = await latency(10, 1, () => store.usage({}));
  // a collector keeps writing: each write to the hot tier makes the next list recompute the hot part
  const writes: number[] = [];
  for (let n = 0; n < 10; n++) {
    const timestamp = MONTH_START + DAYS * DAY + n;
    // a live turn grows, a record at a time (its part is re-read; the rest are kept)
    await store.insertRecords([
      // a message of its own: a rerun on a kept directory must not send the same records (duplicates)
      {
        kind: "log",
        level: "info",
        msg: `tick ${Date.now()} ${n}`,
        timestamp,
        extensionId: "coder",
        turnId: `live-${n % 3}`,
      },
    ]);
    writes.push((await timed(() => store.turns({ limit: 50 }))) * 1000);
  }
  writes.sort((a, b) => a - b);
  const afterWrite = { p50: percentile(writes, 50), p99: percentile(writes, 99) };
  const stats = await store.stats();
  await store.close();
  db.close();
  const afterCompaction = await compactionRefresh();
  process.stdout.write(
    JSON.stringify({
      stats: { hot: stats.hotRecords, cold: stats.coldRecords, files: stats.coldPartitions },
      openMs,
      firstMs,
      heapMB: rss.heapUsed / 2 ** 20,
      rssMB: rss.rss / 2 ** 20,
      warmMs,
      afterWarmMs,
      first,
      sql,
      filteredModel,
      filteredErrors,
      filteredRange,
      page20,
      usage,
      afterWrite,
      afterCompaction,
    }),
  );
}

/**
 * On a copy of the store (the prepared one stays as it is): the list used, then six hours of the hot
 * day compacted (new files, a new manifest): how long the store's background refresh of the index takes,
 * and the first page asked right after the compaction returned.
 */
async function compactionRefresh(): Promise<{ firstMs: number; refreshMs: number }> {
  const copy = join(dir, "store-copy");
  await rm(copy, { recursive: true, force: true });
  await cp(join(dir, "store"), copy, { recursive: true });
  const store = await openStore({ dir: copy });
  try {
    await warmTurns(store);
    await store.compact({ now: MONTH_START + DAYS * DAY + 6 * 3_600_000, olderThanMs: DAY });
    const t0 = performance.now();
    await store.turns({ limit: 50 });
    const firstMs = performance.now() - t0;
    await warmTurns(store); // waits for the refresh the compaction started
    return { firstMs, refreshMs: performance.now() - t0 };
  } finally {
    await store.close();
    await rm(copy, { recursive: true, force: true });
  }
}

const modes: Record<string, () => Promise<void>> = { prepare, "prepare-sqlite": prepareSqlite, measure };
modes[mode]!().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
