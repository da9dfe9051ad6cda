/**
 * The collector's admin endpoints in process: hostile options refused before anything runs, the NDJSON
 * event stream of a job (waiting behind the maintenance lock, failing, outliving its client), the
 * token and peer rules, and dumps equal to what `tracetier dump` reads from the same files.
 */
import { appendFileSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonSafe } from "../src/base/json-safe.js";
import { MaintenanceLog } from "../src/collector/maintenance-log.js";
import { isLocalPeer } from "../src/collector/server.js";
import { stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import {
  dumpBody,
  dumpManifest,
  dumpPartition,
  dumpWal,
  type WalSegmentDump,
} from "../src/maintenance/dump.js";
import { inspectStore } from "../src/store.js";
import { parsePrometheus, tempCollector } from "./support/collector.js";
import { installFaultFs } from "./support/fault-fs.js";
import { everyKind, multiDayTurns } from "./support/fixtures.js";

const JOBS = ["compact", "prune", "gc", "verify"] as const;
type Job = (typeof JOBS)[number];

interface Answer {
  status: number;
  /** The NDJSON events of a 200, or the JSON error body as the one element. */
  lines: Record<string, unknown>[];
}

async function post(
  url: string,
  job: Job,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${url}/v1/admin/${job}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, lines: parseLines(await res.text()) };
}

function parseLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const errorOf = (a: Answer) => (a.lines[0] as { error: { code: string; message: string } }).error;

/** A collector whose store has records a few weeks old in the hot tier (a compaction moves them). */
async function seeded(opts: { token?: string } = {}) {
  const c = await tempCollector(opts);
  await c.store.insertRecords(multiDayTurns(4, 1).flat());
  return c;
}

/** What a refused request must leave as it was: the records, the stats, the runs logged. */
async function snapshot(c: Awaited<ReturnType<typeof tempCollector>>) {
  // not the store's contents: fsyncs so far, and the cold filters loaded into memory so far
  const { walSyncs: _s, walSyncMs: _m, coldFilterBytes: _f, ...stats } = await c.store.stats();
  const ids = (await c.store.query({ bodies: false })).map((r) => r.id);
  return { stats, ids, runs: c.collector.metrics.maintenance.runs().length };
}

/** The collector still answers, and a real compaction through it still works. */
async function stillServes(c: Awaited<ReturnType<typeof tempCollector>>): Promise<void> {
  expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
  const done = await post(c.url, "compact", '{"olderThanMs":0}');
  expect(done.status).toBe(200);
  expect(done.lines.at(-1)).toMatchObject({ event: "done", result: { recordsMoved: expect.any(Number) } });
}

/**
 * Holds a tracked read (what a slow dump request is) until `release()`: a gc waits for reads in flight
 * before it deletes, so a gc started meanwhile holds the maintenance lock until then.
 */
function holdRead(store: TraceStore): { release: () => void; done: Promise<unknown> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  return { release, done: inspectStore(store).read(() => gate) };
}

/** A gc holding the maintenance lock (behind a held read) and a compaction waiting behind it. */
async function compactBehindGc(c: Awaited<ReturnType<typeof seeded>>) {
  const read = holdRead(c.store);
  const gc = stream(c.url, "gc");
  await gc.until("started");
  const compact = stream(c.url, "compact", '{"olderThanMs":0}');
  await compact.until("waiting");
  return { read, gc, compact };
}

/** A job's events as they arrive (`until` one of a kind has), and all of them at its end. */
function stream(url: string, job: Job, body = "{}", signal?: AbortSignal) {
  const events: Record<string, unknown>[] = [];
  const waiters: { pred: (e: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  const ended = (async () => {
    const res = await fetch(`${url}/v1/admin/${job}`, { method: "POST", body, signal });
    expect(res.status).toBe(200);
    let rest = "";
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        const e = JSON.parse(l) as Record<string, unknown>;
        events.push(e);
        for (const w of waiters.filter((x) => x.pred(e))) w.resolve();
      }
    }
    return events;
  })();
  // resolves at the event's line; fails, rather than hangs, when the stream ends without one
  const until = (event: string): Promise<void> =>
    events.some((e) => e.event === event)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((resolve) => waiters.push({ pred: (e) => e.event === event, resolve })),
          ended.then(() => {
            throw new Error(`the ${job} stream ended without a ${event} line: ${JSON.stringify(events)}`);
          }),
        ]);
  return { events, ended, until };
}

async function maintenance(url: string) {
  return (await (await fetch(`${url}/v1/admin/maintenance`)).json()) as {
    running: { job: string; trigger: string; startedAt: number } | null;
    runs: {
      job: string;
      trigger: string;
      outcome: string;
      error?: string;
      startedAt: number;
      finishedAt: number;
    }[];
  };
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("admin job options: hostile input is refused with a 4xx and changes nothing", () => {
  const cases: [string, Job, string, number, string | RegExp][] = [
    ["a body that is not JSON", "compact", "{olderThanMs: 1", 400, "ERR_INVALID_JSON"],
    ["a JSON array", "compact", "[]", 400, "ERR_INVALID_JSON"],
    ["a JSON string", "gc", '"compact"', 400, "ERR_INVALID_JSON"],
    ["JSON null", "prune", "null", 400, "ERR_INVALID_JSON"],
    ["an unknown option", "compact", '{"olderThan":5}', 400, /"olderThan"/],
    ["__proto__ as an option", "compact", '{"__proto__":{"olderThanMs":0}}', 400, /"__proto__"/],
    ["constructor as an option", "gc", '{"constructor":1}', 400, /"constructor"/],
    ["a negative olderThanMs", "compact", '{"olderThanMs":-1}', 400, /"olderThanMs"/],
    ["a fractional olderThanMs", "compact", '{"olderThanMs":1.5}', 400, /"olderThanMs"/],
    ["olderThanMs as a string", "compact", '{"olderThanMs":"0"}', 400, /"olderThanMs"/],
    ["olderThanMs of 1e308", "compact", '{"olderThanMs":1e308}', 400, /"olderThanMs"/],
    ["a policy that is not an object", "prune", '{"policy":5}', 400, /"policy"/],
    ["a policy that is null", "prune", '{"policy":null}', 400, /"policy"/],
    ["a policy that is an array", "prune", '{"policy":[]}', 400, /"policy"/],
    ["a negative policy.maxAgeMs", "prune", '{"policy":{"maxAgeMs":-5}}', 400, /"policy\.maxAgeMs"/],
    ["policy.maxAgeMs as a string", "prune", '{"policy":{"maxAgeMs":"7d"}}', 400, /"policy\.maxAgeMs"/],
    ["policy.maxAgeMs of 1e400", "prune", '{"policy":{"maxAgeMs":1e400}}', 400, /"policy\.maxAgeMs"/],
    ["a policy with an unknown field", "prune", '{"policy":{"maxAge":5}}', 400, /"policy\.maxAge"/],
    [
      "a policy with __proto__",
      "prune",
      '{"policy":{"__proto__":{"maxAgeMs":0}}}',
      400,
      /"policy\.__proto__"/,
    ],
    ["verify with repair", "verify", '{"repair":true}', 400, /closed/],
    ["verify with an unknown option", "verify", '{"deep":true}', 400, /"deep"/],
  ];

  it.each(cases)("refuses %s", async (_name, job, body, status, want) => {
    const c = await seeded();
    const before = await snapshot(c);
    const a = await post(c.url, job, body);
    expect(a.status).toBe(status);
    if (typeof want === "string") expect(errorOf(a).code).toBe(want);
    else {
      expect(errorOf(a).code).toBe("ERR_INVALID_OPTION");
      expect(errorOf(a).message).toMatch(want);
    }
    expect(await snapshot(c)).toEqual(before);
  });

  it("takes an olderThanMs of -0 as 0, as JSON numbers compare", async () => {
    const c = await seeded();
    const { hotRecords } = await c.store.stats();
    const a = await post(c.url, "compact", '{"olderThanMs":-0}');
    expect(a.status).toBe(200);
    expect(a.lines.at(-1)).toMatchObject({ event: "done", result: { recordsMoved: hotRecords } });
  });

  it("refuses a body over 64 KiB with 413 and runs nothing", async () => {
    const c = await seeded();
    const before = await snapshot(c);
    const a = await post(c.url, "compact", JSON.stringify({ olderThanMs: 0, pad: "x".repeat(70_000) }));
    expect(a.status).toBe(413);
    expect(await snapshot(c)).toEqual(before);
    await stillServes(c);
  });

  it("refuses a gzip body that inflates past 64 KiB with 413, and a damaged one with 400", async () => {
    const c = await seeded();
    const before = await snapshot(c);
    const bomb = gzipSync(JSON.stringify({ pad: " ".repeat(1_000_000) }));
    expect((await post(c.url, "gc", bomb, { "content-encoding": "gzip" })).status).toBe(413);
    const damaged = gzipSync("{}").subarray(0, 8);
    const a = await post(c.url, "gc", damaged, { "content-encoding": "gzip" });
    expect([a.status, errorOf(a).code]).toEqual([400, "ERR_INVALID_JSON"]);
    expect(await snapshot(c)).toEqual(before);
  });

  it("takes the options gzip-compressed", async () => {
    const c = await seeded();
    const { hotRecords } = await c.store.stats();
    const a = await post(c.url, "compact", gzipSync('{"olderThanMs":0}'), { "content-encoding": "gzip" });
    expect(a.status).toBe(200);
    expect(a.lines.at(-1)).toMatchObject({ event: "done", result: { recordsMoved: hotRecords } });
  });

  it("answers GET on a job's route with 405, and POST on a dump with 405", async () => {
    const c = await seeded();
    for (const job of JOBS) expect((await fetch(`${c.url}/v1/admin/${job}`)).status).toBe(405);
    const dump = await fetch(`${c.url}/v1/admin/dump/wal`, { method: "POST", body: "{}" });
    expect(dump.status).toBe(405);
    expect(c.collector.metrics.maintenance.runs()).toEqual([]);
  });

  it("still answers /healthz and compacts after a batch of hostile requests", async () => {
    const c = await seeded();
    for (const [, job, body] of cases) await post(c.url, job, body);
    await stillServes(c);
    expect(c.collector.metrics.maintenance.runs().map((r) => r.job)).toEqual(["compact"]);
  });

  it("answers any JSON value or object of random keys with 200 or a 4xx, and a 4xx changes nothing", async () => {
    const c = await seeded();
    const key = fc.oneof(
      fc.constantFrom("__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"),
      fc.constantFrom("olderThanMs", "policy", "repair", "maxAgeMs"),
      fc.string({ maxLength: 8 }),
    );
    const objectText = fc
      .array(fc.tuple(key, fc.jsonValue({ maxDepth: 2 })), { maxLength: 4 })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      objectText,
      fc
        .constantFrom("policy", "olderThanMs")
        .chain((k) => fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ [k]: v }))),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...JOBS), body, async (job, text) => {
        const before = await snapshot(c);
        const a = await post(c.url, job, text);
        expect(a.status === 200 || (a.status >= 400 && a.status < 500)).toBe(true);
        if (a.status === 200) expect(a.lines.at(-1)?.event).toBe("done");
        else expect(await snapshot(c)).toEqual(before);
      }),
      { numRuns: 120 },
    );
    await stillServes(c);
  });
});

describe("admin dump parameters", () => {
  it("refuses rows that are not a whole number up to 1000000 with 400 naming rows", async () => {
    const c = await seeded();
    for (const rows of ["abc", "-1", "99999999", "1.5", ""]) {
      const res = await fetch(`${c.url}/v1/admin/dump/partition/2026-10-01?rows=${rows}`);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, error.code]).toEqual([400, "ERR_INVALID_OPTION"]);
      expect(error.message).toMatch(/"rows"/);
    }
  });

  it("refuses a partition that is not a date (YYYY-MM-DD) with 400 naming partition", async () => {
    const c = await seeded();
    for (const date of ["yesterday", "2026-1-01", "2026-10-01x", "2026-10-01%2F"]) {
      const res = await fetch(`${c.url}/v1/admin/dump/partition/${date}`);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect([res.status, error.code], date).toEqual([400, "ERR_INVALID_OPTION"]);
      expect(error.message).toMatch(/"partition" takes a date as YYYY-MM-DD/);
    }
  });

  it("answers a partition of a date no file has with an empty list", async () => {
    const c = await seeded();
    const res = await fetch(`${c.url}/v1/admin/dump/partition/1999-01-01?rows=5`);
    expect([res.status, await res.json()]).toEqual([200, []]);
  });

  it("refuses a body ref that is neither a stored body's hash nor a record's id with 400", async () => {
    const c = await seeded();
    for (const ref of ["nope", "0123456789abcdef", "%2F..%2Fmanifest"]) {
      const res = await fetch(`${c.url}/v1/admin/dump/body/${ref}`);
      const { error } = (await res.json()) as { error: { code: string } };
      expect([res.status, error.code]).toEqual([400, "ERR_INVALID_OPTION"]);
    }
  });

  it("answers percent-escapes in a date or ref with a 4xx, never a 5xx", async () => {
    const c = await seeded();
    for (const part of ["%2F", "..%2F..%2Fhot", "%00", "%ZZ", "%C3%28", "%E2%82", "2026-10-01%00"]) {
      for (const what of ["partition", "body"]) {
        const res = await fetch(`${c.url}/v1/admin/dump/${what}/${part}`);
        expect(res.status, `${what}/${part}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${what}/${part}`).toBeLessThan(500);
      }
    }
    await stillServes(c);
  });
});

describe("an admin job's event stream", () => {
  it("ends a compaction with a done line carrying the CompactResult", async () => {
    const c = await seeded();
    const { hotRecords } = await c.store.stats();
    const a = await post(c.url, "compact", '{"olderThanMs":0}');
    expect(a.status).toBe(200);
    expect(a.lines.map((l) => l.event)).toEqual(["started", "done"]);
    const { result } = a.lines.at(-1) as { result: Record<string, number> };
    expect(Object.keys(result).sort()).toEqual(["bytesWritten", "partitionsWritten", "recordsMoved"]);
    expect(result.recordsMoved).toBe(hotRecords);
    expect(result.partitionsWritten).toBeGreaterThan(1);
    expect((await c.store.stats()).coldRecords).toBe(hotRecords);
  });

  it("waits behind a job holding the maintenance lock, says which, and starts after it", async () => {
    const c = await seeded();
    const { read, gc, compact } = await compactBehindGc(c);
    await new Promise((r) => setTimeout(r, 30)); // a wait long enough to be measured
    read.release();
    const events = await compact.ended;
    expect(events[0]).toEqual({
      event: "waiting",
      elapsedMs: expect.any(Number),
      behind: "gc (asked for through the admin API)",
    });
    const kinds = events.map((e) => e.event);
    expect(kinds.at(-1)).toBe("done");
    expect(kinds.filter((k) => k !== "waiting")).toEqual(["started", "done"]);
    const started = events.find((e) => e.event === "started") as { waitedMs: number };
    expect(started.waitedMs).toBeGreaterThan(0);
    await gc.ended;
    const runs = (await maintenance(c.url)).runs;
    expect(runs.map((r) => [r.job, r.outcome])).toEqual([
      ["gc", "ok"],
      ["compact", "ok"],
    ]);
    expect(runs[1]!.startedAt).toBeGreaterThanOrEqual(runs[0]!.finishedAt);
  });

  it("says it waits at once when the lock is held by a run the collector did not start", async () => {
    const c = await seeded();
    const read = holdRead(c.store);
    const direct = c.store.gc();
    const compact = stream(c.url, "compact", '{"olderThanMs":0}');
    await compact.until("waiting");
    read.release();
    await direct;
    const events = await compact.ended;
    expect(events[0]).toEqual({ event: "waiting", elapsedMs: expect.any(Number) });
    expect(events[0]!.elapsedMs).toBeLessThan(500); // not the first heartbeat's, a second later
    expect(events.at(-1)).toMatchObject({ event: "done" });
  });

  it("shows the run holding the lock in GET /v1/admin/maintenance while it runs", async () => {
    const c = await seeded();
    const read = holdRead(c.store);
    const gc = stream(c.url, "gc");
    await gc.until("started");
    expect((await maintenance(c.url)).running).toMatchObject({ job: "gc", trigger: "admin" });
    read.release();
    await gc.ended;
    expect((await maintenance(c.url)).running).toBeNull();
  });

  it("shows the next run as holding the lock when the one before it is logged after it started", () => {
    // The lock passes on at a run's end (onEnd); its log entry comes a few microtasks later, when the
    // next run, of the same job and trigger, may already hold the lock.
    const log = new MaintenanceLog();
    const a = log.started("gc", "admin", 1000);
    log.ended(a);
    log.started("gc", "admin", 1005);
    log.finished({
      job: "gc",
      trigger: "admin",
      queuedAt: 990,
      startedAt: 1000,
      finishedAt: 1005,
      outcome: "ok",
    });
    expect(log.running).toEqual({ job: "gc", trigger: "admin", startedAt: 1005 });
  });

  it("shows an admin run as holding the lock when a scheduled run of its job before it is logged", async () => {
    const c = await seeded();
    const metrics = c.collector.metrics;
    const log = metrics.maintenance;
    metrics.scheduledStarted("compact");
    const admin = log.started("compact", "admin", 1005);
    metrics.recordRun({ job: "compact", startedAt: 1000, lockedAt: 1000, finishedAt: 1005 });
    expect(log.running).toBe(admin);
    log.ended(admin);
    expect(log.running).toBeUndefined();
  });

  it("ends with a failed line when the job fails inside, logged and counted in /metrics as failed", async () => {
    const c = await seeded();
    const before = await snapshot(c);
    const fs = installFaultFs();
    fs.inject({ op: ["open", "write"], path: /cold/, kind: "ENOSPC", times: Number.POSITIVE_INFINITY });
    const a = await post(c.url, "compact", '{"olderThanMs":0}');
    fs.clear();
    expect(fs.injected).toBeGreaterThan(0);
    expect(a.status).toBe(200);
    expect(a.lines.map((l) => l.event)).toEqual(["started", "failed"]);
    expect(a.lines.at(-1)).toEqual({
      event: "failed",
      error: { code: "ERR_DISK_FULL", message: expect.any(String) },
    });
    expect((await maintenance(c.url)).runs).toMatchObject([
      {
        job: "compact",
        trigger: "admin",
        outcome: "failed",
        error: expect.stringMatching(/^ERR_DISK_FULL: /),
      },
    ]);
    const metrics = parsePrometheus(await (await fetch(`${c.url}/metrics`)).text());
    expect(metrics.get('tracetier_maintenance_runs_total{job="compact",outcome="failed"}')).toBe(1);
    expect(metrics.get('tracetier_maintenance_runs_total{job="compact",outcome="ok"}')).toBeUndefined();
    expect(await snapshot(c)).toMatchObject({ ids: before.ids, stats: before.stats }); // nothing moved
    await stillServes(c);
  });

  it("ends with a failed line when the store closes under a queued job, logged and counted as failed", async () => {
    const c = await seeded();
    const read = holdRead(c.store);
    const gc = stream(c.url, "gc");
    await gc.until("started");
    const verify = stream(c.url, "verify");
    await verify.until("waiting");
    const closed = c.store.close();
    read.release();
    const events = await verify.ended;
    await gc.ended;
    await closed;
    expect(events.at(-1)).toEqual({
      event: "failed",
      error: { code: "ERR_CLOSED", message: expect.any(String) },
    });
    const runs = (await maintenance(c.url)).runs;
    expect(runs.find((r) => r.job === "verify")).toMatchObject({
      outcome: "failed",
      error: expect.stringMatching(/^ERR_CLOSED: /),
    });
    // the store is closed: /metrics answers 503 (its store gauges), so the counter as it would show it
    const text = await c.collector.metrics.registry.getSingleMetricAsString(
      "tracetier_maintenance_runs_total",
    );
    const metrics = parsePrometheus(text);
    expect(metrics.get('tracetier_maintenance_runs_total{job="verify",outcome="failed"}')).toBe(1);
    expect(metrics.get('tracetier_maintenance_runs_total{job="gc",outcome="ok"}')).toBe(1);
  });

  it("does not start a job still waiting when the collector shuts down, so shutdown does not wait for it", async () => {
    const c = await seeded();
    const { read, gc, compact } = await compactBehindGc(c);
    const { hotRecords } = await c.store.stats();
    const closing = c.collector.close();
    read.release();
    await closing;
    const events = await compact.ended;
    expect(events.at(-1)).toEqual({
      event: "failed",
      error: { code: "ERR_CLOSED", message: "the collector is shutting down: the job did not start" },
    });
    expect(events.some((e) => e.event === "started")).toBe(false);
    expect((await gc.ended).at(-1)).toMatchObject({ event: "done" }); // the running one finished
    expect((await c.store.stats()).hotRecords).toBe(hotRecords); // nothing was compacted
  });

  it("finishes a running job and a waiting one whose clients went away, logs both ok, and keeps serving", async () => {
    const c = await seeded();
    const { hotRecords } = await c.store.stats();
    const read = holdRead(c.store);
    const gone = new AbortController();
    const gc = stream(c.url, "gc", "{}", gone.signal);
    await gc.until("started");
    const compact = stream(c.url, "compact", '{"olderThanMs":0}', gone.signal);
    await compact.until("waiting");
    gone.abort();
    await expect(gc.ended).rejects.toThrow();
    await expect(compact.ended).rejects.toThrow();
    // past a heartbeat: both write their next line to a client that is gone
    await new Promise((r) => setTimeout(r, 1200));
    read.release();
    const runs = await eventually(async () => {
      const r = (await maintenance(c.url)).runs;
      return r.length === 2 ? r : undefined;
    });
    expect(runs.map((r) => [r.job, r.outcome])).toEqual([
      ["gc", "ok"],
      ["compact", "ok"],
    ]);
    expect((await c.store.stats()).coldRecords).toBe(hotRecords);
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
    await stillServes(c);
  });
});

describe("admin auth", () => {
  const routes: [string, string][] = [
    ...JOBS.map((j): [string, string] => ["POST", `/v1/admin/${j}`]),
    ["GET", "/v1/admin/maintenance"],
    ["GET", "/v1/admin/dump/wal"],
    ["GET", "/v1/admin/dump/manifest"],
    ["GET", "/v1/admin/dump/partition/2026-10-01"],
    ["GET", "/v1/admin/dump/body/0123456789abcdef"],
  ];

  it("refuses every admin route without the token or with a wrong one with 401, and runs nothing", async () => {
    const c = await seeded({ token: "s3cret" });
    const before = await snapshot(c);
    for (const [method, path] of routes) {
      for (const auth of [undefined, "Bearer wrong!", "s3cret", "Bearer s3cret2", "bearer s3cret"]) {
        const res = await fetch(`${c.url}${path}`, {
          method,
          headers: auth ? { authorization: auth } : {},
          ...(method === "POST" ? { body: "{}" } : {}),
        });
        expect([path, auth, res.status]).toEqual([path, auth, 401]);
      }
    }
    expect(await snapshot(c)).toEqual(before);
    expect(c.collector.metrics.maintenance.runs()).toEqual([]);
  });

  it("answers every admin route with the right token", async () => {
    const c = await seeded({ token: "s3cret" });
    for (const [method, path] of routes.filter(([, p]) => !p.includes("/body/"))) {
      const res = await fetch(`${c.url}${path}`, {
        method,
        headers: { authorization: "Bearer s3cret" },
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      expect([path, res.status]).toEqual([path, 200]);
      await res.text();
    }
    expect(c.collector.metrics.maintenance.runs().map((r) => r.job)).toEqual([...JOBS]);
  });

  it.each([
    ["127.0.0.1", true],
    ["127.255.0.3", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["::FFFF:127.0.0.1", true],
    ["::ffff:10.0.0.1", false],
    ["10.0.0.1", false],
    ["192.168.1.2", false],
    ["", false],
    ["::", false],
    ["fe80::1", false],
    ["::ffff:", false],
    ["127.0.0.1.example", false],
  ])("isLocalPeer(%j) is %s", (address, want) => {
    expect(isLocalPeer(address)).toBe(want);
  });
});

describe("admin dumps", () => {
  /** A store with cold partitions (compacted) and hot records with bodies. */
  async function withColdAndHot() {
    const c = await tempCollector();
    const cold = multiDayTurns(4, 1).flat();
    await c.store.insertRecords(cold);
    await c.store.compact({ olderThanMs: 0 });
    await c.store.insertRecords(everyKind());
    return { ...c, cold };
  }

  const roundTrip = (v: unknown) => JSON.parse(JSON.stringify(v, jsonSafe)) as unknown;
  const get = async (url: string) => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    return (await res.json()) as unknown;
  };

  it("answers wal and manifest as dump.ts reads them from the store's files", async () => {
    const c = await withColdAndHot();
    expect(await get(`${c.url}/v1/admin/dump/wal`)).toEqual(roundTrip(await dumpWal(c.dir)));
    expect(await get(`${c.url}/v1/admin/dump/manifest`)).toEqual(roundTrip(await dumpManifest(c.dir)));
  });

  it("says a partial frame at the end of the newest WAL segment is an append in flight", async () => {
    const c = await withColdAndHot();
    const segments = await dumpWal(c.dir);
    const newest = join(c.dir, "wal", segments.at(-1)!.file);
    const size = statSync(newest).size;
    appendFileSync(newest, Buffer.from([1, 2, 3])); // what a reader sees of a frame half written
    try {
      const live = (await get(`${c.url}/v1/admin/dump/wal`)) as WalSegmentDump[];
      const closed = await dumpWal(c.dir);
      expect(closed.at(-1)!.bad).toMatchObject({ offset: size, tornTail: true });
      expect(live.at(-1)!.bad).toEqual({
        ...closed.at(-1)!.bad,
        reason: expect.stringMatching(/an append in flight/),
      });
      expect(live.at(-1)!.frames).toEqual(roundTrip(closed.at(-1)!.frames));
    } finally {
      truncateSync(newest, size);
    }
  });

  it("answers each partition, with and without rows, as dump.ts reads it", async () => {
    const c = await withColdAndHot();
    const dates = [...new Set((await dumpManifest(c.dir)).files.map((f) => f.date))];
    expect(dates.length).toBeGreaterThan(1);
    for (const date of dates)
      for (const rows of [0, 3]) {
        const got = await get(`${c.url}/v1/admin/dump/partition/${date}?rows=${rows}`);
        expect(got).toEqual(roundTrip(await dumpPartition(c.dir, date, rows)));
        expect((got as { rows?: unknown[] }[])[0]!.rows?.length).toBe(rows === 0 ? undefined : 3);
      }
  });

  it("answers a body by hash and by hot or cold record id as dump.ts does", async () => {
    const c = await withColdAndHot();
    const { hot } = inspectStore(c.store);
    const withBody = (rs: TraceRecord[]) => rs.filter((r) => typeof r.body === "string" && r.body !== "");
    const refs = [...withBody(everyKind()), ...withBody(c.cold).slice(0, 3)].map(stableId);
    expect(refs.length).toBeGreaterThan(3);
    for (const ref of refs) {
      const direct = await dumpBody(hot, c.dir, ref);
      expect(await get(`${c.url}/v1/admin/dump/body/${ref}`)).toEqual(roundTrip(direct));
      const byHash = await get(`${c.url}/v1/admin/dump/body/${direct.sha256 as string}`);
      expect(byHash).toEqual(roundTrip(direct));
    }
  });

  it("reads a body while the open store's hot tier is being reopened (after a failed write), once it is open", async () => {
    const c = await withColdAndHot();
    const { hot } = inspectStore(c.store);
    const ref = stableId(everyKind()[0]!);
    const want = await dumpBody(hot, c.dir, ref);
    const reopening = hot.reopen();
    while (hot.isOpen) await new Promise((r) => setImmediate(r)); // until the database is closed
    const got = dumpBody(hot, c.dir, ref).catch((err: unknown) => err);
    await reopening;
    expect(await got).toEqual(want);
  });
});
