/**
 * The turns list and token usage, held to a brute force over the same records: every turn summed from
 * its records, every page walked by cursor, before and after compaction, after a reopen and a prune.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  type Attributes,
  InvalidOptionError,
  openStore,
  type TraceRecord,
  type TraceStore,
  type TurnSummary,
  type TurnsPage,
  type TurnsQuery,
  type UsageQuery,
  type UsageRow,
} from "../src/index.js";
import { Random } from "../src/workload/random.js";
import { HotTier } from "../tiers/hot/tier.js";
import { tempCollector } from "./support/collector.js";
import { installFaultFs } from "./support/fault-fs.js";
import { multiDayTurns, tempDir, tempStore } from "./support/fixtures.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 9, 1);

// ---- the brute force: the definitions of types.ts, applied to all records at once ----

type Indexed = { r: TraceRecord; i: number };

function inOrder(records: readonly TraceRecord[]): Indexed[] {
  return records.map((r, i) => ({ r, i })).sort((a, b) => a.r.timestamp - b.r.timestamp || a.i - b.i);
}

function num(a: Attributes | undefined, keys: string[]): number {
  for (const k of keys) {
    const v = a?.[k];
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
  }
  return 0;
}
const IN = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"];
const OUT = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"];
const models = (a: Attributes | undefined) =>
  ["gen_ai.request.model", "gen_ai.response.model"]
    .map((k) => a?.[k])
    .filter((v): v is string => typeof v === "string" && v !== "");

function bruteTurns(records: readonly TraceRecord[]): TurnSummary[] {
  const byTurn = new Map<string, TraceRecord[]>();
  for (const { r } of inOrder(records)) {
    if (r.turnId === undefined) continue;
    byTurn.set(r.turnId, [...(byTurn.get(r.turnId) ?? []), r]);
  }
  return [...byTurn].map(([turnId, rs]) => bruteTurn(turnId, rs));
}

function bruteTurn(turnId: string, rs: TraceRecord[]): TurnSummary {
  const spanRecords = rs.filter((r) => r.kind !== "log");
  const spanIds = new Set(spanRecords.map((r) => (r as { spanId: string }).spanId));
  const roots = spanRecords.filter((r) => {
    const parent = rs.find(
      (x) => x.kind !== "log" && x.spanId === (r as { spanId: string }).spanId && x.parentSpanId,
    )?.parentSpanId;
    return parent === undefined || !spanIds.has(parent);
  });
  const start = rs[0]!.timestamp;
  const end = Math.max(...rs.map((r) => r.timestamp));
  // the earliest-opened root; its name from its first record, its duration from its close
  const rootOpen = (id: string) =>
    Math.min(
      ...rs
        .filter((r) => r.kind !== "log" && r.spanId === id)
        .map((r) => (r.kind === "span-open" ? r.timestamp : Number.POSITIVE_INFINITY)),
      ...rs.filter((r) => r.kind !== "log" && r.spanId === id).map((r) => r.timestamp),
    );
  const rootIds = [...new Set(roots.map((r) => (r as { spanId: string }).spanId))];
  const rootId = rootIds.sort((a, b) => rootOpen(a) - rootOpen(b))[0];
  const rootFirst = rs.find((r) => r.kind !== "log" && r.spanId === rootId) as { name: string } | undefined;
  const rootCloses = rs.filter((r) => r.kind === "span-close" && r.spanId === rootId);
  const conversationId = rs.find((r) => r.conversationId !== undefined)?.conversationId;
  const s: TurnSummary = {
    turnId,
    extensionId: rs[0]!.extensionId,
    start,
    end,
    durationMs:
      rootCloses.length > 0 ? (rootCloses.at(-1) as { durationMs: number }).durationMs : end - start,
    records: rs.length,
    spans: spanIds.size,
    logs: rs.filter((r) => r.kind === "log").length,
    errors: rs.filter(
      (r) => (r.kind === "span-close" && r.status === "error") || (r.kind === "log" && r.level === "error"),
    ).length,
    models: [...new Set(rs.flatMap((r) => models(r.attributes)))].sort(),
    inputTokens: rs.reduce((n, r) => n + num(r.attributes, IN), 0),
    outputTokens: rs.reduce((n, r) => n + num(r.attributes, OUT), 0),
  };
  if (conversationId !== undefined) s.conversationId = conversationId;
  if (rootFirst) s.name = rootFirst.name;
  return s;
}

function bruteList(records: readonly TraceRecord[], q: TurnsQuery): TurnSummary[] {
  const all = bruteTurns(records).filter(
    (t) =>
      (q.from === undefined || t.start >= q.from) &&
      (q.to === undefined || t.start < q.to) &&
      (q.extensionId === undefined || t.extensionId === q.extensionId) &&
      (q.conversationId === undefined || t.conversationId === q.conversationId) &&
      (q.errors !== true || t.errors > 0) &&
      (q.model === undefined || t.models.includes(q.model)),
  );
  all.sort((a, b) => a.start - b.start || (a.turnId < b.turnId ? -1 : a.turnId > b.turnId ? 1 : 0));
  return q.order === "asc" ? all : all.reverse();
}

function bruteUsage(records: readonly TraceRecord[], q: UsageQuery = {}): UsageRow[] {
  type Call = { ts: number; ext: string; model?: string; input: number; output: number; used: boolean };
  const calls = new Map<string, Call>();
  let n = 0;
  for (const { r } of inOrder(records)) {
    const a = r.attributes;
    const used = models(a).length > 0 || [...IN, ...OUT].some((k) => a?.[k] !== undefined);
    const key = r.turnId !== undefined && r.spanId !== undefined ? `${r.turnId}/${r.spanId}` : `#${n++}`;
    const c = calls.get(key) ?? { ts: r.timestamp, ext: r.extensionId, input: 0, output: 0, used: false };
    if (r.kind === "span-open" && !calls.has(`open:${key}`)) {
      c.ts = r.timestamp;
      calls.set(`open:${key}`, c);
    }
    if (used) {
      c.used = true;
      c.model ??= models(a)[0];
      c.input += num(a, IN);
      c.output += num(a, OUT);
    }
    calls.set(key, c);
  }
  const rows = new Map<string, UsageRow>();
  for (const [k, c] of calls) {
    if (k.startsWith("open:") || !c.used) continue;
    if (q.extensionId !== undefined && c.ext !== q.extensionId) continue;
    if ((q.from !== undefined && c.ts < q.from) || (q.to !== undefined && c.ts >= q.to)) continue;
    const date = new Date(c.ts).toISOString().slice(0, 10);
    const model = c.model ?? "unknown";
    const row = rows.get(`${date} ${model}`) ?? { date, model, calls: 0, inputTokens: 0, outputTokens: 0 };
    row.calls++;
    row.inputTokens += c.input;
    row.outputTokens += c.output;
    rows.set(`${date} ${model}`, row);
  }
  return [...rows.values()].sort((a, b) => (a.date + a.model < b.date + b.model ? -1 : 1));
}

// ---- the store's side ----

async function allPages(store: TraceStore, q: TurnsQuery): Promise<TurnSummary[]> {
  const out: TurnSummary[] = [];
  let cursor = q.cursor;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.turns({ ...q, cursor });
    out.push(...page.turns);
    if (page.nextCursor === undefined) return out;
    expect(page.turns.length).toBe(q.limit ?? 50);
    cursor = page.nextCursor;
  }
  throw new Error("the pages never end");
}

/**
 * Varied turns over a few days: agent turns from the workload generator (model on the span-open,
 * tokens on the span-close), hour-crossing turns, older token keys, bad counts, errors, orphan spans,
 * a token-carrying log, and records without a turn.
 */
function workload(seed: number): TraceRecord[] {
  const rnd = new Random(seed);
  const out: TraceRecord[] = multiDayTurns(3, 3, 13)
    .flat()
    .map(({ body: _body, ...r }) => r as TraceRecord);
  for (let t = 0; t < 12; t++) {
    const turnId = `x-${seed}-${t}`;
    // some turns straddle an hour (so two cold files) or a day
    let ts = T0 + rnd.int(0, 3) * DAY + (rnd.int(1, 23) * HOUR - rnd.int(0, 4000));
    const ext = rnd.pick(["a", "b"]);
    const base = { extensionId: ext, turnId, ...(rnd.chance(0.7) ? { conversationId: `c${t % 3}` } : {}) };
    const root = `r${t}`;
    const rootHasParent = rnd.chance(0.3);
    out.push({
      kind: "span-open",
      spanId: root,
      name: "turn",
      timestamp: ts,
      ...base,
      ...(rootHasParent ? { parentSpanId: "elsewhere" } : {}),
    });
    const calls = rnd.int(0, 3);
    for (let c = 0; c < calls; c++) {
      const spanId = `l${t}-${c}`;
      const model = rnd.pick(["m1", "m2", undefined]);
      ts += rnd.int(1, 3000);
      out.push({
        kind: "span-open",
        spanId,
        parentSpanId: root,
        name: "llm",
        timestamp: ts,
        ...base,
        ...(model ? { attributes: { "gen_ai.request.model": model } } : {}),
      });
      ts += rnd.int(1, 3000);
      const old = rnd.chance(0.3);
      const usage: Attributes = old
        ? { "gen_ai.usage.prompt_tokens": rnd.int(0, 900), "gen_ai.usage.completion_tokens": rnd.int(0, 90) }
        : {
            "gen_ai.usage.input_tokens": rnd.chance(0.1) ? -5 : rnd.int(0, 900),
            "gen_ai.usage.output_tokens": rnd.int(0, 90),
          };
      if (rnd.chance(0.2)) usage["gen_ai.response.model"] = "m3";
      out.push({
        kind: "span-close",
        spanId,
        parentSpanId: root,
        name: "llm",
        durationMs: rnd.int(1, 3000),
        status: rnd.chance(0.2) ? "error" : "ok",
        timestamp: ts,
        ...base,
        attributes: usage,
      });
    }
    if (rnd.chance(0.3)) out.push({ kind: "log", level: "error", msg: "boom", timestamp: ++ts, ...base });
    if (rnd.chance(0.3))
      out.push({
        kind: "log",
        level: "info",
        msg: "tokens",
        spanId: root,
        timestamp: ++ts,
        ...base,
        attributes: { "gen_ai.usage.output_tokens": 7 },
      });
    if (rnd.chance(0.7))
      out.push({
        kind: "span-close",
        spanId: root,
        name: "turn",
        durationMs: 4321,
        status: "ok",
        timestamp: ++ts,
        ...base,
      });
  }
  out.push({
    kind: "log",
    level: "info",
    msg: "no turn",
    timestamp: T0 + 5,
    extensionId: "a",
    attributes: { "gen_ai.usage.input_tokens": 11, "gen_ai.request.model": "m1" },
  });
  return out;
}

const NOW = T0 + 6 * DAY;

async function expectSame(store: TraceStore, records: readonly TraceRecord[], limit: number): Promise<void> {
  for (const order of ["desc", "asc"] as const) {
    expect(await allPages(store, { limit, order })).toEqual(bruteList(records, { order }));
  }
  expect((await store.usage()).rows).toEqual(bruteUsage(records));
}

describe("the turns list", () => {
  it("sums every turn as the brute force does, and its pages walk every turn once, in both orders", async () => {
    const { store } = await tempStore();
    const records = workload(1);
    await store.insertRecords(records);
    await expectSame(store, records, 7);
  });

  it("gives the same summaries and pages with part of the records compacted to cold files, and after a reopen", async () => {
    const { store, dir } = await tempStore();
    const records = workload(2);
    await store.insertRecords(records);
    await store.turns({}); // the hot part is cached: compaction must not leave it stale
    await store.compact({ now: NOW, olderThanMs: 3 * DAY + 7 * HOUR });
    expect((await store.stats()).coldRecords).toBeGreaterThan(0);
    expect((await store.stats()).hotRecords).toBeGreaterThan(0);
    await expectSame(store, records, 5);
    await store.compact({ now: NOW, olderThanMs: 0 });
    await expectSame(store, records, 5);
    await store.close();
    const again = await openStore({ dir });
    try {
      await expectSame(again, records, 50);
    } finally {
      await again.close();
    }
  });

  it("gives the finished index's pages while the cold index is still being built after a reopen", async () => {
    const { store, dir } = await tempStore();
    // newest of all, in cold files: a turn whose first record is in the hour before the others
    // (unread when the newest file is read), and one wholly in the newest hour that started after it
    const h = T0 + 5 * DAY;
    const log = (turnId: string, timestamp: number): TraceRecord => ({
      kind: "log",
      level: "info",
      msg: "m",
      timestamp,
      extensionId: "a",
      turnId,
    });
    const records = [
      ...workload(9),
      log("straddles", h - 1000),
      log("straddles", h + 1000),
      log("inside", h + 500),
      log("inside", h + 600),
    ];
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 0 });
    await store.close();
    const again = await openStore({ dir });
    try {
      // all asked at once, before the first file is read: each is answered from the files read so far
      const limits = [1, 2, 3, 5, 8, 13];
      const firsts = await Promise.all(limits.map((limit) => again.turns({ limit })));
      const errors = await again.turns({ limit: 2, errors: true });
      limits.forEach((limit, i) => {
        expect(firsts[i]!.turns).toEqual(bruteList(records, {}).slice(0, limit));
      });
      expect(errors.turns).toEqual(bruteList(records, { errors: true }).slice(0, 2));
      const second = await again.turns({ limit: 3, cursor: firsts[2]!.nextCursor });
      expect(second.turns).toEqual(bruteList(records, {}).slice(3, 6));
    } finally {
      await again.close();
    }
  });

  it("sums a turn whose records reached the cold tier in two compactions, the list read in between", async () => {
    const { store } = await tempStore();
    const records = workload(11);
    // a long turn: records over two days, so that each compaction moves some of it
    const long = (h: number): TraceRecord => ({
      kind: "log",
      level: h === 30 ? "error" : "info",
      msg: `h${h}`,
      timestamp: T0 + h * HOUR,
      extensionId: "a",
      turnId: "long",
    });
    records.push(long(2), long(30), long(60));
    // and one wholly hot until the second compaction moves half of it
    records.push({ ...long(40), turnId: "pair" }, { ...long(55), turnId: "pair" });
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: NOW - T0 - DAY }); // the first day
    await expectSame(store, records, 6);
    await store.compact({ now: NOW, olderThanMs: NOW - T0 - 2 * DAY }); // the second
    await expectSame(store, records, 6);
    await store.compact({ now: NOW, olderThanMs: 0 });
    await expectSame(store, records, 6);
  });

  it("counts a record held by both tiers once (a compaction whose hot-tier step failed)", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    const records = workload(10);
    await store.insertRecords(records);
    await store.turns({}); // the hot part is in memory: the failed step must not leave it stale either
    fs.inject({ op: "leveldb.write", kind: "ENOSPC" }); // step 3: files listed, records still hot
    await expect(store.compact({ now: NOW, olderThanMs: 3 * DAY })).rejects.toMatchObject({
      code: "ERR_DISK_FULL",
    });
    fs.clear();
    expect((await store.stats()).hotRecords).toBe(records.length);
    expect(JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")).files.length).toBeGreaterThan(
      0,
    );
    await expectSame(store, records, 4);
  });

  it("agrees with the store's remaining records after a prune drops the oldest", async () => {
    const { store } = await tempStore();
    await store.insertRecords(workload(3));
    await store.compact({ now: NOW, olderThanMs: 2 * DAY });
    await store.turns({});
    await store.prune({ maxAgeMs: 4 * DAY }, { now: NOW });
    const left = await store.query({ bodies: false });
    expect(left.length).toBeGreaterThan(0);
    const kept = left.map(({ id: _id, ...r }) => r as TraceRecord);
    await expectSame(store, kept, 4);
  });

  it("filters by time, extension, conversation, errors and model as the brute force does, over both tiers", async () => {
    const { store } = await tempStore();
    const records = workload(4);
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    const queries: TurnsQuery[] = [
      { from: T0 + DAY, to: T0 + 3 * DAY },
      { from: T0 + DAY, to: T0 + 3 * DAY, order: "asc" },
      { from: T0 + 2 * DAY + 5 * HOUR, order: "asc" },
      { to: T0 + 2 * DAY + 5 * HOUR },
      { extensionId: "a" },
      { conversationId: "c1" },
      { errors: true },
      { model: "m2" },
      { model: "m3", order: "asc" },
      { errors: true, extensionId: "b", from: T0 + 12 * HOUR },
    ];
    for (const q of queries)
      expect(await allPages(store, { ...q, limit: 3 }), JSON.stringify(q)).toEqual(bruteList(records, q));
  });

  it("names and filters a turn by its earliest record with a conversation even when a later part starts after another's start", async () => {
    const { store } = await tempStore();
    const at = (min: number) => T0 + 10 * HOUR + min * 60_000;
    const records: TraceRecord[] = [
      { kind: "log", level: "info", msg: "first", timestamp: at(10), extensionId: "a", turnId: "t" },
      {
        kind: "log",
        level: "info",
        msg: "named",
        timestamp: at(50),
        extensionId: "a",
        turnId: "t",
        conversationId: "c1",
      },
    ];
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    // a late record, in the hot tier, before the cold part's first record with a conversation
    const late: TraceRecord = {
      kind: "log",
      level: "info",
      msg: "late",
      timestamp: at(20),
      extensionId: "a",
      turnId: "t",
      conversationId: "c2",
    };
    await store.insertRecords([late]);
    records.push(late);
    for (const conversationId of ["c1", "c2"])
      expect((await store.turns({ conversationId })).turns, conversationId).toEqual(
        bruteList(records, { conversationId }),
      );
    expect((await store.turns({ conversationId: "c2" })).turns.map((t) => t.conversationId)).toEqual(["c2"]);
  });

  it("names a turn's extension by its first record in (timestamp, seq) order when two files' parts start at the same time", async () => {
    const { store, dir } = await tempStore();
    const x = T0 + 10 * HOUR;
    const rec = (extensionId: string, timestamp: number): TraceRecord => ({
      kind: "log",
      level: "info",
      msg: extensionId,
      timestamp,
      extensionId,
      turnId: "t",
    });
    const records = [rec("a", x)];
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    // a second file for the same hour, newer by its last record: an index built anew reads it first
    records.push(rec("b", x), rec("b", x + 600_000));
    await store.insertRecords(records.slice(1));
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    await store.close();
    const reopened = (await tempStore({ dir })).store;
    for (const extensionId of ["a", "b"])
      expect((await reopened.turns({ extensionId })).turns, extensionId).toEqual(
        bruteList(records, { extensionId }),
      );
  });

  it("holds to the brute force for random cut-offs and page sizes (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 6 * 24 }),
        fc.integer({ min: 1, max: 9 }),
        async (seed, hoursKept, limit) => {
          const dir = tempDir();
          const store = await openStore({ dir, durability: "none" });
          try {
            const records = workload(seed);
            await store.insertRecords(records);
            await store.compact({ now: NOW, olderThanMs: hoursKept * HOUR });
            await expectSame(store, records, limit);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 8 },
    );
  });

  it("keeps up with records arriving in batches, late records of listed turns among them", async () => {
    const { store } = await tempStore();
    const records = workload(8);
    const rnd = new Random(8);
    // shuffled, so that batches add records to turns already listed (and to turns already compacted)
    const shuffled = records
      .map((r) => ({ r, k: rnd.next() }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.r);
    const sofar: TraceRecord[] = [];
    for (let i = 0; i < shuffled.length; i += 40) {
      const batch = shuffled.slice(i, i + 40);
      await store.insertRecords(batch);
      sofar.push(...batch);
      if (i === 120) await store.compact({ now: NOW, olderThanMs: 3 * DAY });
      expect(await allPages(store, { limit: 50 })).toEqual(bruteList(sofar, {}));
    }
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
  });

  it("does not repeat or skip an older turn when records arrive between two pages", async () => {
    const { store } = await tempStore();
    const records = workload(5);
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    const before = bruteList(records, {});
    const first = await store.turns({ limit: 6 });
    // a new newest turn, a turn older than the cursor, and a late record of a turn on the first page
    await store.insertRecords([
      { kind: "log", level: "info", msg: "new", timestamp: NOW, extensionId: "a", turnId: "newest" },
      { kind: "log", level: "info", msg: "old", timestamp: T0 - DAY, extensionId: "a", turnId: "oldest" },
      {
        kind: "log",
        level: "info",
        msg: "late",
        timestamp: first.turns[0]!.end + 1,
        extensionId: "a",
        turnId: first.turns[0]!.turnId,
      },
    ]);
    const rest = await allPages(store, { limit: 6, cursor: first.nextCursor });
    const seen = [...first.turns, ...rest].map((t) => t.turnId);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...before.map((t) => t.turnId), "oldest"]);
  });

  it("refuses bad options with ERR_INVALID_OPTION naming the field", async () => {
    const { store } = await tempStore();
    const bad: [TurnsQuery, string][] = [
      [{ limit: 0 }, "query.limit"],
      [{ limit: 1001 }, "query.limit"],
      [{ limit: 1.5 }, "query.limit"],
      [{ order: "up" as "asc" }, "query.order"],
      [{ errors: "yes" as unknown as boolean }, "query.errors"],
      [{ from: Number.NaN }, "query.from"],
      [{ model: 3 as unknown as string }, "query.model"],
      [{ cursor: "not a cursor" }, "query.cursor"],
      [{ cursor: Buffer.from("[1]").toString("base64url") }, "query.cursor"],
    ];
    for (const [q, field] of bad) {
      const err = await store.turns(q).catch((e: unknown) => e);
      expect(err, JSON.stringify(q)).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toContain(`"${field}"`);
    }
    await expect(store.usage({ to: "x" as unknown as number })).rejects.toThrow(/"query.to"/);
  });
});

describe("token usage", () => {
  it("joins a call's model on its span-open to its tokens on its span-close across tiers and files, dated by the open", async () => {
    const { store } = await tempStore();
    const base = { extensionId: "e", turnId: "t1" };
    const open = T0 + 23 * HOUR + 59 * 60_000; // 23:59 on day 0; the close is on day 1, and another file
    const records: TraceRecord[] = [
      { kind: "span-open", spanId: "root", name: "turn", timestamp: open - 1, ...base },
      {
        kind: "span-open",
        spanId: "llm",
        parentSpanId: "root",
        name: "llm",
        timestamp: open,
        ...base,
        attributes: { "gen_ai.request.model": "m1" },
      },
      {
        kind: "span-close",
        spanId: "llm",
        parentSpanId: "root",
        name: "llm",
        durationMs: 120_000,
        status: "ok",
        timestamp: open + 2 * 60_000,
        ...base,
        attributes: { "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10 },
      },
      // a late close in the hot tier, of a call opened in the cold one, with the older keys
      {
        kind: "span-open",
        spanId: "llm2",
        parentSpanId: "root",
        name: "llm",
        timestamp: open + 1000,
        ...base,
        attributes: { "gen_ai.request.model": "m2" },
      },
      {
        kind: "span-close",
        spanId: "llm2",
        parentSpanId: "root",
        name: "llm",
        durationMs: 1,
        status: "ok",
        timestamp: NOW - 1,
        ...base,
        attributes: { "gen_ai.usage.prompt_tokens": 5, "gen_ai.usage.completion_tokens": 2 },
      },
      // tokens without a model anywhere in the span, and a non-finite-free but negative count
      {
        kind: "span-close",
        spanId: "anon",
        name: "x",
        durationMs: 1,
        status: "ok",
        timestamp: open + 5,
        ...base,
        attributes: { "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": -1 },
      },
    ];
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: DAY });
    const stats = await store.stats();
    expect(stats.coldRecords).toBe(records.length - 1);
    expect(stats.hotRecords).toBe(1);
    const day0 = "2026-10-01";
    expect((await store.usage()).rows).toEqual([
      { date: day0, model: "m1", calls: 1, inputTokens: 100, outputTokens: 10 },
      { date: day0, model: "m2", calls: 1, inputTokens: 5, outputTokens: 2 },
      { date: day0, model: "unknown", calls: 1, inputTokens: 3, outputTokens: 0 },
    ]);
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
    const [turn] = (await store.turns({})).turns;
    expect(turn).toEqual(bruteTurns(records)[0]);
    expect(turn).toMatchObject({ name: "turn", records: 6, spans: 4, inputTokens: 108, outputTokens: 12 });
  });

  it("reads a record without a turn written after a report alone, not every record without a turn again", async () => {
    const { store } = await tempStore();
    const loose = (i: number): TraceRecord => ({
      kind: "log",
      level: "info",
      msg: `loose ${i}`,
      timestamp: T0 + i * HOUR,
      extensionId: "a",
      attributes: { "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": i },
    });
    const records = [...workload(9), ...Array.from({ length: 30 }, (_, i) => loose(i))];
    await store.insertRecords(records);
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
    const reads = vi.spyOn(HotTier.prototype, "turn");
    try {
      const more = [loose(40), loose(41)];
      await store.insertRecords(more);
      records.push(...more);
      expect((await store.usage()).rows).toEqual(bruteUsage(records));
      expect(reads.mock.calls.filter(([turnId]) => turnId === "")).toEqual([]);
    } finally {
      reads.mockRestore();
    }
  });

  it("does not read the whole hot tier again after a compaction moves thousands of records without a turn", async () => {
    const { store } = await tempStore();
    const records: TraceRecord[] = [
      ...workload(12),
      ...Array.from(
        { length: 2500 },
        (_, i): TraceRecord => ({
          kind: "log",
          level: "info",
          msg: `loose ${i}`,
          timestamp: T0 + i * 60_000,
          extensionId: "a",
          attributes: { "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1 },
        }),
      ),
    ];
    await store.insertRecords(records);
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
    const scans = vi.spyOn(HotTier.prototype, "entries");
    try {
      await store.compact({ now: NOW, olderThanMs: 3 * DAY });
      expect((await store.usage()).rows).toEqual(bruteUsage(records));
      const recordScans = scans.mock.calls.filter(([range]) => range.gte[0] === 0x72);
      expect(recordScans).toEqual([]);
    } finally {
      scans.mockRestore();
    }
  });

  it("drops the calls of records without a turn that leave the hot tier, and keeps them once in the cold tier", async () => {
    const { store } = await tempStore();
    const records = [
      ...workload(10),
      ...Array.from(
        { length: 20 },
        (_, i): TraceRecord => ({
          kind: "log",
          level: "info",
          msg: `loose ${i}`,
          timestamp: T0 + i * 5 * HOUR,
          extensionId: "b",
          attributes: { "gen_ai.request.model": "m2", "gen_ai.usage.output_tokens": i + 1 },
        }),
      ),
    ];
    await store.insertRecords(records);
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    expect((await store.usage()).rows).toEqual(bruteUsage(records));
    await store.prune({ maxAgeMs: 4 * DAY }, { now: NOW });
    const left = records.filter((r) => r.timestamp >= NOW - 4 * DAY);
    expect((await store.usage()).rows).toEqual(bruteUsage(left));
  });

  it("ignores a token count past 2^53, so that no sum becomes Infinity (null in JSON)", async () => {
    const { store } = await tempStore();
    const call = (spanId: string, input: number): TraceRecord => ({
      kind: "span-open",
      spanId,
      name: "llm",
      extensionId: "e",
      turnId: "t1",
      timestamp: T0,
      attributes: { "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": input },
    });
    await store.insertRecords([call("a", 1e308), call("b", 1e308), call("c", 7)]);
    const { rows } = await store.usage();
    expect(rows).toEqual([{ date: "2026-10-01", model: "m", calls: 3, inputTokens: 7, outputTokens: 0 }]);
    const [turn] = (await store.turns()).turns;
    expect(turn?.inputTokens).toBe(7);
  });

  it("filters usage by time and extension as the brute force does", async () => {
    const { store } = await tempStore();
    const records = workload(6);
    await store.insertRecords(records);
    await store.compact({ now: NOW, olderThanMs: 3 * DAY });
    for (const q of [
      { from: T0 + DAY },
      { to: T0 + 2 * DAY + 7 * HOUR },
      { extensionId: "b" },
    ] as UsageQuery[])
      expect((await store.usage(q)).rows, JSON.stringify(q)).toEqual(bruteUsage(records, q));
  });
});

describe("GET /v1/turns and /v1/usage", () => {
  it("answer with the store's pages and report", async () => {
    const { store, url } = await tempCollector();
    const records = workload(7);
    await store.insertRecords(records);
    const page = (await (
      await fetch(`${url}/v1/turns?limit=4&order=asc&errors=false&extensionId=a`)
    ).json()) as TurnsPage;
    expect(page).toEqual(await store.turns({ limit: 4, order: "asc", errors: false, extensionId: "a" }));
    const next = await (
      await fetch(`${url}/v1/turns?limit=4&order=asc&extensionId=a&cursor=${page.nextCursor}`)
    ).json();
    expect(next).toEqual(
      await store.turns({ limit: 4, order: "asc", extensionId: "a", cursor: page.nextCursor }),
    );
    const from = new Date(T0 + DAY).toISOString();
    expect(await (await fetch(`${url}/v1/usage?from=${from}`)).json()).toEqual({
      rows: bruteUsage(records, { from: T0 + DAY }),
    });
  });

  it("list a turn ingested through OTLP with its model, tokens and root span, and its usage", async () => {
    const { url } = await tempCollector();
    const traceId = "5b8efff798038103d269b633813fc60c";
    const ns = (ms: number) => `${BigInt(ms) * 1_000_000n}`;
    const attr = (key: string, value: object) => ({ key, value });
    const span = (spanId: string, name: string, from: number, to: number, extra: object = {}) => ({
      traceId,
      spanId,
      name,
      startTimeUnixNano: ns(from),
      endTimeUnixNano: ns(to),
      ...extra,
    });
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [attr("service.name", { stringValue: "agent" })] },
          scopeSpans: [
            {
              spans: [
                span("eee19b7ec3c1b174", "turn", T0, T0 + 5000),
                span("eee19b7ec3c1b175", "chat", T0 + 10, T0 + 4000, {
                  parentSpanId: "eee19b7ec3c1b174",
                  attributes: [
                    attr("gen_ai.request.model", { stringValue: "gpt-x" }),
                    attr("gen_ai.usage.input_tokens", { intValue: "120" }),
                    attr("gen_ai.usage.output_tokens", { intValue: "30" }),
                  ],
                  status: { code: 2, message: "overloaded" },
                }),
              ],
            },
          ],
        },
      ],
    };
    const posted = await fetch(`${url}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(posted.status).toBe(200);
    const page = (await (await fetch(`${url}/v1/turns`)).json()) as TurnsPage;
    expect(page.turns).toEqual([
      {
        turnId: traceId,
        extensionId: "agent",
        name: "turn",
        start: T0,
        end: T0 + 5000,
        durationMs: 5000,
        records: 4,
        spans: 2,
        logs: 0,
        errors: 1,
        models: ["gpt-x"],
        inputTokens: 120,
        outputTokens: 30,
      },
    ]);
    expect(await (await fetch(`${url}/v1/usage?to=${T0 + DAY}`)).json()).toEqual({
      rows: [{ date: "2026-10-01", model: "gpt-x", calls: 1, inputTokens: 120, outputTokens: 30 }],
    });
  });

  it("answer 400 naming the parameter for a bad value", async () => {
    const { url } = await tempCollector();
    const bad: [string, string][] = [
      ["turns?errors=yes", "errors"],
      ["turns?limit=0", "limit"],
      ["turns?limit=1001", "limit"],
      ["turns?limit=ten", "limit"],
      ["turns?order=newest", "order"],
      ["turns?from=yesterday", "from"],
      ["turns?cursor=%21%21", "cursor"],
      ["usage?to=soon", "to"],
    ];
    for (const [path, param] of bad) {
      const res = await fetch(`${url}/v1/${path}`);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, path).toBe(400);
      expect(body.error.code).toBe("ERR_INVALID_OPTION");
      expect(body.error.message, path).toContain(`option "${param}"`);
    }
  });
});
