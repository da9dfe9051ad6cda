import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { DiskFullError, IoError } from "../src/base/errors.js";
import { errorResponse } from "../src/collector/http.js";
import { startCollector } from "../src/collector/server.js";
import {
  ClosedError,
  CorruptStoreError,
  InvalidOptionError,
  InvalidRecordError,
  type StoredRecord,
  stableId,
  type TraceRecord,
  WalFailedError,
} from "../src/index.js";
import { parsePrometheus, tempCollector } from "./support/collector.js";
import { everyKind, log, multiDayTurns, tempStore } from "./support/fixtures.js";
import { rawRequest, sendRaw } from "./support/raw-http.js";

const ndjson = (records: unknown[]) => `${records.map((r) => JSON.stringify(r)).join("\n")}\n`;

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    body,
    headers: { "content-type": "application/x-ndjson", ...headers },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("the collector's HTTP API", () => {
  it("stores NDJSON records once they are durable and reads the turn back with ids and bodies", async () => {
    const { store, url } = await tempCollector();
    const records = everyKind();
    const r = await post(`${url}/v1/records`, ndjson(records));
    expect(r).toEqual({ status: 200, json: { inserted: 4, duplicates: 0 } });
    const turn = (await (await fetch(`${url}/v1/turns/t`)).json()) as StoredRecord[];
    expect(turn).toEqual(await store.getTurn("t"));
    expect(turn.map((x) => x.id)).toEqual(records.map(stableId));
    const thin = (await (await fetch(`${url}/v1/turns/t?bodies=false`)).json()) as TraceRecord[];
    expect(thin.every((x) => x.body === undefined)).toBe(true);
  });

  it("takes a JSON array, gzip-compressed, and counts a resend as duplicates", async () => {
    const { url } = await tempCollector();
    const records = multiDayTurns(2, 2).flat();
    const gz = gzipSync(JSON.stringify(records));
    const headers = { "content-type": "application/json", "content-encoding": "gzip" };
    expect((await post(`${url}/v1/records`, gz, headers)).json).toEqual({
      inserted: records.length,
      duplicates: 0,
    });
    expect((await post(`${url}/v1/records`, gz, headers)).json).toEqual({
      inserted: 0,
      duplicates: records.length,
    });
  });

  it("answers a bad record with 400, its index and field, and stores nothing of the request", async () => {
    const { store, url } = await tempCollector();
    const bad = [log("a", 1), log("b", 2), { ...log("c", 3), level: "loud" }];
    const r = await post(`${url}/v1/records`, ndjson(bad));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "ERR_INVALID_RECORD", index: 2, field: "level" });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("answers a line that is not JSON with 400 and its line number", async () => {
    const { store, url } = await tempCollector();
    const r = await post(`${url}/v1/records`, `${JSON.stringify(log("a", 1))}\n\n{"kind":\n`);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "ERR_INVALID_JSON", line: 3, index: 1 });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("refuses a body over the limit with 413, compressed or not", async () => {
    const { store, url } = await tempCollector({ bodyLimit: 4096 });
    const big = ndjson(Array.from({ length: 100 }, (_, i) => log(`m${i}`, i)));
    expect((await post(`${url}/v1/records`, big)).status).toBe(413);
    const bomb = gzipSync(`${JSON.stringify(log("x", 1))}\n${" ".repeat(1_000_000)}`); // a few KB that inflate to 1 MB
    expect(bomb.length).toBeLessThan(4096);
    const r = await post(`${url}/v1/records`, bomb, { "content-encoding": "gzip" });
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ code: "ERR_TOO_LARGE" });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("requires the bearer token on every endpoint but /healthz when one is set", async () => {
    const { url } = await tempCollector({ token: "s3cret" });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const denied = await fetch(`${url}/v1/stats`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toBe("Bearer");
    expect((await fetch(`${url}/v1/stats`, { headers: { authorization: "Bearer wrong!" } })).status).toBe(
      401,
    );
    expect((await post(`${url}/v1/records`, ndjson([log("a", 1)]))).status).toBe(401);
    const ok = await fetch(`${url}/v1/stats`, { headers: { authorization: "Bearer s3cret" } });
    expect(ok.status).toBe(200);
  });

  it("answers without a token when none is set", async () => {
    const { url } = await tempCollector();
    expect((await fetch(`${url}/v1/stats`)).status).toBe(200);
  });

  it("refuses to listen on a non-loopback address without a token", async () => {
    const { store, dir } = await tempStore();
    await expect(startCollector({ store, dir, host: "0.0.0.0", port: 0 })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringContaining("token"),
    });
    const withToken = await startCollector({ store, dir, host: "0.0.0.0", port: 0, token: "t" });
    await withToken.close();
  });

  it("serves the easy view, queries with ISO and relative times, bodies, stats, and 404s", async () => {
    const { store, url } = await tempCollector();
    const records = everyKind();
    await store.insertRecords(records);
    const view = await fetch(`${url}/v1/turns/t/view`);
    expect(view.headers.get("content-type")).toContain("text/plain");
    expect(await view.text()).toBe(`${await store.easyView("t")}\n`);
    const from = new Date(records[1]!.timestamp).toISOString();
    const q = (await (
      await fetch(`${url}/v1/records?from=${from}&order=desc&limit=2&bodies=false`)
    ).json()) as { id: string }[];
    expect(q.map((r) => r.id)).toEqual([stableId(records[3]!), stableId(records[2]!)]);
    const recent = (await (await fetch(`${url}/v1/records?from=-1h`)).json()) as unknown[];
    expect(recent).toEqual([]); // the records are from 2023
    const body = await fetch(`${url}/v1/records/${stableId(records[0]!)}/body`);
    expect(await body.text()).toBe(records[0]!.body);
    expect((await fetch(`${url}/v1/records/${stableId(records[3]!)}/body`)).status).toBe(404);
    expect((await fetch(`${url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/v1/stats`, { method: "DELETE" })).status).toBe(405);
    const bad = await fetch(`${url}/v1/records?from=yesterday`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("ERR_INVALID_OPTION");
    expect(await (await fetch(`${url}/v1/stats`)).json()).toMatchObject({ hotRecords: 4 });
  });

  it("exposes /metrics in Prometheus text format, with counters that move with the traffic", async () => {
    const { url } = await tempCollector();
    const scrape = async () => parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    const before = await scrape();
    expect(before.get('tracetier_records{tier="hot"}')).toBe(0);
    await post(`${url}/v1/records`, ndjson([log("a", 1), log("b", 2)]));
    await post(`${url}/v1/records`, ndjson([log("a", 1)]));
    await post(`${url}/v1/records`, ndjson([{ kind: "log" }]));
    const after = await scrape();
    expect(after.get('tracetier_ingested_records_total{source="records"}')).toBe(2);
    expect(after.get('tracetier_duplicate_records_total{source="records"}')).toBe(1);
    expect(after.get('tracetier_rejects_total{reason="invalid_record"}')).toBe(1);
    expect(after.get('tracetier_records{tier="hot"}')).toBe(2);
    expect(after.get("tracetier_wal_fsyncs")).toBeGreaterThan(before.get("tracetier_wal_fsyncs")!);
    expect(after.get('tracetier_http_requests_total{route="records",status="200"}')).toBe(2);
    expect(after.get('tracetier_ingested_bytes_total{source="records"}')).toBeGreaterThan(100);
  });

  it("reports the process's memory by kind in /metrics, the resident set at least the JS heap in use", async () => {
    const { url } = await tempCollector();
    const m = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    const kind = (k: string) => m.get(`tracetier_process_memory_bytes{kind="${k}"}`)!;
    for (const k of ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers"])
      expect(kind(k)).toBeGreaterThan(0);
    expect(kind("rss")).toBeGreaterThan(kind("heapUsed"));
    expect(kind("heapTotal")).toBeGreaterThanOrEqual(kind("heapUsed"));
  });
});

describe("the collector's HTTP boundary", () => {
  const errorOf = (body: Buffer) => (JSON.parse(body.toString()) as { error: Record<string, unknown> }).error;

  for (const target of [
    "/v1/turns/%ZZ",
    "/v1/turns/%E0%A4%A",
    "/v1/records/%C0%AF/body",
    "/v1/turns/%uFFFF/view",
  ]) {
    it(`answers the malformed escape in ${target} with 400 ERR_BAD_REQUEST naming the path segment`, async () => {
      const { url } = await tempCollector();
      const a = await sendRaw(url, { pieces: [rawRequest("GET", target, {})] });
      expect(a.status).toBe(400);
      expect(errorOf(a.body)).toMatchObject({
        code: "ERR_BAD_REQUEST",
        message: expect.stringContaining("path segment"),
      });
    });
  }

  it("answers a malformed escape in a query parameter with 400 naming the parameter", async () => {
    const { url } = await tempCollector();
    const a = await sendRaw(url, { pieces: [rawRequest("GET", "/v1/records?kind=%ZZ", {})] });
    expect(a.status).toBe(400);
    expect(errorOf(a.body)).toMatchObject({
      code: "ERR_BAD_REQUEST",
      message: expect.stringContaining('query parameter "kind"'),
    });
  });

  it("decodes escapes in ids and query parameters strictly but fully", async () => {
    const { store, url } = await tempCollector();
    await store.insertRecords([log("x", 1, { turnId: "a/b é+" })]);
    const a = await sendRaw(url, {
      pieces: [rawRequest("GET", "/v1/turns/a%2Fb%20%C3%A9%2B?bodies=false", {})],
    });
    expect(a.status).toBe(200);
    expect((JSON.parse(a.body.toString()) as { msg: string }[]).map((r) => r.msg)).toEqual(["x"]);
    const q = await sendRaw(url, { pieces: [rawRequest("GET", "/v1/records?turnId=a%2Fb+%C3%A9%2B", {})] });
    expect((JSON.parse(q.body.toString()) as TraceRecord[]).length).toBe(1);
  });

  it("answers an absolute-form target that is not a URL with 400, and keeps serving", async () => {
    const { url } = await tempCollector();
    const a = await sendRaw(url, { pieces: [Buffer.from("GET http://[::1 HTTP/1.1\r\nhost: x\r\n\r\n")] });
    expect(a.status).toBe(400);
    expect(errorOf(a.body)).toMatchObject({
      code: "ERR_BAD_REQUEST",
      message: expect.stringContaining("URL"),
    });
    const ok = await sendRaw(url, { pieces: [rawRequest("GET", "http://collector/healthz", {})] });
    expect(ok.status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it("without a token, refuses a request addressed to a name that is not loopback (DNS rebinding)", async () => {
    const { url } = await tempCollector();
    for (const host of ["evil.example", "evil.example:4318", "127.0.0.1.evil.example", "[::2]:80"]) {
      const a = await sendRaw(url, { pieces: [rawRequest("GET", "/v1/stats", { host })] });
      expect(a.status, host).toBe(403);
      expect(errorOf(a.body)).toMatchObject({ code: "ERR_FORBIDDEN_HOST" });
    }
    for (const host of [
      "localhost:4318",
      "127.0.0.1",
      "[::1]:9",
      "app.localhost",
      "LOCALHOST",
      "localhost.:1",
    ]) {
      const a = await sendRaw(url, { pieces: [rawRequest("GET", "/v1/stats", { host })] });
      expect(a.status, host).toBe(200);
      expect(a.headers["x-content-type-options"]).toBe("nosniff");
    }
  });

  it("with a token, answers any Host once the token is given", async () => {
    const { url } = await tempCollector({ token: "t" });
    const headers = { host: "collector.internal", authorization: "Bearer t" };
    expect((await sendRaw(url, { pieces: [rawRequest("GET", "/v1/stats", headers)] })).status).toBe(200);
  });

  it("answers CONNECT, which Node routes around the request handler, with a JSON 405", async () => {
    const { url } = await tempCollector();
    const a = await sendRaw(url, {
      pieces: [Buffer.from("CONNECT collector:443 HTTP/1.1\r\nhost: x\r\n\r\n")],
    });
    expect(a.status).toBe(405);
    expect(errorOf(a.body)).toMatchObject({ code: "ERR_METHOD_NOT_ALLOWED" });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it("answers a request Node's HTTP parser refuses with a JSON 400, and a huge header with 431", async () => {
    const { url } = await tempCollector();
    const junk = await sendRaw(url, { pieces: [Buffer.from("\u0000\u0001 nonsense\r\n\r\n", "latin1")] });
    expect(junk.status).toBe(400);
    expect(errorOf(junk.body)).toMatchObject({ code: "ERR_BAD_REQUEST" });
    const big = await sendRaw(url, {
      pieces: [rawRequest("GET", "/healthz", { "x-big": "a".repeat(20_000) })],
    });
    expect(big.status).toBe(431);
    expect(errorOf(big.body)).toMatchObject({ code: "ERR_TOO_LARGE" });
  });

  it("answers an unexpected failure with 500 and a generic message, and logs the detail", async () => {
    const { store, dir } = await tempStore();
    const lines: string[] = [];
    const collector = await startCollector({ store, dir, port: 0, log: (l) => lines.push(l) });
    // A failure no route expects: the store's read throws an uncoded error with private detail.
    store.getTurn = async () => {
      throw new TypeError("secret detail at /var/lib/x");
    };
    try {
      const res = await fetch(`${collector.url}/v1/turns/t`);
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: { code: "ERR_INTERNAL" } });
      expect(text).not.toContain("secret");
      expect(lines.join("\n")).toContain("TypeError: secret detail at /var/lib/x");
      expect((await fetch(`${collector.url}/healthz`)).status).toBe(200);
    } finally {
      await collector.close();
    }
  });

  it("answers 503 ERR_BUSY with Retry-After when the bodies held at once would pass the limit", async () => {
    const { store, dir } = await tempStore();
    const collector = await startCollector({ store, dir, port: 0, bodyLimit: 1000, maxBytesInFlight: 1500 });
    const body = (msg: string) => JSON.stringify(log(msg, Date.UTC(2026, 10, 1))).padEnd(900, " ");
    try {
      // A slow client holds 900 bytes: a second 900-byte body would make 1,800.
      const first = rawRequest(
        "POST",
        "/v1/records",
        { "content-type": "application/x-ndjson" },
        body("slow"),
      );
      const slow = sendRaw(collector.url, {
        pieces: [first.subarray(0, 200), first.subarray(200)],
        delayMs: 800,
      });
      await new Promise((r) => setTimeout(r, 300));
      const busy = await fetch(`${collector.url}/v1/records`, {
        method: "POST",
        body: body("busy"),
        headers: { "content-type": "application/x-ndjson" },
      });
      expect(busy.status).toBe(503);
      expect(busy.headers.get("retry-after")).toBe("1");
      expect(await busy.json()).toMatchObject({ error: { code: "ERR_BUSY" } });
      expect((await slow).status).toBe(200);
      // Released once answered: the same body is taken now.
      expect((await post(`${collector.url}/v1/records`, body("again"))).status).toBe(200);
    } finally {
      await collector.close();
    }
  });

  it("answers 503 with Retry-After once the store is closed", async () => {
    const { store, url } = await tempCollector();
    await store.close();
    const res = await fetch(`${url}/v1/records`, {
      method: "POST",
      body: ndjson([log("a", 1)]),
      headers: { "content-type": "application/x-ndjson" },
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ERR_CLOSED");
  });

  it("maps store errors to statuses: client faults 4xx, conditions that pass 503/507 with Retry-After, damage 500", () => {
    const cause = Object.assign(new Error("ENOSPC: no space left"), { code: "ENOSPC" });
    const table = [
      [new InvalidRecordError(2, "level", "is bad"), 400, false],
      [new InvalidOptionError("query.limit", "is bad"), 400, false],
      [new DiskFullError("appending to the WAL", cause), 507, true],
      [new WalFailedError(cause), 503, true],
      [new IoError("reading x", cause), 503, true],
      [new ClosedError(), 503, true],
      [new CorruptStoreError("hot value at key k in /data/hot is damaged"), 500, false],
      [new RangeError("Invalid time value"), 500, false],
    ] as const;
    for (const [err, status, retry] of table) {
      const a = errorResponse(err);
      expect({ name: err.name, status: a.status, retry: "retry-after" in a.headers }).toEqual({
        name: err.name,
        status,
        retry,
      });
      expect(a.logged).toBe(status >= 500);
      if (status === 500) expect(JSON.stringify(a.body)).not.toMatch(/\/data|Invalid time/);
    }
    expect(errorResponse(new CorruptStoreError("x")).body.error.code).toBe("ERR_CORRUPT_STORE");
    expect(errorResponse(new InvalidRecordError(2, "level", "is bad")).body.error).toMatchObject({
      index: 2,
      field: "level",
    });
  });

  it("answers a body cut off mid-way without a server error, and stores nothing of it", async () => {
    const { store, url } = await tempCollector();
    const raw = rawRequest("POST", "/v1/records", {
      "content-type": "application/x-ndjson",
      "content-length": "5000",
    });
    const { hostname, port } = new URL(url);
    const { connect } = await import("node:net");
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise((r) => socket.once("connect", r));
    socket.write(Buffer.concat([raw, Buffer.from(JSON.stringify(log("a", 1)))]));
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const metrics = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    expect([...metrics.keys()].filter((k) => /status="5\d\d"/.test(k))).toEqual([]);
    expect(metrics.get('tracetier_http_requests_total{route="records",status="400"}')).toBe(1);
    expect((await store.stats()).hotRecords).toBe(0);
  });
});
