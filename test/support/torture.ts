/**
 * Kill rounds: a child process (test/support/child.ts, mode `torture`) ingests, compacts, merges,
 * prunes and collects on one store directory with a moving clock, and is killed with SIGKILL at a random
 * moment: in 15 % of rounds while it is still opening (i.e. during recovery), in 30 % within 200 ms of
 * the start of its k-th compaction, prune or gc, in 20 % the instant its k-th cold manifest commit is
 * seen, otherwise 20 ms to 2.5 s after it opened. The parent then reopens the store
 * and checks it against what the child's log says was acknowledged:
 *
 *   - the store opens;
 *   - every acknowledged record (and every record a previous check saw) is readable, unless a prune
 *     that had started could have removed it (its timestamp is before that prune's age cutoff);
 *   - no record is readable twice, none that was never inserted, none that a previous check found gone;
 *   - each record's timestamp is its own, its body is its own or marked `bodyEvicted`, and eviction only
 *     where a started prune's body clock (or, in "cap" stores, the body cap) allows it;
 *   - a completed prune removed every record acknowledged before it whose UTC hour ended by its cutoff;
 *   - `getTurn` of every turn returns exactly the turn's records of `query`, in order; `getBody` agrees;
 *   - `stats()` counts (hot + cold) equal the records a query returns;
 *   - after `close()`, `verify` reports no problem.
 *
 * Used by the CLI (test/torture/main.ts, `npm run torture`) and by the CI slice (test/torture.test.ts).
 */
import { type FSWatcher, mkdtempSync, readFileSync, rmSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type StoredRecord, stableId, type TraceStore } from "../../src/index.js";
import { verifyStore } from "../../src/maintenance/verify.js";
import { Random } from "../../src/workload/random.js";
import { MANIFEST_NAME } from "../../tiers/cold/layout.js";
import { TORTURE_POLICY, TORTURE_START, tortureBatch, tortureTurnIds } from "./crash-workload.js";
import { exited, startChild, waitForLine } from "./spawn.js";

const HOUR = 3_600_000;

export interface TortureOptions {
  seed: number;
  /** Stop after this many rounds (and/or after `minutes`; at least one of the two). */
  rounds?: number;
  minutes?: number;
  /** A fresh store every this many rounds (and after any failing round). Default 30. */
  roundsPerStore?: number;
  /** Called with a line per round. */
  onRound?: (line: string) => void;
}

export interface Failure {
  kind: string;
  detail: string;
}

export interface RoundResult {
  round: number;
  /** What the child was doing when it was killed: open, ingest, compact, prune, gc. */
  phase: string;
  acknowledged: number;
  present: number;
  failures: Failure[];
  dir: string;
  /** Maintenance steps the child started: compact, prune, gc. */
  ops: Map<string, number>;
  merged: number;
  dropped: number;
  /** `verify` before the reopen (normalised): its pending items, and any problem (a failure). */
  asKilled: string[];
  childMs: number;
  checkMs: number;
}

export interface TortureSummary {
  rounds: number;
  failedRounds: number;
  failureKinds: Map<string, number>;
  phases: Map<string, number>;
  acknowledged: number;
  stores: number;
  ops: Map<string, number>;
  /** Rounds whose kill left each kind of `verify` pending item (or problem), before the reopen. */
  asKilled: Map<string, number>;
  /** Cold files merged away, cold partitions dropped (seen between checks). */
  merged: number;
  dropped: number;
  childMs: number;
  checkMs: number;
  /** Directories of failing rounds, kept for inspection. */
  keptDirs: string[];
  examples: string[];
  ms: number;
}

interface Expected {
  b: number;
  i: number;
  ts: number;
}

interface Prune {
  now: number;
  /** Line index (over the store's whole log) where it started, and where it ended if it did. */
  start: number;
  done?: number;
}

/** What the parent knows about one store across its rounds. */
class Model {
  readonly dir: string;
  readonly cap: boolean;
  readonly logPath: string;
  clock = TORTURE_START;
  nextBatch = 0;
  linesSeen = 0;
  readonly expected = new Map<string, Expected>();
  readonly batchBase = new Map<number, number>();
  /** Record id → log line index from which it must stay readable (barring retention). */
  readonly durable = new Map<string, number>();
  readonly gone = new Set<string>();
  readonly prunes: Prune[] = [];
  rounds = 0;
  private coldFiles = new Map<string, string>();

  constructor(cap: boolean) {
    this.dir = mkdtempSync(join(tmpdir(), "tracetier-torture-"));
    this.cap = cap;
    this.logPath = join(this.dir, "torture.log");
  }

  /** Reads the log lines the last child appended; returns the phase it was in and the acks it made. */
  absorb(): { phase: string; acks: number; ops: Map<string, number> } {
    const ops = new Map<string, number>();
    let text = "";
    try {
      text = readFileSync(this.logPath, "utf8");
    } catch {
      return { phase: "open", acks: 0, ops };
    }
    const lines = text.split("\n").filter((l) => l !== "");
    let phase = "ingest";
    let acks = 0;
    for (let n = this.linesSeen; n < lines.length; n++) {
      const [what, a, b] = lines[n]!.split(" ");
      const x = Number(a);
      if (what === "insert") this.learnBatch(x, Number(b));
      else if (what === "ack") {
        acks++;
        for (const r of tortureBatch(x, this.batchBase.get(x)!)) this.durable.set(stableId(r), n);
      } else if (what === "compact" || what === "prune" || what === "gc") {
        phase = what;
        ops.set(what, (ops.get(what) ?? 0) + 1);
        if (what !== "gc") this.clock = Math.max(this.clock, x);
        if (what === "prune") this.prunes.push({ now: x, start: n });
      } else {
        phase = "ingest";
        if (what === "pruned") this.prunes.at(-1)!.done = n;
      }
    }
    this.linesSeen = lines.length;
    return { phase, acks, ops };
  }

  /** Compares the cold manifest with the last one seen: files merged away, partitions dropped. */
  coldChanges(): { merged: number; dropped: number } {
    let files: { name: string; date: string }[] = [];
    try {
      files = (
        JSON.parse(readFileSync(join(this.dir, "cold", "MANIFEST.json"), "utf8")) as { files: typeof files }
      ).files;
    } catch {
      // no manifest yet
    }
    const dates = new Set(files.map((f) => f.date));
    const names = new Set(files.map((f) => f.name));
    let merged = 0;
    for (const [name, date] of this.coldFiles) if (!names.has(name) && dates.has(date)) merged++;
    const dropped = [...new Set(this.coldFiles.values())].filter((d) => !dates.has(d)).length;
    this.coldFiles = new Map(files.map((f) => [f.name, f.date]));
    return { merged, dropped };
  }

  private learnBatch(b: number, base: number): void {
    this.batchBase.set(b, base);
    this.nextBatch = Math.max(this.nextBatch, b + 1);
    tortureBatch(b, base).forEach((r, i) => {
      this.expected.set(stableId(r), { b, i, ts: r.timestamp });
    });
  }

  /** Records before this may have been deleted by a prune that started. */
  dropCutoff(): number {
    return Math.max(Number.NEGATIVE_INFINITY, ...this.prunes.map((p) => p.now - TORTURE_POLICY.maxAgeMs));
  }

  evictCutoff(): number {
    if (this.cap && this.prunes.length > 0) return Number.POSITIVE_INFINITY;
    return Math.max(Number.NEGATIVE_INFINITY, ...this.prunes.map((p) => p.now - TORTURE_POLICY.maxBodyAgeMs));
  }
}

/** Retention drops cold files a whole UTC hour at a time (and hot records older than the cutoff). */
const hourEnd = (ts: number) => Math.floor(ts / HOUR) * HOUR + HOUR;

/** Runs rounds until `rounds` or `minutes` is reached. */
export async function runTorture(opts: TortureOptions): Promise<TortureSummary> {
  const started = Date.now();
  const deadline = opts.minutes === undefined ? Number.POSITIVE_INFINITY : started + opts.minutes * 60_000;
  const maxRounds = opts.rounds ?? Number.POSITIVE_INFINITY;
  const perStore = opts.roundsPerStore ?? 30;
  const rnd = new Random(opts.seed);
  const summary: TortureSummary = {
    rounds: 0,
    failedRounds: 0,
    failureKinds: new Map(),
    phases: new Map(),
    acknowledged: 0,
    stores: 0,
    ops: new Map(),
    asKilled: new Map(),
    merged: 0,
    dropped: 0,
    childMs: 0,
    checkMs: 0,
    keptDirs: [],
    examples: [],
    ms: 0,
  };
  let model: Model | undefined;
  while (summary.rounds < maxRounds && Date.now() < deadline) {
    if (model === undefined || model.rounds >= perStore) {
      if (model) rmSync(model.dir, { recursive: true, force: true });
      model = new Model(rnd.chance(0.3));
      summary.stores++;
    }
    const result = await runRound(model, rnd, summary.rounds);
    summary.rounds++;
    summary.acknowledged += result.acknowledged;
    add(summary.phases, result.phase, 1);
    for (const [op, n] of result.ops) add(summary.ops, op, n);
    for (const k of new Set(result.asKilled)) add(summary.asKilled, k, 1);
    summary.merged += result.merged;
    summary.dropped += result.dropped;
    summary.childMs += result.childMs;
    summary.checkMs += result.checkMs;
    if (result.failures.length > 0) {
      summary.failedRounds++;
      summary.keptDirs.push(result.dir);
      for (const k of new Set(result.failures.map((f) => f.kind))) add(summary.failureKinds, k, 1);
      for (const f of result.failures.slice(0, 3))
        if (summary.examples.length < 20)
          summary.examples.push(`round ${result.round} (${result.phase}): ${f.kind}: ${f.detail}`);
      model = undefined; // keep the failing store as it is; go on with a fresh one
    }
    opts.onRound?.(
      `round ${result.round} store ${summary.stores}${model?.cap ? " (cap)" : ""} killed in ${result.phase}: ` +
        `${result.acknowledged} batches acked, ${[...result.ops].map(([k, n]) => `${n} ${k}`).join(" ") || "no maintenance"}, ` +
        `${result.merged} files merged, ${result.dropped} partitions dropped, ${result.present} records readable, ` +
        (result.failures.length === 0 ? "ok" : `FAILED: ${kindsOf(result.failures)}`),
    );
  }
  if (model) rmSync(model.dir, { recursive: true, force: true });
  summary.ms = Date.now() - started;
  return summary;
}

/** "kind ×n, other kind" */
function kindsOf(failures: Failure[]): string {
  const n = new Map<string, number>();
  for (const f of failures) add(n, f.kind, 1);
  return [...n].map(([k, c]) => (c > 1 ? `${k} ×${c}` : k)).join(", ");
}

function add(m: Map<string, number>, k: string, n: number): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

async function runRound(model: Model, rnd: Random, round: number): Promise<RoundResult> {
  model.rounds++;
  const spawned = Date.now();
  const child = startChild([
    "torture",
    model.dir,
    model.logPath,
    String(model.nextBatch),
    String(model.clock),
    String(rnd.int(1, 2 ** 31)),
    model.cap ? "1" : "0",
  ]);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const failures: Failure[] = [];
  let phase: string | undefined;
  const how = rnd.next();
  if (how < 0.15) {
    // Early: while the child loads, opens and recovers what the last kill left.
    await sleep(rnd.int(0, 900));
    if (!child.lines.includes("ready")) phase = "open";
  } else {
    await waitForLine(child, (l) => l === "ready", 60_000).catch((err: Error) => {
      failures.push({ kind: "child did not open", detail: `${err.message} ${stderr.slice(0, 500)}` });
    });
    if (how < 0.45) {
      // Aimed: shortly after the k-th start of a maintenance step, where the commit points are.
      const step = `${rnd.pick(["compact", "compact", "prune", "gc"])} `;
      const k = rnd.int(1, 3);
      const started = (l: string) => `${l} `.startsWith(step);
      await waitFor(() => child.lines.filter(started).length >= k || child.exitCode !== null, 8_000);
      await sleep(rnd.int(0, 200));
    } else if (how < 0.65) {
      // At a commit point: the moment the k-th cold manifest is renamed into place, before the hot
      // tier's side of that step (a compaction's or merge's index update, a drop's clean-up) lands.
      await manifestCommits(join(model.dir, "cold"), rnd.int(1, 4), 8_000);
      phase = "manifest commit";
    } else await sleep(rnd.int(20, 2500));
  }
  const exitedBefore = child.exitCode !== null;
  child.kill("SIGKILL");
  await exited(child);
  if (exitedBefore)
    failures.push({ kind: `child failed (exit ${child.exitCode})`, detail: stderr.slice(0, 1000) });
  const killed = Date.now();
  const { phase: logPhase, acks, ops } = model.absorb();
  const asKilled = await verifyAsKilled(model.dir);
  // No kill may leave what verify calls a problem: recovery at open finishes the rest (pending).
  for (const k of asKilled)
    if (!k.startsWith("pending: ")) failures.push({ kind: `verify as killed: ${k}`, detail: k });
  const present = await checkStore(model, failures);
  return {
    round,
    phase: phase ?? logPhase,
    acknowledged: acks,
    present,
    failures,
    dir: model.dir,
    ops,
    ...model.coldChanges(),
    asKilled,
    childMs: killed - spawned,
    checkMs: Date.now() - killed,
  };
}

/**
 * What `verify` says of the store as the kill left it, before any recovery: its pending items (what the
 * open finishes) show which crash windows the rounds reach; a problem here is one no recovery finishes.
 */
async function verifyAsKilled(dir: string): Promise<string[]> {
  try {
    const report = await verifyStore(dir);
    return [
      ...report.problems.map((p) => `problem: ${normalise(p.what)}`),
      ...report.pending.map((p) => `pending: ${normalise(p.what)}`),
    ];
  } catch (err) {
    return [`verify failed (${codeOf(err)})`];
  }
}

/** Reopens the store, checks it, closes it and verifies it; returns how many records it holds. */
async function checkStore(model: Model, failures: Failure[]): Promise<number> {
  let store: TraceStore;
  try {
    store = await openStore({ dir: model.dir });
  } catch (err) {
    failures.push({ kind: `open failed (${codeOf(err)})`, detail: String((err as Error).stack ?? err) });
    return 0;
  }
  let present = 0;
  try {
    present = await checkReads(store, model, failures);
  } catch (err) {
    failures.push({ kind: `read failed (${codeOf(err)})`, detail: String((err as Error).stack ?? err) });
  } finally {
    await store.close().catch((err: unknown) => {
      failures.push({ kind: `close failed (${codeOf(err)})`, detail: String(err) });
    });
  }
  try {
    const report = await verifyStore(model.dir);
    for (const p of report.problems)
      failures.push({ kind: `verify: ${normalise(p.what)}`, detail: `${p.where}: ${p.what}` });
  } catch (err) {
    failures.push({ kind: `verify failed (${codeOf(err)})`, detail: String((err as Error).stack ?? err) });
  }
  return present;
}

async function checkReads(store: TraceStore, model: Model, failures: Failure[]): Promise<number> {
  const fail = (kind: string, detail: string) => failures.push({ kind, detail });
  const all = await store.query({ bodies: false });
  const ids = new Set(all.map((r) => r.id));
  if (ids.size !== all.length)
    fail("a record readable twice", `${all.length - ids.size} duplicates in query`);
  const stats = await store.stats();
  if (stats.hotRecords + stats.coldRecords !== all.length)
    fail("stats disagree with reads", `hot ${stats.hotRecords} + cold ${stats.coldRecords} vs ${all.length}`);
  // Every acknowledged (or previously seen) record is there, unless a started prune could have dropped it.
  const dropCutoff = model.dropCutoff();
  for (const [id] of model.durable) {
    if (ids.has(id)) continue;
    const e = model.expected.get(id)!;
    if (e.ts >= dropCutoff) fail("an acknowledged record lost", `batch ${e.b} record ${e.i} (ts ${e.ts})`);
  }
  for (const id of ids) {
    if (!model.expected.has(id)) fail("a record never inserted", id);
    if (model.gone.has(id)) fail("a deleted record came back", id);
  }
  checkRetention(model, ids, fail);
  await checkTurns(store, model, all, fail);
  // What this check saw is durable from now on; what it did not see is gone for good.
  const mark = model.linesSeen;
  for (const [id] of model.expected) {
    if (ids.has(id)) {
      if (!model.durable.has(id)) model.durable.set(id, mark);
    } else {
      model.gone.add(id);
      model.durable.delete(id);
    }
  }
  return all.length;
}

/** A completed prune removed every record acknowledged before it started whose hour ended by its cutoff. */
function checkRetention(model: Model, ids: Set<string>, fail: (kind: string, detail: string) => void): void {
  const done = model.prunes.filter((p) => p.done !== undefined);
  if (done.length === 0) return;
  for (const id of ids) {
    const since = model.durable.get(id);
    const e = model.expected.get(id);
    if (since === undefined || e === undefined) continue;
    const p = done.find((q) => q.start > since && hourEnd(e.ts) <= q.now - TORTURE_POLICY.maxAgeMs);
    if (p) fail("retention kept an expired record", `batch ${e.b} record ${e.i}, prune at ${p.now}`);
  }
}

/** Each turn's records: exactly the query's, in order, each with its own timestamp and body. */
async function checkTurns(
  store: TraceStore,
  model: Model,
  all: StoredRecord[],
  fail: (kind: string, detail: string) => void,
): Promise<void> {
  const evictCutoff = model.evictCutoff();
  const batches = new Map<number, ReturnType<typeof tortureBatch>>();
  const bodyOf = (e: Expected) => {
    let batch = batches.get(e.b);
    if (!batch) {
      batch = tortureBatch(e.b, model.batchBase.get(e.b)!);
      batches.set(e.b, batch);
    }
    return batch[e.i]!.body;
  };
  let sampled = 0;
  for (const turnId of tortureTurnIds()) {
    const turn = await store.getTurn(turnId);
    const want = all.filter((r) => r.turnId === turnId).map((r) => r.id);
    const got = turn.map((r) => r.id);
    if (got.join() !== want.join())
      fail("getTurn disagrees with query", `${turnId}: ${got.length} records vs ${want.length}`);
    for (let k = 1; k < turn.length; k++)
      if (turn[k]!.timestamp < turn[k - 1]!.timestamp) fail("getTurn out of order", turnId);
    for (const r of turn) {
      const e = model.expected.get(r.id);
      if (!e) continue; // reported above
      if (r.timestamp !== e.ts) fail("a record with another timestamp", `${r.id}: ${r.timestamp} vs ${e.ts}`);
      const body = bodyOf(e);
      if (r.bodyEvicted) {
        if (body === undefined || r.body !== undefined) fail("bodyEvicted on a record without a body", r.id);
        else if (e.ts >= evictCutoff) fail("a body evicted too early", `batch ${e.b} record ${e.i}`);
      } else if (r.body !== body) fail("a record with a wrong or missing body", `batch ${e.b} record ${e.i}`);
      // getBody takes the id index (and, for a cold record, the turn → file index): it must agree.
      if (body !== undefined && sampled < 3 && (e.b + e.i) % 7 === 0) {
        sampled++;
        const viaId = await store.getBody(r.id);
        if (viaId !== r.body) fail("getBody disagrees with getTurn", `batch ${e.b} record ${e.i}`);
      }
    }
  }
}

function normalise(what: string): string {
  return what.replace(/[0-9a-f]{16,}/g, "…").replace(/\d+/g, "N");
}

function codeOf(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? (err as Error)?.name ?? "error");
}

/** Resolves as the `k`-th rename of MANIFEST.json into `coldDir` is seen (inotify), or after `ms`. */
function manifestCommits(coldDir: string, k: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      watcher?.close();
      clearTimeout(timer);
      resolve();
    };
    let watcher: FSWatcher | undefined;
    const timer = setTimeout(done, ms);
    try {
      watcher = watch(coldDir, (_event, name) => {
        if (name === MANIFEST_NAME && ++seen >= k) done();
      });
    } catch {
      done(); // no cold directory: the child died before opening (reported by the caller)
    }
  });
}

/** Resolves once `done()` holds, or after `ms`. */
async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await sleep(5);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
