/**
 * A web page elsewhere cannot make the browser write to a collector without a token: a write with a
 * foreign Origin (or Sec-Fetch-Site) is refused before it is read, and nothing is stored or run.
 */
import { describe, expect, it } from "vitest";
import { tempCollector } from "./support/collector.js";
import { log } from "./support/fixtures.js";

const record = JSON.stringify(log("from a page", Date.UTC(2026, 10, 1), { turnId: "t1" }));

describe("a collector without a token", () => {
  it("refuses a record POST from a page of another origin, and stores nothing", async () => {
    const { url, store } = await tempCollector();
    const res = await fetch(`${url}/v1/records`, {
      method: "POST",
      headers: { "content-type": "text/plain", origin: "http://evil.example" },
      body: record,
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ERR_FORBIDDEN");
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("refuses an admin prune a cross-site page sends as a simple request, and runs nothing", async () => {
    const { url, store } = await tempCollector();
    await store.insertRecords([log("kept", Date.UTC(2020, 0, 1), { turnId: "t1" })]);
    const res = await fetch(`${url}/v1/admin/prune`, {
      method: "POST",
      headers: { "content-type": "text/plain", "sec-fetch-site": "cross-site" },
      body: JSON.stringify({ policy: { maxAgeMs: 1000 } }),
    });
    expect(res.status).toBe(403);
    expect((await store.stats()).hotRecords).toBe(1);
  });

  it("takes writes from its own pages and from programs that send no Origin", async () => {
    const { url, store } = await tempCollector();
    const own = await fetch(`${url}/v1/records`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson", origin: url, "sec-fetch-site": "same-origin" },
      body: record,
    });
    expect(own.status).toBe(200);
    const program = await fetch(`${url}/v1/records`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: record,
    });
    expect(await program.json()).toEqual({ inserted: 0, duplicates: 1 });
    expect((await store.stats()).hotRecords).toBe(1);
  });

  it("believes a browser that says the write is same-origin, as behind a proxy that rewrites Host", async () => {
    const { url, store } = await tempCollector();
    const res = await fetch(`${url}/v1/records`, {
      method: "POST",
      headers: {
        "content-type": "application/x-ndjson",
        origin: "https://app.example",
        "sec-fetch-site": "same-origin",
      },
      body: record,
    });
    expect(res.status).toBe(200);
    expect((await store.stats()).hotRecords).toBe(1);
  });

  it("answers reads whatever their Origin (a GET changes nothing)", async () => {
    const { url } = await tempCollector();
    const res = await fetch(`${url}/v1/stats`, { headers: { origin: "http://evil.example" } });
    expect(res.status).toBe(200);
  });
});

describe("a collector with a token", () => {
  it("takes a write from another origin that carries the token (a page cannot add it unasked)", async () => {
    const { url } = await tempCollector({ token: "s3cret" });
    const res = await fetch(`${url}/v1/records`, {
      method: "POST",
      headers: {
        "content-type": "application/x-ndjson",
        origin: "http://app.example",
        authorization: "Bearer s3cret",
      },
      body: record,
    });
    expect(res.status).toBe(200);
  });
});
