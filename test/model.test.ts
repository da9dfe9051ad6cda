/**
 * A model-based test: random sequences of inserts (new, late, re-inserted hot and cold records),
 * compactions (and the merges they trigger), prunes by age (hours and days) and by size, GC and reopens
 * run against a store and against a Map model; after every command the store's reads equal the model's.
 *
 * Only the public API is used. The model knows which records are cold (a compaction with a cutoff
 * above their timestamp ran while they were stored), which is what retention's rule depends on.
 *
 * MODEL_SEED, MODEL_RUNS and MODEL_COMMANDS override the seed, the number of runs and the most commands
 * per run (e.g. MODEL_RUNS=100 for a long run).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  openStore,
  type Query,
  type StoredRecord,
  type StoreOptions,
  stableId,
  type TraceRecord,
  type TraceStore,
} from "../src/index.js";
import { tempDir } from "./support/fixtures.js";

const SEED = Number(process.env.MODEL_SEED ?? 20_261_129);
const RUNS = Number(process.env.MODEL_RUNS ?? 10);
const MAX_COMMANDS = Number(process.env.MODEL_COMMANDS ?? 60);

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Records lie in the four UTC days from T0, in a few hours of each (23 h is next to midnight). */
const T0 = Date.UTC(2026, 9, 1);
const DAYS = 4;
const HOURS = [0, 1, 7, 12, 23] as const;
const TURNS = 6;
const CONVERSATIONS = 3;
/** More than this many small files in one UTC hour of a partition are merged (compaction.ts). */
const MAX_SMALL_FILES = 4;

/**
 * Retention's rule for a cold record: it goes once its whole UTC hour has ended by the cutoff (the
 * hourly file holding it is dropped whole). Hot records go as soon as `timestamp < cutoff`.
 */
function coldRecordDropped(ts: number, cutoff: number): boolean {
  return (Math.floor(ts / HOUR) + 1) * HOUR <= cutoff;
}

const LONG = Array.from({ length: 300 }, (_, i) => `line ${i} of a long shared prompt\n`).join("");
/** Bodies records share: empty, small (stored inline) and long ones that share most of their chunks. */
const BODIES = ["", "ok", "a shared short response", LONG, `${LONG}with a different ending`] as const;
/** Small chunks, so that the long bodies are several chunks and share some (GC of shared chunks). */
const CHUNKING: StoreOptions["chunking"] = { inlineMax: 64, minSize: 256, avgSize: 512, maxSize: 2048 };

// ---------------------------------------------------------------------------------------------------
// The model

interface Entry {
  id: string;
  record: TraceRecord;
  /** Insertion order: reads order records by (timestamp, seq). */
  seq: number;
  cold: boolean;
}

interface Model {
  /** The records the store holds, by id. */
  live: Map<string, Entry>;
  /** Every record generated in this run, stored or not: what re-inserts pick from. */
  ever: TraceRecord[];
  nextSeq: number;
  nextUnique: number;
  /** The highest compaction cutoff so far: a late record is older than it. */
  frontier: number | undefined;
  /** Cold files per UTC hour (by hour number): predicts merges, for the coverage figures. */
  files: Map<number, number>;
  /** Ids of cold records retention dropped (for the coverage of their re-insert). */
  droppedCold: Set<string>;
}

interface Real {
  store: TraceStore;
  dir: string;
}

/** What the commands reached, over all runs: the test fails if the generator stops reaching them. */
const coverage = {
  coldDuplicates: 0,
  hotDuplicates: 0,
  reinsertedAfterHotDelete: 0,
  reinsertedAfterColdDrop: 0,
  lateRecordsCompacted: 0,
  merges: 0,
  coldDroppedByAge: 0,
  coldDroppedBySize: 0,
  hotDeletedByAge: 0,
  /** Cold records dropped by a prune whose cutoff lies inside their UTC day (the hour rule at work). */
  coldDroppedWithinTheirDay: 0,
  reopens: 0,
};

function emptyModel(): Model {
  return {
    live: new Map(),
    ever: [],
    nextSeq: 0,
    nextUnique: 0,
    frontier: undefined,
    files: new Map(),
    droppedCold: new Set(),
  };
}

const hourOf = (ts: number) => Math.floor(ts / HOUR);
const dateOf = (ts: number) => new Date(ts).toISOString().slice(0, 10);
/** A time as hours and minutes from T0 (for commands' descriptions). */
function at(ts: number): string {
  const d = Math.abs(ts - T0);
  return `${ts < T0 ? "-" : "+"}${Math.floor(d / HOUR)}h${Math.floor((d % HOUR) / MINUTE)}m`;
}

function sorted(entries: Iterable<Entry>): Entry[] {
  return [...entries].sort((a, b) => a.record.timestamp - b.record.timestamp || a.seq - b.seq);
}

/** The record as a read returns it: the record plus its id, the body only when bodies are asked for. */
function expected(e: Entry, bodies: boolean): StoredRecord {
  const { body, ...thin } = e.record;
  return { ...(bodies && body !== undefined ? e.record : thin), id: e.id } as StoredRecord;
}

/** Applies an insert to the model, returning what the store must answer. */
function insertIntoModel(
  m: Model,
  records: readonly TraceRecord[],
): { inserted: number; duplicates: number } {
  let inserted = 0;
  for (const record of records) {
    const id = stableId(record);
    if (m.live.has(id)) continue;
    m.live.set(id, { id, record, seq: m.nextSeq++, cold: false });
    inserted++;
  }
  return { inserted, duplicates: records.length - inserted };
}

/** Removes deleted records from the model. */
function forget(m: Model, gone: readonly Entry[]): void {
  for (const e of gone) {
    m.live.delete(e.id);
    if (e.cold) m.droppedCold.add(e.id);
  }
}

function liveBodies(m: Model): number {
  return new Set([...m.live.values()].flatMap((e) => (e.record.body === undefined ? [] : [e.record.body])))
    .size;
}

// ---------------------------------------------------------------------------------------------------
// Records

interface RecordSpec {
  kind: 0 | 1 | 2;
  /** -1: no turn (such records are read by queries, never by getTurn). */
  turn: number;
  /** -1: no conversation. */
  conv: number;
  /** -2: no body; -1: a body of its own; otherwise an index into BODIES. */
  body: number;
  /** The record's minute and second within its hour. */
  minute: number;
  second: number;
}

const recordSpec: fc.Arbitrary<RecordSpec> = fc.record({
  kind: fc.constantFrom(0 as const, 1 as const, 2 as const),
  turn: fc.integer({ min: -1, max: TURNS - 1 }),
  conv: fc.integer({ min: -1, max: CONVERSATIONS - 1 }),
  body: fc.integer({ min: -2, max: BODIES.length - 1 }),
  minute: fc.nat(59),
  second: fc.constantFrom(0, 0, 1, 30, 59),
});

/** A new record (its `n` attribute makes it unique within the run). */
function makeRecord(m: Model, spec: RecordSpec, timestamp: number): TraceRecord {
  const n = m.nextUnique++;
  const body =
    spec.body === -2 ? undefined : spec.body === -1 ? `a body of its own #${n}` : BODIES[spec.body];
  const common = {
    timestamp,
    extensionId: "ext",
    ...(spec.turn >= 0 ? { turnId: `turn-${spec.turn}` } : {}),
    ...(spec.conv >= 0 ? { conversationId: `conv-${spec.conv}` } : {}),
    attributes: { n, tags: ["model", n % 3] },
    ...(body === undefined ? {} : { body }),
  };
  const spanId = `span-${n}`;
  if (spec.kind === 0) return { ...common, kind: "log", level: "info", msg: `message ${n}` };
  if (spec.kind === 1) return { ...common, kind: "span-open", spanId, name: "step" };
  return { ...common, kind: "span-close", spanId, name: "step", durationMs: n % 7, status: "ok" };
}

const describeRecord = (r: TraceRecord) =>
  `${r.turnId ?? "no turn"}@${at(r.timestamp)}${r.body === undefined ? "" : `+body${r.body.length}`}`;

// ---------------------------------------------------------------------------------------------------
// Checks

/** After every command: counts per tier, partitions, bodies, and every record in (timestamp, seq) order. */
async function checkCheap(m: Model, real: Real): Promise<void> {
  const entries = [...m.live.values()];
  const cold = entries.filter((e) => e.cold);
  const stats = await real.store.stats();
  expect({
    hot: stats.hotRecords,
    cold: stats.coldRecords,
    partitions: stats.coldPartitions,
    bodies: stats.bodies,
  }).toEqual({
    hot: entries.length - cold.length,
    cold: cold.length,
    partitions: new Set(cold.map((e) => dateOf(e.record.timestamp))).size,
    bodies: liveBodies(m),
  });
  const all = await real.store.query({ bodies: false });
  expect(all).toEqual(sorted(entries).map((e) => expected(e, false)));
}

/** Every live record's body, and some deleted records' (none). */
async function checkBodies(m: Model, real: Real): Promise<void> {
  for (const e of m.live.values()) {
    const what = `getBody of ${e.cold ? "cold" : "hot"} ${describeRecord(e.record)} (${e.id})`;
    expect(await real.store.getBody(e.id), what).toBe(e.record.body);
  }
  const gone = m.ever.filter((r) => !m.live.has(stableId(r))).slice(-10);
  for (const r of gone) expect(await real.store.getBody(stableId(r))).toBeUndefined();
}

/** Every turn (with and without bodies) and every body. */
async function checkReads(m: Model, real: Real): Promise<void> {
  const entries = sorted(m.live.values());
  for (let t = 0; t < TURNS; t++) {
    const turnId = `turn-${t}`;
    const mine = entries.filter((e) => e.record.turnId === turnId);
    expect(await real.store.getTurn(turnId), turnId).toEqual(mine.map((e) => expected(e, true)));
    expect(await real.store.getTurn(turnId, { bodies: false }), turnId).toEqual(
      mine.map((e) => expected(e, false)),
    );
  }
  await checkBodies(m, real);
}

// ---------------------------------------------------------------------------------------------------
// Commands

type Cmd = fc.AsyncCommand<Model, Real>;

/** Each command checks its own result, then the cheap checks run. */
abstract class Base implements Cmd {
  check(_m: Readonly<Model>): boolean {
    return true;
  }
  async run(m: Model, real: Real): Promise<void> {
    await this.apply(m, real);
    await checkCheap(m, real);
  }
  abstract apply(m: Model, real: Real): Promise<void>;
  abstract toString(): string;
}

const timeOf = (day: number, hour: number, s: RecordSpec) =>
  T0 + day * DAY + hour * HOUR + s.minute * MINUTE + s.second * 1000;

/** New records across the days and hours (one possibly given twice in the batch). */
class InsertNew extends Base {
  constructor(
    readonly items: { day: number; hour: number; spec: RecordSpec }[],
    readonly twice: boolean,
  ) {
    super();
  }
  async apply(m: Model, real: Real): Promise<void> {
    const records = this.items.map((it) => makeRecord(m, it.spec, timeOf(it.day, it.hour, it.spec)));
    m.ever.push(...records);
    const batch = this.twice ? [...records, records[0]!] : records;
    const want = insertIntoModel(m, batch);
    expect(await real.store.insertRecords(batch)).toEqual(want);
  }
  toString(): string {
    const items = this.items.map((it) => `d${it.day}h${it.hour}:turn-${it.spec.turn}/b${it.spec.body}`);
    return `insertNew(${items.join(",")}${this.twice ? ", first twice" : ""})`;
  }
}

/**
 * Records older than the compaction frontier (`back` hours before its hour): they land hot, and the
 * next compaction writes them as a new small file in an hour that already has files.
 */
class InsertLate extends Base {
  constructor(readonly items: { back: number; spec: RecordSpec }[]) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.frontier !== undefined;
  }
  async apply(m: Model, real: Real): Promise<void> {
    const frontier = m.frontier!;
    const records = this.items.map((it) => {
      const start = (hourOf(frontier - 1) - it.back) * HOUR;
      const room = Math.min(HOUR, frontier - start);
      return makeRecord(
        m,
        it.spec,
        start + Math.floor(((it.spec.minute * 60 + it.spec.second) / 3600) * room),
      );
    });
    m.ever.push(...records);
    const want = insertIntoModel(m, records);
    expect(await real.store.insertRecords(records)).toEqual(want);
  }
  toString(): string {
    return `insertLate(${this.items.map((it) => `${it.back}h back:turn-${it.spec.turn}`).join(",")})`;
  }
}

/** Records generated earlier in the run, again: stored ones (hot or cold) are duplicates, deleted ones new. */
class Reinsert extends Base {
  constructor(readonly picks: number[]) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.ever.length > 0;
  }
  async apply(m: Model, real: Real): Promise<void> {
    const records = this.picks.map((p) => m.ever[p % m.ever.length]!);
    for (const r of records) {
      const e = m.live.get(stableId(r));
      if (e?.cold) coverage.coldDuplicates++;
      else if (e) coverage.hotDuplicates++;
      else if (m.droppedCold.has(stableId(r))) coverage.reinsertedAfterColdDrop++;
      else coverage.reinsertedAfterHotDelete++;
    }
    const want = insertIntoModel(m, records);
    expect(await real.store.insertRecords(records), records.map(describeRecord).join(" ")).toEqual(want);
  }
  toString(): string {
    return `reinsert(#${this.picks.join(",#")})`;
  }
}

/**
 * A compaction at a clock of its own, or (`now` undefined) at the last compaction's cutoff moved on by
 * `olderThanMs`, as a periodic job would run: that one writes each late record's hour a new file.
 */
class Compact extends Base {
  constructor(
    readonly now: number | undefined,
    readonly olderThanMs: number,
  ) {
    super();
  }
  async apply(m: Model, real: Real): Promise<void> {
    const now = this.now ?? (m.frontier ?? T0) + this.olderThanMs;
    const cutoff = now - this.olderThanMs;
    const moving = [...m.live.values()].filter((e) => !e.cold && e.record.timestamp < cutoff);
    const result = await real.store.compact({ now, olderThanMs: this.olderThanMs });
    expect(result.recordsMoved, `records moved (cutoff ${at(cutoff)})`).toBe(moving.length);
    const hours = new Set(moving.map((e) => hourOf(e.record.timestamp)));
    for (const e of moving) {
      e.cold = true;
      if (m.frontier !== undefined && e.record.timestamp < m.frontier) coverage.lateRecordsCompacted++;
    }
    for (const h of hours) {
      const n = (m.files.get(h) ?? 0) + 1;
      if (n > MAX_SMALL_FILES) coverage.merges++;
      m.files.set(h, n > MAX_SMALL_FILES ? 1 : n);
    }
    m.frontier = Math.max(m.frontier ?? cutoff, cutoff);
  }
  toString(): string {
    const now = this.now === undefined ? "frontier+olderThan" : at(this.now);
    return `compact(now=${now}, olderThan=${this.olderThanMs / HOUR}h)`;
  }
}

/**
 * Late records trickling in between periodic compactions: each round inserts late records into the
 * frontier's hour and compacts at the frontier, so each round adds that hour a small file; the fifth
 * small file of an hour triggers a merge.
 */
class LateTrickle extends Base {
  constructor(readonly rounds: { spec: RecordSpec }[][]) {
    super();
  }
  override check(m: Readonly<Model>): boolean {
    return m.frontier !== undefined;
  }
  async apply(m: Model, real: Real): Promise<void> {
    for (const round of this.rounds) {
      await new InsertLate(round.map((it) => ({ back: 0, spec: it.spec }))).apply(m, real);
      await new Compact(undefined, 0).apply(m, real);
    }
  }
  toString(): string {
    return `lateTrickle(${this.rounds.map((r) => r.length).join("+")} records, each round compacted)`;
  }
}

/** What a prune by age deletes: hot records before the cutoff, cold ones by `coldRecordDropped`. */
function pastAge(m: Model, cutoff: number): Entry[] {
  return [...m.live.values()].filter((e) =>
    e.cold ? coldRecordDropped(e.record.timestamp, cutoff) : e.record.timestamp < cutoff,
  );
}

/** The model's cold files that a prune by age dropped (a file holds one hour). */
function forgetFiles(m: Model, cutoff: number): void {
  for (const h of m.files.keys()) if (coldRecordDropped(h * HOUR, cutoff)) m.files.delete(h);
}

/**
 * An age limit and where its cutoff lies: at a clock, or some time before the compaction frontier
 * (where the cold hours are). The prune's clock is the cutoff plus the limit.
 */
type Age = { maxAgeMs: number } & ({ cutoff: number } | { beforeFrontier: number });

function cutoffOf(m: Model, age: Age): number {
  return "cutoff" in age ? age.cutoff : (m.frontier ?? T0) - age.beforeFrontier;
}

function ageString(age: Age): string {
  const limit = age.maxAgeMs % DAY === 0 ? `${age.maxAgeMs / DAY}d` : `${age.maxAgeMs / HOUR}h`;
  const d = "cutoff" in age ? 0 : age.beforeFrontier;
  const cutoff = "cutoff" in age ? at(age.cutoff) : `frontier-${d / HOUR}h${(d % HOUR) / MINUTE}m`;
  return `maxAge=${limit}, cutoff ${cutoff}`;
}

class PruneByAge extends Base {
  constructor(readonly age: Age) {
    super();
  }
  async apply(m: Model, real: Real): Promise<void> {
    const cutoff = cutoffOf(m, this.age);
    const gone = pastAge(m, cutoff);
    const { maxAgeMs } = this.age;
    const result = await real.store.prune({ maxAgeMs }, { now: cutoff + maxAgeMs });
    const what = gone.map((e) => `${e.cold ? "cold" : "hot"} ${describeRecord(e.record)}`);
    expect(result.recordsDeleted, `records deleted (cutoff ${at(cutoff)}): ${what.join(", ")}`).toBe(
      gone.length,
    );
    forget(m, gone);
    await checkBodies(m, real); // the prune collected the bodies only deleted records referred to
    forgetFiles(m, cutoff);
    const coldGone = gone.filter((e) => e.cold);
    coverage.coldDroppedByAge += coldGone.length;
    coverage.hotDeletedByAge += gone.length - coldGone.length;
    const dayEnd = (ts: number) => (Math.floor(ts / DAY) + 1) * DAY;
    coverage.coldDroppedWithinTheirDay += coldGone.filter((e) => dayEnd(e.record.timestamp) > cutoff).length;
  }
  toString(): string {
    return `pruneByAge(${ageString(this.age)})`;
  }
}

/**
 * The cap is a fraction of the cold tier's bytes, sometimes with an age limit as well. Bytes cannot be
 * predicted, so the check is of the shape: beyond what the age limit deletes, what went is exactly the
 * cold records of the oldest k whole hours left, for some k, and nothing hot.
 */
class PruneBySize extends Base {
  constructor(
    readonly fraction: number,
    readonly age: Age | undefined,
  ) {
    super();
  }
  async apply(m: Model, real: Real): Promise<void> {
    const cap = Math.floor((await real.store.stats()).coldBytes * this.fraction);
    const cutoff = this.age && cutoffOf(m, this.age);
    const byAge = cutoff === undefined ? [] : pastAge(m, cutoff);
    const maxAgeMs = this.age?.maxAgeMs;
    const now = cutoff === undefined || maxAgeMs === undefined ? undefined : cutoff + maxAgeMs;
    const result = await real.store.prune({ maxColdBytes: cap, maxAgeMs }, { now });
    const present = new Set((await real.store.query({ bodies: false })).map((r) => r.id));
    expect(
      [...present].filter((id) => !m.live.has(id)),
      "records that came back",
    ).toEqual([]);
    expect(
      byAge.filter((e) => present.has(e.id)).map((e) => describeRecord(e.record)),
      "records past the age limit that stayed",
    ).toEqual([]);
    const aged = new Set(byAge);
    const entries = [...m.live.values()].filter((e) => !aged.has(e));
    const gone = entries.filter((e) => !present.has(e.id));
    expect(
      gone.filter((e) => !e.cold).map((e) => e.id),
      "hot records dropped by size",
    ).toEqual([]);
    const lastHour = Math.max(-1, ...gone.map((e) => hourOf(e.record.timestamp)));
    const prefix = entries.filter((e) => e.cold && hourOf(e.record.timestamp) <= lastHour);
    expect(new Set(gone.map((e) => e.id)), "an oldest-hours prefix of the cold records").toEqual(
      new Set(prefix.map((e) => e.id)),
    );
    expect(result.recordsDeleted).toBe(byAge.length + gone.length);
    forget(m, [...byAge, ...gone]);
    await checkBodies(m, real); // the prune collected the bodies only deleted records referred to
    if (cutoff !== undefined) forgetFiles(m, cutoff);
    for (const h of m.files.keys()) if (h <= lastHour) m.files.delete(h);
    coverage.coldDroppedBySize += gone.length;
  }
  toString(): string {
    const age = this.age ? `, ${ageString(this.age)}` : "";
    return `pruneBySize(cap=${this.fraction}×coldBytes${age})`;
  }
}

/** GC deletes no body a stored record refers to (shared bodies and chunks included). */
class Gc extends Base {
  async apply(m: Model, real: Real): Promise<void> {
    await real.store.gc();
    await checkBodies(m, real);
  }
  toString(): string {
    return "gc()";
  }
}

class Reopen extends Base {
  async apply(_m: Model, real: Real): Promise<void> {
    await real.store.close();
    real.store = await openStore({ dir: real.dir, chunking: CHUNKING });
    coverage.reopens++;
  }
  toString(): string {
    return "reopen()";
  }
}

/** Every turn, every body, and a query with generated bounds, order, limit and conversation. */
class Read extends Base {
  constructor(readonly q: Query) {
    super();
  }
  async apply(m: Model, real: Real): Promise<void> {
    await checkReads(m, real);
    const { from, to, conversationId, turnId, order, limit } = this.q;
    let want = sorted(m.live.values()).filter(
      (e) =>
        (from === undefined || e.record.timestamp >= from) &&
        (to === undefined || e.record.timestamp < to) &&
        (conversationId === undefined || e.record.conversationId === conversationId) &&
        (turnId === undefined || e.record.turnId === turnId),
    );
    if (order === "desc") want.reverse();
    if (limit !== undefined) want = want.slice(0, limit);
    expect(await real.store.query(this.q)).toEqual(want.map((e) => expected(e, this.q.bodies !== false)));
  }
  toString(): string {
    const q = { ...this.q, from: this.q.from && at(this.q.from), to: this.q.to && at(this.q.to) };
    return `read(${JSON.stringify(q)})`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries

const dayHour = { day: fc.nat(DAYS - 1), hour: fc.constantFrom(...HOURS) };
/** A clock somewhere from the first day to a day after the last, often on the hour (boundaries). */
const clock = fc
  .tuple(fc.nat((DAYS + 1) * 24), fc.oneof(fc.constant(0), fc.nat(59)))
  .map(([h, min]) => T0 + h * HOUR + min * MINUTE);
const timeBound = fc.option(
  fc.integer({ min: -24, max: (DAYS + 1) * 24 }).map((h) => T0 + h * HOUR),
  { nil: undefined },
);

const insertNew = fc
  .tuple(fc.array(fc.record({ ...dayHour, spec: recordSpec }), { minLength: 1, maxLength: 8 }), fc.boolean())
  .map(([items, twice]) => new InsertNew(items, twice));
const insertLate = fc
  .array(fc.record({ back: fc.constantFrom(0, 0, 0, 1, 2), spec: recordSpec }), {
    minLength: 1,
    maxLength: 4,
  })
  .map((items) => new InsertLate(items));
const lateTrickle = fc
  .array(fc.array(fc.record({ spec: recordSpec }), { minLength: 1, maxLength: 2 }), {
    minLength: 2,
    maxLength: 6,
  })
  .map((rounds) => new LateTrickle(rounds));
const reinsert = fc.array(fc.nat(1000), { minLength: 1, maxLength: 6 }).map((p) => new Reinsert(p));
const olderThan = fc.constantFrom(0, HOUR, 6 * HOUR, DAY);
const compactAt = fc.tuple(clock, olderThan).map(([now, older]) => new Compact(now, older));
const compactNext = olderThan.map((older) => new Compact(undefined, older));
/**
 * An age limit in hours or in days; its cutoff anywhere over the data, or among the last cold hours
 * (where a cutoff inside a day drops its earlier hours).
 */
const age: fc.Arbitrary<Age> = fc
  .tuple(
    fc.oneof(
      fc.integer({ min: 1, max: 18 }).map((h) => h * HOUR),
      fc.integer({ min: 1, max: 3 }).map((d) => d * DAY),
    ),
    fc.oneof(
      clock.map((cutoff) => ({ cutoff })),
      fc
        .tuple(fc.nat(12), fc.constantFrom(0, 30))
        .map(([h, min]) => ({ beforeFrontier: h * HOUR + min * MINUTE })),
    ),
  )
  .map(([maxAgeMs, where]) => ({ maxAgeMs, ...where }));
const pruneByAge = age.map((a) => new PruneByAge(a));
const pruneBySize = fc
  .tuple(fc.constantFrom(0, 0.3, 0.6, 0.9, 1, 4), fc.option(age, { nil: undefined, freq: 2 }))
  .map(([fraction, withAge]) => new PruneBySize(fraction, withAge));
const read = fc
  .record({
    from: timeBound,
    to: timeBound,
    order: fc.constantFrom(undefined, "asc" as const, "desc" as const),
    limit: fc.option(fc.nat(20), { nil: undefined }),
    conversationId: fc.option(fc.constantFrom("conv-0", "conv-1", "conv-2"), { nil: undefined }),
    turnId: fc.constantFrom(undefined, undefined, undefined, "turn-0", "turn-1"),
    bodies: fc.boolean(),
  })
  .map((q) => new Read(Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as Query));

/**
 * Inserts and compactions are the common commands, so that stores have something to prune; late
 * inserts and compactions at the frontier alternate often enough to pile small files into an hour.
 */
const commands = fc.commands(
  [
    insertNew,
    insertNew,
    insertLate,
    insertLate,
    lateTrickle,
    reinsert,
    reinsert,
    compactAt,
    compactNext,
    compactNext,
    compactNext,
    pruneByAge,
    pruneByAge,
    pruneBySize,
    fc.constant(new Gc()),
    fc.constant(new Reopen()),
    read,
  ],
  { maxCommands: MAX_COMMANDS, size: "max" },
);

// ---------------------------------------------------------------------------------------------------

describe("the store against a model", () => {
  // Found by the model test on release 1: getBody of a cold record read the files of its turn and
  // picked the row whose turn is that turn; a record without a turn is indexed under "" but its row has
  // no turn, so nothing matched and the body read as missing (queries did return it).
  it("returns the body of a compacted record that has no turn", async () => {
    const dir = tempDir();
    const store = await openStore({ dir });
    try {
      const r: TraceRecord = {
        kind: "log",
        level: "info",
        msg: "m",
        timestamp: T0,
        extensionId: "e",
        body: "b",
      };
      await store.insertRecords([r]);
      await store.compact({ now: T0 + HOUR, olderThanMs: 0 });
      expect((await store.stats()).coldRecords).toBe(1);
      expect(await store.getBody(stableId(r))).toBe("b");
    } finally {
      await store.close();
    }
  });

  it(
    "equals the model after every interleaving of inserts, compaction, merges, prunes, GC and reopens",
    async () => {
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          const dir = tempDir();
          const real: Real = { dir, store: await openStore({ dir, chunking: CHUNKING }) };
          const model = emptyModel();
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            await checkReads(model, real);
            await real.store.close();
            real.store = await openStore({ dir, chunking: CHUNKING });
            await checkCheap(model, real);
            await checkReads(model, real);
          } finally {
            await real.store.close().catch(() => {});
          }
        }),
        { seed: SEED, numRuns: RUNS },
      );
      console.info(`model test: seed ${SEED}, ${RUNS} runs, coverage ${JSON.stringify(coverage)}`);
      for (const [what, n] of Object.entries(coverage)) expect(n, what).toBeGreaterThan(0);
    },
    Math.max(120_000, RUNS * 4_000),
  );
});
