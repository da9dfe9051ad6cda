import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { startCollector } from "../src/collector/server.js";
import { type StoredRecord, stableId, type TraceRecord } from "../src/index.js";
import { parsePrometheus, tempCollector } from "./support/collector.js";
import { everyKind, log, multiDayTurns, tempStore } from "./support/fixtures.js";

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
});
