/**
 * `store.search`, `GET /v1/search` and `tracetier search`: the surface (what a hit holds, order, limit,
 * filters, both tiers, errors). test/search-model.test.ts holds the answers to a brute force over random
 * stores; this file names the behaviours one by one.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openStore, type SearchResult, type TraceRecord } from "../src/index.js";
import { tempCollector } from "./support/collector.js";
import { log, span, tempDir, tempStore } from "./support/fixtures.js";

const T0 = Date.UTC(2026, 9, 1);
const HOUR = 3_600_000;

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", MAIN, ...args], (error, out, err) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

/** A long body: with the store's default chunking (8 KiB average) its words fall in many chunks. */
function longBody(marker: string, at: number): string {
  const words = Array.from({ length: 6000 }, (_, i) => `filler${i % 97}`);
  words[at] = marker;
  return words.join(" ");
}

const ids = (r: SearchResult) => r.hits.map((h) => h.recordId);

describe("store.search", () => {
  it("finds a word in a body, a log message, a span name and an attribute value, and says where", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      span({ spanId: "a", timestamp: T0, name: "plan", body: longBody("zebrafish", 4000) }),
      log("the zebrafish swam", T0 + 1),
      span({ spanId: "b", timestamp: T0 + 2, name: "zebrafish.lookup" }),
      span({ spanId: "c", timestamp: T0 + 3, attributes: { animal: "Zebrafish" } }),
      span({ spanId: "d", timestamp: T0 + 4, name: "other" }),
    ]);
    const { hits, truncated } = await store.search("zebrafish");
    expect(truncated).toBe(false);
    expect(hits.map((h) => [h.timestamp, h.where])).toEqual([
      [T0 + 3, "attributes"],
      [T0 + 2, "name"],
      [T0 + 1, "msg"],
      [T0, "body"],
    ]);
    for (const h of hits) expect(h.snippet.toLowerCase()).toContain("zebrafish");
  });

  it("gives a hit its record id, turn, conversation, span, name and kind", async () => {
    const { store } = await tempStore();
    const r = span({
      spanId: "s9",
      timestamp: T0,
      name: "llm.request",
      conversationId: "conv-1",
      body: "hello walrus",
    });
    await store.insertRecords([r, log("walrus", T0 + 1, { turnId: undefined })]);
    const [logHit, spanHit] = (await store.search("walrus")).hits;
    const [stored] = await store.query({ kind: "span-open" });
    expect(spanHit).toEqual({
      recordId: stored!.id,
      turnId: "turn-1",
      conversationId: "conv-1",
      spanId: "s9",
      timestamp: T0,
      name: "llm.request",
      kind: "span-open",
      where: "body",
      snippet: "hello walrus",
    });
    expect(logHit).toMatchObject({ turnId: "", name: "", kind: "log", where: "msg" });
    expect(logHit).not.toHaveProperty("conversationId");
  });

  it("orders hits newest first by default and oldest first with order asc", async () => {
    const { store } = await tempStore();
    await store.insertRecords([3, 1, 2].map((i) => log(`otter ${i}`, T0 + i)));
    expect((await store.search("otter")).hits.map((h) => h.timestamp)).toEqual([T0 + 3, T0 + 2, T0 + 1]);
    expect((await store.search("otter", { order: "asc" })).hits.map((h) => h.timestamp)).toEqual([
      T0 + 1,
      T0 + 2,
      T0 + 3,
    ]);
  });

  it("stops at the limit and says that more records match", async () => {
    const { store } = await tempStore();
    await store.insertRecords(Array.from({ length: 12 }, (_, i) => log(`heron ${i}`, T0 + i)));
    const page = await store.search("heron", { limit: 5 });
    expect(page.hits.map((h) => h.timestamp)).toEqual([11, 10, 9, 8, 7].map((i) => T0 + i));
    expect(page.truncated).toBe(true);
    expect((await store.search("heron", { limit: 12 })).truncated).toBe(false);
  });

  it("applies the time range, kind, turn, conversation and extension filters", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      log("ibis", T0, { turnId: "t1", conversationId: "c1", extensionId: "e1" }),
      log("ibis", T0 + 10, { turnId: "t2", conversationId: "c2", extensionId: "e2" }),
      span({
        spanId: "s",
        timestamp: T0 + 20,
        name: "ibis",
        turnId: "t2",
        conversationId: "c2",
        extensionId: "e1",
      }),
    ]);
    const times = async (opts: Parameters<typeof store.search>[1]) =>
      (await store.search("ibis", opts)).hits.map((h) => h.timestamp - T0);
    expect(await times({ from: T0 + 5, to: T0 + 20 })).toEqual([10]);
    expect(await times({ kind: "span-open" })).toEqual([20]);
    expect(await times({ turnId: "t2" })).toEqual([20, 10]);
    expect(await times({ conversationId: "c1" })).toEqual([0]);
    expect(await times({ extensionId: "e1" })).toEqual([20, 0]);
  });

  it("needs every word, and keeps out records with an excluded one", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("red fox jumps", T0), log("red hen", T0 + 1), log("fox alone", T0 + 2)]);
    expect((await store.search("red fox")).hits.map((h) => h.timestamp)).toEqual([T0]);
    expect((await store.search("red -fox")).hits.map((h) => h.timestamp)).toEqual([T0 + 1]);
    expect((await store.search('"fox jumps"')).hits.map((h) => h.timestamp)).toEqual([T0]);
    expect((await store.search('"jumps fox"')).hits).toEqual([]);
  });

  it("matches name:, model: and attr.KEY: only in their field", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      span({
        spanId: "a",
        timestamp: T0,
        name: "search.web",
        attributes: { "gen_ai.request.model": "gpt-4o" },
      }),
      log("search web gpt", T0 + 1, { attributes: { tool: "web" } }),
    ]);
    expect((await store.search("name:search")).hits.map((h) => h.timestamp)).toEqual([T0]);
    expect((await store.search("model:gpt")).hits.map((h) => h.timestamp)).toEqual([T0]);
    expect((await store.search("attr.tool:web")).hits.map((h) => h.timestamp)).toEqual([T0 + 1]);
    expect((await store.search("web -name:search")).hits.map((h) => h.timestamp)).toEqual([T0 + 1]);
  });

  it("finds a record inserted just before the search", async () => {
    const { store } = await tempStore();
    for (let i = 0; i < 5; i++) {
      await store.insertRecords([
        span({ spanId: `s${i}`, timestamp: T0 + i, body: longBody(`marker${i}x`, 100 * i) }),
      ]);
      expect((await store.search(`marker${i}x`)).hits.map((h) => h.timestamp)).toEqual([T0 + i]);
    }
  });

  it("finds records in both tiers once each, in one order, after a compaction and a reopen", async () => {
    const dir = tempDir();
    let store = await openStore({ dir });
    const records: TraceRecord[] = [];
    for (let h = 0; h < 6; h++) {
      records.push(log(`grebe hour ${h}`, T0 + h * HOUR, { turnId: `t${h}` }));
      records.push(
        span({
          spanId: `s${h}`,
          timestamp: T0 + h * HOUR + 1,
          turnId: `t${h}`,
          body: longBody("grebe", 50 * h),
        }),
      );
    }
    await store.insertRecords(records);
    const before = await store.search("grebe", { limit: 100 });
    expect(before.hits).toHaveLength(12);
    await store.compact({ now: T0 + 3 * HOUR, olderThanMs: 0 });
    expect((await store.stats()).coldRecords).toBe(6);
    const after = await store.search("grebe", { limit: 100 });
    expect(ids(after)).toEqual(ids(before));
    expect(after.hits.map((h) => h.where)).toEqual(before.hits.map((h) => h.where));
    await store.close();
    store = await openStore({ dir });
    expect(ids(await store.search("grebe", { limit: 100 }))).toEqual(ids(before));
    expect(ids(await store.search("grebe", { limit: 3, order: "asc" }))).toEqual(
      ids(before).reverse().slice(0, 3),
    );
    await store.close();
  });

  it("no longer finds an evicted body by its words, but still finds the record by its message", async () => {
    const { store } = await tempStore();
    const now = T0 + 10 * 24 * HOUR;
    await store.insertRecords([
      {
        kind: "log",
        level: "info",
        msg: "crane call",
        timestamp: T0,
        extensionId: "x",
        body: longBody("plover", 10),
      },
    ]);
    expect((await store.search("plover")).hits).toHaveLength(1);
    await store.prune({ maxBodyAgeMs: 24 * HOUR }, { now });
    expect((await store.search("plover")).hits).toEqual([]);
    expect((await store.search("crane")).hits).toHaveLength(1);
  });

  it("refuses a bad query or option with ERR_INVALID_OPTION naming it", async () => {
    const { store } = await tempStore();
    await expect(store.search("")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: /"q"/ });
    await expect(store.search('"unclosed')).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: /"q"/,
    });
    await expect(store.search("-only")).rejects.toMatchObject({ code: "ERR_INVALID_OPTION", message: /"q"/ });
    await expect(store.search("x", { limit: 0 })).rejects.toMatchObject({ message: /limit/ });
    await expect(store.search("x", { order: "up" as "asc" })).rejects.toMatchObject({ message: /order/ });
  });
});

describe("GET /v1/search", () => {
  it("answers the store's hits as JSON", async () => {
    const { store, url } = await tempCollector();
    await store.insertRecords([log("kestrel one", T0), log("kestrel two", T0 + 1)]);
    const res = await fetch(`${url}/v1/search?q=kestrel&limit=1&order=asc`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchResult;
    expect(body.truncated).toBe(true);
    expect(body.hits.map((h) => h.snippet)).toEqual(["kestrel one"]);
  });

  it("answers 400 naming the parameter for a bad query, limit, order or time", async () => {
    const { url } = await tempCollector();
    for (const [query, param] of [
      ["", "q"],
      ["q=", "q"],
      ["q=%22open", "q"],
      ["q=x&limit=0", "limit"],
      ["q=x&limit=abc", "limit"],
      ["q=x&order=sideways", "order"],
      ["q=x&from=yesterday-ish", "from"],
    ] as const) {
      const res = await fetch(`${url}/v1/search?${query}`);
      expect(res.status, query).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code, query).toBe("ERR_INVALID_OPTION");
      expect(error.message, query).toContain(`"${param}"`);
    }
  });

  it("needs the token when one is configured", async () => {
    const { url } = await tempCollector({ token: "s3cret" });
    expect((await fetch(`${url}/v1/search?q=x`)).status).toBe(401);
    const ok = await fetch(`${url}/v1/search?q=x`, { headers: { authorization: "Bearer s3cret" } });
    expect(ok.status).toBe(200);
  });
});

describe("tracetier search", () => {
  it("prints each hit with its snippet, and { hits, truncated } with --json", async () => {
    const dir = tempDir();
    const store = await openStore({ dir });
    await store.insertRecords([log("a lapwing flew by", T0), log("no bird here", T0 + 1)]);
    await store.close();
    const text = await cli(["search", "lapwing", "--dir", dir]);
    expect(text.code).toBe(0);
    expect(text.out).toContain("msg");
    expect(text.out).toContain("a lapwing flew by");
    const json = await cli(["search", "lapwing OR", "--dir", dir, "--json", "--order", "asc"]);
    expect(JSON.parse(json.out)).toEqual({ hits: [], truncated: false });
    const one = await cli(["search", "lapwing", "--dir", dir, "--json"]);
    expect((JSON.parse(one.out) as SearchResult).hits.map((h) => h.timestamp)).toEqual([T0]);
  });

  it("exits 1 naming the query for a bad one", async () => {
    const dir = tempDir();
    await (await openStore({ dir })).close();
    const bad = await cli(["search", '"open', "--dir", dir]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("ERR_INVALID_OPTION");
  });
});
