/**
 * `tracetier tail` and `GET /v1/tail`: records as they are acknowledged, in seq order, each once, across
 * reconnects (a proxy that cuts the connection, a restarted collector) and from a cursor older than the
 * collector's memory of recent records.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { type Collector, startCollector } from "../src/collector/server.js";
import type { TailLimits } from "../src/collector/tail.js";
import { openStore, type StoredRecord, type TraceRecord } from "../src/index.js";
import { followRecords, hotRecordsSince, inspectStore } from "../src/store.js";
import { P_RECORD, prefixEnd, recordKeySeq } from "../tiers/hot/keys.js";
import { parsePrometheus } from "./support/collector.js";
import { log, span, tempDir, tempStore } from "./support/fixtures.js";
import { serveProcess } from "./support/serve-process.js";
import { exited } from "./support/spawn.js";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

type Tailed = StoredRecord & { seq: number };

const children: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const close of closers.splice(0)) await close().catch(() => {});
});

/** `tracetier tail ARGS --json --debug` as a real process: its NDJSON lines and its stderr. */
function tailProcess(args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "tail", "--json", "--debug", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const records: Tailed[] = [];
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    const lines = out.split("\n");
    out = lines.pop()!;
    for (const l of lines) records.push(JSON.parse(l) as Tailed);
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return { child, records, stderr: () => err };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An hour ago: recent enough that no scheduled compaction or prune of `serve` moves a record. */
const BASE = Date.now() - 3_600_000;

/** Each batch: `n` records, logs and spans alternating, all distinct. */
function batch(b: number, n = 10): TraceRecord[] {
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? log(`b${b} r${i}`, BASE + b * 1000 + i, { turnId: `t${b % 3}` })
      : span({ spanId: `s${b}-${i}`, timestamp: BASE + b * 1000 + i, turnId: `t${b % 3}` }),
  );
}

async function post(
  url: string,
  records: TraceRecord[],
  headers: Record<string, string> = {},
): Promise<void> {
  const res = await fetch(`${url}/v1/records`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(records),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Every record stored, as `GET /v1/records?bodies=false` returns them, by id. */
async function stored(url: string): Promise<Map<string, StoredRecord>> {
  const res = await fetch(`${url}/v1/records?bodies=false`);
  return new Map(((await res.json()) as StoredRecord[]).map((r) => [r.id, r]));
}

/** Each record once, in strictly increasing seq order, and as the query returns it (plus its seq). */
function expectOnceInOrder(got: Tailed[], want: Map<string, StoredRecord>): void {
  const seqs = got.map((r) => r.seq);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(got.map((r) => r.id).sort()).toEqual([...want.keys()].sort());
  for (const { seq, ...r } of got) expect(r).toEqual(want.get(r.id));
}

/** A TCP proxy to `target` whose connections the test can cut. */
async function proxy(target: URL): Promise<{ url: string; cut(): number; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      sockets.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    cut: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
  };
}

describe("tracetier tail (real processes)", () => {
  it("prints the records ingested after it started, in seq order, each once, and only those its filters match", async () => {
    const s = serveProcess(["--dir", tempDir()]);
    closers.push(async () => {
      s.child.kill("SIGKILL");
    });
    const url = await s.url;
    await post(url, batch(0)); // before the tails start: not theirs
    const before = await stored(url);
    const all = tailProcess(["--url", url]);
    const logs = tailProcess(["--url", url, "--kind", "log", "--turn", "t1"]);
    await until("both tails to connect", () => [all, logs].every((t) => t.stderr().includes("following")));
    for (let b = 1; b <= 6; b++) await post(url, batch(b));
    const want = await stored(url);
    for (const id of before.keys()) want.delete(id);
    await until("every record", () => all.records.length >= want.size);
    await until("the filtered records", () => logs.records.length >= 10);
    await new Promise((r) => setTimeout(r, 200)); // nothing more comes
    expectOnceInOrder(all.records, want);
    const wantLogs = new Map([...want].filter(([, r]) => r.kind === "log" && r.turnId === "t1"));
    expectOnceInOrder(logs.records, wantLogs);
    all.child.kill("SIGINT");
    logs.child.kill("SIGTERM");
    expect(await exited(all.child)).toBe(0);
    expect(await exited(logs.child)).toBe(0);
  });

  it("resumes after a cut connection without losing or repeating a record while ingestion goes on", async () => {
    const s = serveProcess(["--dir", tempDir()]);
    closers.push(async () => {
      s.child.kill("SIGKILL");
    });
    const url = await s.url;
    const p = await proxy(new URL(url));
    const t = tailProcess(["--url", p.url]);
    await until("the tail to connect", () => t.stderr().includes("following"));
    const connections = () => t.stderr().match(/following/g)?.length ?? 0;
    let cuts = 0;
    for (let b = 1; b <= 30; b++) {
      await post(url, batch(b)); // straight to the collector: the proxy only carries the tail
      if (b % 10 === 5) {
        await until("the tail to be connected", () => connections() === cuts + 1);
        cuts += p.cut() > 0 ? 1 : 0; // the batches after this one are acknowledged while it reconnects
      }
    }
    const want = await stored(url);
    await until("every record", () => t.records.length >= want.size);
    await new Promise((r) => setTimeout(r, 200));
    expect(cuts).toBe(3);
    expect(t.stderr().match(/reconnecting/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    expectOnceInOrder(t.records, want);
  });

  it("follows a restarted collector through serve.json and gets what was acknowledged while it was down, once", async () => {
    const dir = tempDir();
    const first = serveProcess(["--dir", dir]);
    closers.push(async () => {
      first.child.kill("SIGKILL");
    });
    const url1 = await first.url;
    const t = tailProcess(["--dir", dir]); // no --url: found through serve.json
    await until("the tail to connect", () => t.stderr().includes("following"));
    await post(url1, batch(1));
    await until("the first batch", () => t.records.length >= 10);
    const stopping = Date.now();
    first.child.kill("SIGTERM"); // with the tail connected
    expect(await exited(first.child)).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(5000);
    // acknowledged while no collector runs: the restarted one replays them from its hot tier
    const store = await openStore({ dir });
    await store.insertRecords(batch(2));
    await store.close();
    const second = serveProcess(["--dir", dir]);
    closers.push(async () => {
      second.child.kill("SIGKILL");
    });
    const url2 = await second.url;
    await until("the second batch", () => t.records.length >= 20);
    await post(url2, batch(3));
    const want = await stored(url2);
    await until("every record", () => t.records.length >= want.size);
    await new Promise((r) => setTimeout(r, 200));
    expect(want.size).toBe(30);
    expectOnceInOrder(t.records, want);
    expect(t.stderr()).not.toContain("cannot be replayed");
  });
});

describe("tracetier tail's liveness", () => {
  it("reconnects when the collector falls silent for three heartbeats, resuming after the last id", async () => {
    const asked: string[] = [];
    const server = createHttpServer((req, res) => {
      asked.push(req.url ?? "");
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write('id: 5\nevent: open\ndata: {"after":5,"heartbeatMs":100}\n\n');
      if (asked.length === 1) return; // then silence: a half-open connection never errors by itself
      const record = { ...log("after the silence", BASE), id: "r6", seq: 6 };
      res.write(`id: 6\nevent: record\ndata: ${JSON.stringify(record)}\n\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as { port: number };
    const t = tailProcess(["--url", `http://127.0.0.1:${port}`]);
    await until("the record sent after the reconnect", () => t.records.length === 1);
    expect(t.records[0]).toMatchObject({ id: "r6", seq: 6 });
    expect(asked[1]).toContain("after=5");
    expect(t.stderr()).toContain("no bytes from the collector for 0.3 s: reconnecting");
  });
});

describe("tracetier tail's refusals", () => {
  it("exits 1 with the HTTP reason on a wrong token, and with ERR_INVALID_OPTION on a bad filter", async () => {
    const { url } = await collector({ token: "sesame" });
    const wrong = tailProcess(["--url", url, "--token", "open"]);
    const bad = tailProcess(["--url", url, "--token", "sesame", "--level", "fatal"]);
    expect(await exited(wrong.child)).toBe(1);
    expect(wrong.stderr()).toMatch(/ERR_UNAUTHORIZED.*401/);
    expect(await exited(bad.child)).toBe(1);
    expect(bad.stderr()).toMatch(/ERR_INVALID_OPTION: option "level"/);
  });

  it("has --help with examples", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "tail", "--help"]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    expect(await exited(child)).toBe(0);
    expect(out).toContain("Examples:\n  tracetier tail");
  });
});

interface Event {
  id?: string;
  event: string;
  data: string;
}

/** A `GET /v1/tail` stream read into `events` until `stop()`. */
async function stream(url: string, query = "", headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const res = await fetch(`${url}/v1/tail${query}`, { headers, signal: abort.signal });
  const events: Event[] = [];
  const reading = (async () => {
    if (res.status !== 200) return;
    let text = "";
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        text += Buffer.from(chunk).toString("utf8");
        let end = text.indexOf("\n\n");
        while (end >= 0) {
          const e: Event = { event: "message", data: "" };
          for (const l of text.slice(0, end).split("\n")) {
            const [field, ...rest] = l.split(": ");
            if (field === "id") e.id = rest.join(": ");
            if (field === "event") e.event = rest.join(": ");
            if (field === "data") e.data = rest.join(": ");
          }
          events.push(e);
          text = text.slice(end + 2);
          end = text.indexOf("\n\n");
        }
      }
    } catch {
      // aborted by stop()
    }
  })();
  closers.push(async () => abort.abort());
  const records = () => events.filter((e) => e.event === "record").map((e) => JSON.parse(e.data) as Tailed);
  return { res, events, records, reading, stop: () => abort.abort() };
}

async function collector(opts: { token?: string; tail?: Partial<TailLimits> } = {}) {
  const { store, dir } = await tempStore();
  const c: Collector = await startCollector({ store, dir, port: 0, ...opts });
  closers.push(() => c.close());
  return { store, c, url: c.url };
}

describe("GET /v1/tail", () => {
  it("replays from its ring the records after `after`, or after the Last-Event-ID header, then follows", async () => {
    const { store, url } = await collector();
    await store.insertRecords(batch(1, 5));
    const a = await stream(url, "?after=2");
    const b = await stream(url, "", { "last-event-id": "3" });
    await until("the replays", () => a.records().length === 3 && b.records().length === 2);
    expect(a.events[0]).toMatchObject({ id: "2", event: "open" });
    await store.insertRecords(batch(2, 2));
    await until("the live records", () => a.records().length === 5 && b.records().length === 4);
    expect(a.records().map((r) => r.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(b.records().map((r) => r.seq)).toEqual([4, 5, 6, 7]);
  });

  it("starts from now without a cursor, and says where in its first event", async () => {
    const { store, url } = await collector();
    await store.insertRecords(batch(1, 4));
    const a = await stream(url);
    await until("the open event", () => a.events.length > 0);
    expect(a.events[0]).toMatchObject({ id: "4", event: "open", data: '{"after":4,"heartbeatMs":15000}' });
    await store.insertRecords(batch(2, 1));
    await until("the record", () => a.records().length === 1);
    expect(a.records()[0]!.seq).toBe(5);
  });

  it("sends a comment heartbeat while nothing happens, and counts its open streams in /metrics", async () => {
    const { url } = await collector({ tail: { heartbeatMs: 50 } });
    const res = await fetch(`${url}/v1/tail`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    closers.push(() => reader.cancel());
    let text = "";
    while (!text.includes("\n: ping\n\n")) text += Buffer.from((await reader.read()).value!).toString();
    const metrics = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    expect(metrics.get("tracetier_tail_streams")).toBe(1);
  });

  it("fills a cursor older than its ring from the hot tier, then the ring, each record once", async () => {
    const { store, url } = await collector({ tail: { ringRecords: 3 } });
    await store.insertRecords(batch(1, 10)); // the ring keeps seq 8 to 10
    const a = await stream(url, "?after=2");
    await until("the replay", () => a.records().length === 8);
    await store.insertRecords(batch(2, 2));
    await until("the live records", () => a.records().length === 10);
    expect(a.records().map((r) => r.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(a.events.some((e) => e.event === "gap")).toBe(false);
  });

  it("announces with a gap event the records a cursor misses that left the hot tier", async () => {
    const { store, url } = await collector({ tail: { ringRecords: 1 } });
    await store.insertRecords(batch(1, 10));
    await store.compact({ now: Date.now(), olderThanMs: 0 }); // all ten to the cold tier
    const a = await stream(url, "?after=0");
    await until("the ring's record", () => a.records().length === 1);
    const gap = a.events.find((e) => e.event === "gap")!;
    expect(JSON.parse(gap.data)).toMatchObject({ after: 0, upTo: 9, missing: 9, ranges: [[1, 9]] });
    expect(a.events.indexOf(gap)).toBeLessThan(a.events.findIndex((e) => e.event === "record"));
    expect(a.records()[0]!.seq).toBe(10);
  });

  it("answers a cursor ahead of the store with a gap event, then follows from now", async () => {
    const { store, url } = await collector();
    await store.insertRecords(batch(1, 2));
    const a = await stream(url, "?after=99");
    await until("the events", () => a.events.length >= 2);
    expect(a.events[0]).toMatchObject({ id: "2", event: "open" });
    expect(JSON.parse(a.events[1]!.data)).toMatchObject({ after: 99, upTo: 2 });
    await store.insertRecords(batch(2, 1));
    await until("the record", () => a.records().length === 1);
    expect(a.records()[0]!.seq).toBe(3);
  });

  it.each([
    ["?after=-1", "after"],
    ["?after=abc", "after"],
    ["?kind=metric", "kind"],
    ["?level=fatal", "level"],
    ["?turnId=", "turnId"],
  ])("refuses %s with 400 ERR_INVALID_OPTION naming the parameter", async (query, name) => {
    const { url } = await collector();
    const res = await fetch(`${url}/v1/tail${query}`);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("ERR_INVALID_OPTION");
    expect(error.message).toContain(`"${name}"`);
  });

  it("refuses a Last-Event-ID that is not a sequence number", async () => {
    const { url } = await collector();
    const res = await fetch(`${url}/v1/tail`, { headers: { "last-event-id": "x" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("Last-Event-ID");
  });

  it("requires the token when the collector has one", async () => {
    const { url } = await collector({ token: "sesame" });
    const refused = await fetch(`${url}/v1/tail`);
    expect(refused.status).toBe(401);
    const a = await stream(url, "", { authorization: "Bearer sesame" });
    expect(a.res.status).toBe(200);
    expect(a.res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  });

  it("ends its streams when the collector closes, so that the close does not wait for them", async () => {
    const { store, c, url } = await collector();
    const a = await stream(url);
    await until("the open event", () => a.events.length > 0);
    const started = Date.now();
    await c.close();
    await a.reading; // the stream ended from the server's side
    expect(Date.now() - started).toBeLessThan(2000);
    await store.close();
  });

  it("closes promptly even when a streaming client does not read what is queued for it", async () => {
    const { store, c, url } = await collector({ tail: { streamBytes: 1 << 30 } });
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    closers.push(async () => socket.destroy());
    socket.on("error", () => {});
    socket.write("GET /v1/tail HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    socket.pause();
    await new Promise((r) => setTimeout(r, 100));
    const big = "x".repeat(50_000);
    for (let b = 0; b < 40; b++)
      await store.insertRecords(batch(b, 10).map((r) => ({ ...r, attributes: { big } }))); // 20 MB
    const started = Date.now();
    await c.close();
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("closes a stream whose client does not read once its queued bytes pass the limit", async () => {
    const { store, url } = await collector({ tail: { streamBytes: 256 * 1024 } });
    const slow = async () =>
      parsePrometheus(await (await fetch(`${url}/metrics`)).text()).get(
        'tracetier_tail_streams_closed_total{reason="slow"}',
      ) ?? 0;
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    closers.push(async () => socket.destroy());
    socket.on("error", () => {});
    socket.write("GET /v1/tail HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    socket.pause(); // never reads: the kernel's buffers fill, then the collector's queue
    await new Promise((r) => setTimeout(r, 100));
    const big = "x".repeat(50_000);
    let b = 0;
    while ((await slow()) === 0 && b < 100)
      await store.insertRecords(batch(b++, 10).map((r) => ({ ...r, attributes: { big } })));
    expect(await slow()).toBe(1);
    expect(b).toBeLessThan(100);
  });
});

/** `n` logs of about `size` bytes each. */
function padded(b: number, n: number, size: number): TraceRecord[] {
  return Array.from({ length: n }, (_, i) =>
    log(`b${b} r${i}`, BASE + b * 1000 + i, { attributes: { pad: "x".repeat(size) } }),
  );
}

async function slowDrops(url: string): Promise<number> {
  const metrics = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
  return metrics.get('tracetier_tail_streams_closed_total{reason="slow"}') ?? 0;
}

describe("GET /v1/tail's pacing and cursor", () => {
  it.each([
    ["its ring", {}],
    ["the hot tier", { ringRecords: 3 }],
  ])(
    "replays from %s a backlog larger than the slow-client limit, in full, to a client that reads it",
    async (_, limits) => {
      const { store, url } = await collector({ tail: { streamBytes: 64 * 1024, ...limits } });
      for (let b = 0; b < 10; b++) await store.insertRecords(padded(b, 20, 5000)); // 1 MB: 16 times the limit
      const a = await stream(url, "?after=0");
      await until("the replay", () => a.records().length === 200);
      expectOnceInOrder(a.records(), await stored(url));
      expect(await slowDrops(url)).toBe(0);
    },
  );

  it("sends one batch larger than the slow-client limit, in full, to a client that keeps up", async () => {
    const { store, url } = await collector({ tail: { streamBytes: 64 * 1024 } });
    const a = await stream(url);
    await until("the open event", () => a.events.length > 0);
    await store.insertRecords(padded(0, 100, 5000)); // 500 KB at once
    await until("the batch", () => a.records().length === 100);
    expectOnceInOrder(a.records(), await stored(url));
    expect(await slowDrops(url)).toBe(0);
  });

  it("lets Last-Event-ID win over `after`, so that an EventSource's reconnect repeats nothing", async () => {
    const { store, url } = await collector();
    await store.insertRecords(batch(1, 5));
    // an EventSource reconnects to its first URL (after=2) with the id it last saw (4)
    const a = await stream(url, "?after=2", { "last-event-id": "4" });
    // the header is what the client has, even below `after` (a store restored from an older copy)
    const b = await stream(url, "?after=4", { "last-event-id": "2" });
    await until("the replays", () => a.records().length === 1 && b.records().length === 3);
    expect(a.events[0]).toMatchObject({ id: "4", event: "open" });
    expect(a.records().map((r) => r.seq)).toEqual([5]);
    expect(b.events[0]).toMatchObject({ id: "2", event: "open" });
    expect(b.records().map((r) => r.seq)).toEqual([3, 4, 5]);
  });

  it("does not count records that arrive during its hot-tier fill as the client's backlog", async () => {
    const { store, url } = await collector({ tail: { streamBytes: 64 * 1024, ringRecords: 3 } });
    for (let b = 0; b < 20; b++) await store.insertRecords(batch(b, 1000)); // a fill of 20,000 records
    const a = await stream(url, "?after=0");
    await until("the open event", () => a.events.length > 0);
    // 400 KB, six times the limit, while the fill runs: the client has been sent nothing yet
    for (let b = 100; b < 104; b++) await store.insertRecords(padded(b, 20, 5000));
    await until("everything", () => a.records().length === 20_080, 30_000);
    expectOnceInOrder(a.records(), await stored(url));
    expect(await slowDrops(url)).toBe(0);
  });

  it("passes over a record whose stored value does not decode with a gap event, and goes on", async () => {
    const { store, url } = await collector({ tail: { ringRecords: 3 } });
    await store.insertRecords(batch(1, 10));
    const hot = inspectStore(store).hot;
    const p = Buffer.of(P_RECORD);
    for await (const keys of hot.entries({ gte: p, lt: prefixEnd(p) }, false))
      for (const [key] of keys)
        if (recordKeySeq(key) === 5)
          await hot.write([{ type: "put", key, value: Buffer.from([0xc1, 0x00]) }]);
    const a = await stream(url, "?after=0");
    await until("the records after it", () => a.records().some((r) => r.seq === 10));
    expect(a.records().map((r) => r.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    const gap = a.events.find((e) => e.event === "gap")!;
    expect(JSON.parse(gap.data)).toMatchObject({ after: 4, upTo: 5, missing: 1, ranges: [[5, 5]] });
    expect(JSON.parse(gap.data).reason).toMatch(/cannot be decoded \(ERR_CORRUPT_STORE\)/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it("moves a filtered stream's cursor past the records it leaves out, with id lines that carry no record", async () => {
    const { store, url } = await collector({ tail: { heartbeatMs: 50 } });
    const a = await stream(url, "?kind=span-open");
    await until("the open event", () => a.events.length > 0);
    await store.insertRecords([log("a", BASE), log("b", BASE + 1)]); // seq 1 and 2: left out
    await until("an id past them", () => a.events.some((e) => e.id === "2"));
    await store.insertRecords([log("c", BASE + 2)]); // within the second: the heartbeat carries it
    await until("the heartbeat's id", () => a.events.some((e) => e.id === "3"));
    expect(a.records()).toEqual([]);
    expect(a.events.filter((e) => e.id !== undefined && e.event !== "open").map((e) => e.data)).toEqual([
      "",
      "",
    ]);
  });
});

describe("hotRecordsSince", () => {
  it("keeps the newest `limit` records of a long scan and names the others missing", async () => {
    const { store } = await tempStore();
    for (let b = 0; b < 6; b++) await store.insertRecords(batch(b, 500)); // seq 1 to 3000
    const hot = await hotRecordsSince(store, 10, 2990, 3);
    expect(hot.records.map((r) => r.seq)).toEqual([2988, 2989, 2990]);
    expect(hot.truncated).toBe(true);
    expect(hot.missing).toEqual([[11, 2987]]);
    await store.close();
  });

  it("stops when its signal aborts (the client left)", async () => {
    const { store } = await tempStore();
    await store.insertRecords(batch(1, 5));
    const left = new AbortController();
    left.abort(new Error("the client left"));
    await expect(hotRecordsSince(store, 0, 5, 10, left.signal)).rejects.toThrow("the client left");
    await store.close();
  });
});

describe("followRecords", () => {
  it("tells each stored record once, never a duplicate, and a throwing listener breaks neither writes nor other listeners", async () => {
    const { store } = await tempStore();
    const told: number[] = [];
    const start = followRecords(store, () => {
      throw new Error("a broken listener");
    });
    const following = followRecords(store, (records) => told.push(...records.map((r) => r.seq)));
    expect(start.upTo).toBe(0);
    expect(await store.insertRecords(batch(1, 3))).toEqual({ inserted: 3, duplicates: 0 });
    expect(await store.insertRecords([...batch(1, 3), ...batch(2, 2)])).toEqual({
      inserted: 2,
      duplicates: 3,
    });
    expect(told).toEqual([1, 2, 3, 4, 5]);
    following.stop();
    await store.insertRecords(batch(3, 1));
    expect(told).toEqual([1, 2, 3, 4, 5]);
  });
});
