/**
 * Full-text search (issue 14), `--only search` in run.ts. Per workload: ingest with the chunk index
 * and without (alternating, two rounds), compaction with the cold sidecars and without (copies of the
 * same store, alternating), the index's bytes, then searches over the last 7 days on a fresh open:
 * rare words and common phrases, against a brute-force scan of the same store (src/search/brute.ts)
 * and a scan of the seed's SQLite store (no text index there: every body in range, newest first).
 *
 * Workloads: "agent" and "diverse" (src/workload/generator.ts: conversations spread over 7 days, the
 * last day left hot), and "month" (bench/month.ts: 30 days of short bodies, the last day hot).
 */
import { cpSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { ClassicLevel } from "classic-level";
import { openStore, type StoredRecord, type TraceRecord, type TraceStore } from "../src/index.js";
import { bruteSearchStore, checkSearchOptions, searchableOf } from "../src/search/brute.js";
import { chunkIndexSettings } from "../src/search/chunks/index.js";
import { matchRecord } from "../src/search/match.js";
import { parseQuery } from "../src/search/query.js";
import { tokenize } from "../src/search/text.js";
import { generateTurns, type WorkloadProfile } from "../src/workload/generator.js";
import { Random } from "../src/workload/random.js";
import { sidecarSettings } from "../tiers/cold/sidecar.js";
import { P_DOC_BODY, P_SEGMENT } from "../tiers/hot/keys.js";
import { openBaseline } from "./baseline-sqlite.js";
import { DAY, turnsOver } from "./month.js";
import { fmt, percentile, scratch, timed } from "./stats.js";

const BATCH = 500;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Workload {
  name: string;
  records: TraceRecord[];
  /** The newest timestamp + 1: searches cover [end - 7 days, end). */
  end: number;
}

/** The generated profile's conversations spread over 7 days (conversation c on day c mod 7). */
function weekOf(profile: WorkloadProfile, quick: boolean): Workload {
  const conversations = profile === "diverse" ? (quick ? 7 : 42) : quick ? 14 : 126;
  const turns = [...generateTurns({ conversations, turnsPerConversation: 12, seed: 1, profile })];
  const shifted = turns.map((t, i) => {
    const shift = (Math.floor(i / 12) % 7) * DAY;
    return t.map((r) => ({ ...r, timestamp: r.timestamp + shift }) as TraceRecord);
  });
  shifted.sort((a, b) => a[0]!.timestamp - b[0]!.timestamp);
  return finish(profile, shifted.flat());
}

function monthOf(quick: boolean): Workload {
  return finish("month", [...turnsOver(quick ? 60_000 : 240_000, 30)].flat());
}

function finish(name: string, records: TraceRecord[]): Workload {
  let end = 0;
  for (const r of records) end = Math.max(end, r.timestamp + 1);
  return { name, records, end };
}

async function ingest(dir: string, records: TraceRecord[]): Promise<number> {
  const store = await openStore({ dir });
  const secs = await timed(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  await store.close();
  return records.length / secs;
}

/** Ingest rate with the chunk index ÷ without, alternating over two rounds; the last "with" store's dir. */
async function ingestRows(w: Workload): Promise<{ ratio: number; withRate: number; dir: string }> {
  const rates = { on: 0, off: 0 };
  let dir = "";
  for (const round of [0, 1]) {
    for (const mode of round === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
      chunkIndexSettings.mode = mode === "on" ? "worker" : "off";
      const d = scratch(`search-${w.name}-${mode}`);
      rates[mode] += await ingest(d, w.records);
      if (mode === "on") dir = d;
    }
  }
  chunkIndexSettings.mode = "worker";
  log(
    `search ${w.name}: ingest ${fmt(rates.on / 2)} records/s with the index, ${fmt(rates.off / 2)} without`,
  );
  return { ratio: rates.on / rates.off, withRate: rates.on / 2, dir };
}

/** Compaction rate with sidecars ÷ without, on copies of the same store; the compacted "with" dir. */
async function compactRows(
  w: Workload,
  source: string,
): Promise<{ ratio: number; dir: string; moved: number }> {
  const rates = { on: 0, off: 0 };
  let dir = "";
  let moved = 0;
  for (const round of [0, 1]) {
    for (const mode of round === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
      const d = scratch(`search-${w.name}-compact-${mode}`);
      cpSync(source, d, { recursive: true });
      sidecarSettings.build = mode === "on";
      const store = await openStore({ dir: d });
      let result = { recordsMoved: 0 };
      const secs = await timed(async () => {
        result = await store.compact({ now: w.end, olderThanMs: DAY });
      });
      await store.close();
      rates[mode] += result.recordsMoved / secs;
      moved = result.recordsMoved;
      if (mode === "on") dir = d;
    }
  }
  sidecarSettings.build = true;
  log(
    `search ${w.name}: compaction ${fmt(rates.on / 2)} records/s with sidecars, ${fmt(rates.off / 2)} without`,
  );
  return { ratio: rates.on / rates.off, dir, moved };
}

/** The index's bytes: the hot tier's postings segments, q keys (keys + values), and the sidecars. */
async function indexBytes(dir: string): Promise<{ hot: number; cold: number; stored: number }> {
  const store = await openStore({ dir });
  const stats = await store.stats();
  await store.close();
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
  });
  let hot = 0;
  for (const prefix of [P_SEGMENT, P_DOC_BODY]) {
    for await (const [k, v] of db.iterator({ gte: Buffer.of(prefix), lt: Buffer.of(prefix + 1) }))
      hot += k.length + v.length;
  }
  await db.close();
  const manifest = (await import("node:fs")).readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8");
  const files = (JSON.parse(manifest) as { files: { index?: { bytes: number } }[] }).files;
  const cold = files.reduce((n, f) => n + (f.index?.bytes ?? 0), 0);
  return { hot, cold, stored: stats.bodyBytesStored };
}

interface Queries {
  rare: string[];
  common: string[];
  /** Phrases of two common words that never follow each other: the slow case (docs/search.md). */
  rarePhrases: string[];
}

/**
 * From 3,000 records sampled in the searched week: rare words, tokens (6+ characters) in exactly one
 * of them (so in a few records of the whole workload, usually one conversation's); common phrases, the
 * three-token (else two-token) sequences in the most records; and phrases of two common tokens that
 * never follow each other there.
 */
function pickQueries(w: Workload): Queries {
  const rnd = new Random(7);
  const inRange = w.records.filter((r) => r.timestamp >= w.end - 7 * DAY);
  const sample = Array.from(
    { length: Math.min(3000, inRange.length) },
    () => inRange[rnd.int(0, inRange.length - 1)]!,
  );
  const df = new Map<string, number>();
  const grams = new Map<string, number>();
  const count = (m: Map<string, number>, keys: Iterable<string>) => {
    for (const k of new Set(keys)) m.set(k, (m.get(k) ?? 0) + 1);
  };
  for (const r of sample) {
    const texts = textsOf(r).map((t) => tokenize(t));
    count(df, texts.flat());
    count(
      grams,
      texts.flatMap((t) => [...ngrams(t, 3), ...ngrams(t, 2)]),
    );
  }
  const rareWords = [...df].filter(([t, n]) => n === 1 && t.length >= 6 && t.length <= 64).map(([t]) => t);
  const rare = Array.from({ length: 30 }, () => rareWords[rnd.int(0, rareWords.length - 1)]!);
  const byCount = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  const top = byCount(grams).filter(([g]) => g.split(" ").every((t) => t.length >= 3));
  const common = [...top.filter(([g]) => g.split(" ").length === 3), ...top]
    .slice(0, 5)
    .map(([g]) => `"${g}"`);
  const frequent = byCount(df)
    .filter(([t]) => t.length >= 4)
    .slice(0, 12)
    .map(([t]) => t);
  const rarePhrases: string[] = [];
  for (const a of frequent)
    for (const b of frequent)
      if (a !== b && !grams.has(`${a} ${b}`) && rarePhrases.length < 2) rarePhrases.push(`"${a} ${b}"`);
  return { rare, common, rarePhrases };
}

function textsOf(r: TraceRecord): string[] {
  const x = r as { msg?: string; name?: string };
  const attrs = Object.values(r.attributes ?? {}).flatMap((v) => (Array.isArray(v) ? v : [v]).map(String));
  return [x.msg ?? x.name ?? "", ...attrs, (r.body ?? "").slice(0, 2000)];
}

function* ngrams(tokens: string[], n: number): Generator<string> {
  for (let i = 0; i + n <= tokens.length; i++) yield tokens.slice(i, i + n).join(" ");
}

interface Lat {
  p50: number;
  p99: number;
  /** Median hits of the queries (at most the limit, 50). */
  hits: number;
}

async function measure(
  queries: string[],
  runs: number,
  fn: (q: string) => Promise<{ hits: unknown[] }>,
): Promise<Lat> {
  const times: number[] = [];
  const hits: number[] = [];
  for (let r = 0; r < runs; r++) {
    for (const q of queries) {
      const t = performance.now();
      const result = await fn(q);
      times.push(performance.now() - t);
      hits.push(result.hits.length);
    }
  }
  times.sort((a, b) => a - b);
  hits.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), hits: percentile(hits, 50) };
}

/** The seed's SQLite store, searched the only way it can be: every record in range with its body, newest first. */
function sqliteSearch(path: string): (q: string, from: number, to: number) => Promise<{ hits: unknown[] }> {
  const db = new Database(path, { readonly: true });
  const rows = db.prepare(
    `SELECT r.*, b.body AS bodyBlob, b.isCompressed FROM records r LEFT JOIN bodies b ON b.hash = r.bodyHash
     WHERE r.timestamp >= ? AND r.timestamp < ? ORDER BY r.timestamp DESC, r.rowid DESC`,
  );
  return async (q, from, to) => {
    const query = parseQuery(q);
    const hits: StoredRecord[] = [];
    for (const row of rows.iterate(from, to) as Iterable<Record<string, unknown>>) {
      const r = storedOf(row);
      if (matchRecord(query, searchableOf(r)) === undefined) continue;
      hits.push(r);
      if (hits.length > 50) break; // 50 hits and "truncated", as store.search answers
    }
    return { hits: hits.slice(0, 50) };
  };
}

function storedOf(row: Record<string, unknown>): StoredRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || k === "bodyHash" || k === "bodyBlob" || k === "isCompressed") continue;
    out[k] = k === "attributes" || k === "links" ? JSON.parse(v as string) : v;
  }
  const blob = row.bodyBlob as Buffer | null;
  if (blob) out.body = (row.isCompressed ? gunzipSync(blob) : blob).toString("utf8");
  return out as unknown as StoredRecord;
}

async function searchRows(w: Workload, dir: string, sqlitePath: string): Promise<string[]> {
  const queries = pickQueries(w);
  const from = w.end - 7 * DAY;
  const opts = { from, to: w.end };
  checkSearchOptions(opts);
  const store: TraceStore = await openStore({ dir });
  const firstT = performance.now();
  await store.search(queries.rare[0]!, opts); // the first search after an open builds the hot records' index
  const first = performance.now() - firstT;
  const rare = await measure(queries.rare, 2, (q) => store.search(q, opts));
  const common = await measure(queries.common, 4, (q) => store.search(q, opts));
  log(`search ${w.name}: common phrases ${queries.common.join(", ")}`);
  const bruteRare = await measure(queries.rare.slice(0, 2), 1, (q) => bruteSearchStore(store, q, opts));
  const bruteCommon = await measure(queries.common.slice(0, 2), 1, (q) => bruteSearchStore(store, q, opts));
  const slow = await measure(queries.rarePhrases, 1, (q) => store.search(q, opts));
  const bruteSlow = await measure(queries.rarePhrases.slice(0, 1), 1, (q) =>
    bruteSearchStore(store, q, opts),
  );
  await store.close();
  const sqlite = sqliteSearch(sqlitePath);
  const sqlRare = await measure(queries.rare.slice(0, 2), 1, (q) => sqlite(q, from, w.end));
  const sqlCommon = await measure(queries.common.slice(0, 2), 1, (q) => sqlite(q, from, w.end));
  const sqlSlow = await measure(queries.rarePhrases.slice(0, 1), 1, (q) => sqlite(q, from, w.end));
  const row = (what: string, l: Lat, brute: Lat, sql: Lat) =>
    `| ${w.name}: ${what} | ${fmt(l.p50, 1)} / ${fmt(l.p99, 1)} | ${fmt(l.hits)} | ${fmt(brute.p50)} | ${fmt(sql.p50)} | ${fmt(sql.p50 / l.p50, 1)}× | p50 ≤ 100, p99 ≤ 500 |`;
  return [
    row(`rare word (${queries.rare.length} words × 2)`, rare, bruteRare, sqlRare),
    row(`common phrase (${queries.common.length} phrases × 4)`, common, bruteCommon, sqlCommon),
    row(
      `common words, rare phrase: the slow case (${queries.rarePhrases.join(", ")})`,
      slow,
      bruteSlow,
      sqlSlow,
    ),
    `| ${w.name}: first search after an open (builds the hot records' text index) | ${fmt(first, 1)} | | | | | |`,
  ];
}

async function sqliteOf(w: Workload): Promise<string> {
  const path = join(scratch(`search-sqlite-${w.name}`), "trace.db");
  const base = openBaseline(path, "fast", false);
  for (let i = 0; i < w.records.length; i += 5000) base.insertRecords(w.records.slice(i, i + 5000));
  base.close();
  return path;
}

export async function searchTables(profiles: readonly string[], quick: boolean): Promise<string[]> {
  const workloads = [...profiles.map((p) => () => weekOf(p as WorkloadProfile, quick)), () => monthOf(quick)];
  const costs: string[] = [];
  const speeds: string[] = [];
  for (const make of workloads) {
    const w = make();
    log(`search ${w.name}: ${fmt(w.records.length)} records`);
    const ing = await ingestRows(w);
    const comp = await compactRows(w, ing.dir);
    const bytes = await indexBytes(comp.dir);
    const ratio = (bytes.hot + bytes.cold) / bytes.stored;
    costs.push(
      `| ${w.name} | ${fmt(w.records.length)} | ${fmt(ing.ratio, 2)} (${fmt(ing.withRate)}/s) | ${fmt(comp.ratio, 2)} (${fmt(comp.moved)} moved) | ${fmt(bytes.hot / 1e6, 2)} + ${fmt(bytes.cold / 1e6, 2)} MB ÷ ${fmt(bytes.stored / 1e6, 2)} MB = ${fmt(ratio, 3)} |`,
    );
    speeds.push(...(await searchRows(w, comp.dir, await sqliteOf(w))));
  }
  return [
    "",
    "Search (issue 14): what the index costs. Ingest: durable, batches of 500, with the chunk index ÷ without (two rounds each, alternating). Compaction: everything but the last day, with sidecars ÷ without (copies of one store). Index: hot postings segments + q keys (keys and values) + cold sidecars, ÷ the store's stored body bytes.",
    "",
    "| workload | records | ingest with ÷ without (goal ≥ 0.8) | compaction with ÷ without (goal ≥ 0.8) | index ÷ stored body bytes (goal ≤ 0.3) |",
    "|---|---:|---:|---:|---|",
    ...costs,
    "",
    "Search over the last 7 days, limit 50, on a fresh open of the compacted store (6 days cold, 1 hot), ms. Brute force: src/search/brute.ts over store.query. SQLite: the seed's store scanned newest first with its bodies (it has no text index).",
    "",
    "| query | tracetier p50 / p99 | hits (median) | brute force p50 | SQLite scan p50 | SQLite ÷ tracetier | goal |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...speeds,
  ];
}
