import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { generateRecords } from "../src/workload/generator.js";
import { everyKind, log, span, tempStore } from "./support/fixtures.js";

const withIds = (records: TraceRecord[]) => records.map((r) => ({ ...r, id: stableId(r) }));

describe("round trip", () => {
  it("returns every field of every kind exactly as given, with its id", async () => {
    const { store } = await tempStore();
    await store.insertRecords(everyKind());
    expect(await store.getTurn("t")).toEqual(withIds(everyKind()));
  });

  it("keeps an empty attributes object and an empty body", async () => {
    const { store } = await tempStore();
    await store.insertRecords(everyKind());
    const [, emptyOnes] = await store.getTurn("t");
    expect(emptyOnes?.attributes).toEqual({});
    expect(emptyOnes?.body).toBe("");
  });

  it("returns thin records without bodies when bodies is false", async () => {
    const { store } = await tempStore();
    await store.insertRecords(everyKind());
    const thin = await store.getTurn("t", { bodies: false });
    expect(thin.map((r) => r.body)).toEqual([undefined, undefined, undefined, undefined]);
    expect(thin.map((r) => r.id)).toEqual(everyKind().map(stableId));
  });

  it("offers no way around validation: prepared records have no public entry", async () => {
    const { store } = await tempStore();
    expect("insertPrepared" in store).toBe(false);
    expect(Object.getOwnPropertyNames(Object.getPrototypeOf(store))).not.toContain("insertPrepared");
  });

  it("survives a close and reopen", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords(everyKind());
    await store.close();
    const again = await openStore({ dir });
    expect(await again.getTurn("t")).toEqual(withIds(everyKind()));
    await again.close();
  });

  it("round-trips a realistic workload turn by turn", async () => {
    const { store } = await tempStore();
    const records = generateRecords({ conversations: 2, turnsPerConversation: 4, seed: 7 });
    await store.insertRecords(records);
    const byTurn = new Map<string, TraceRecord[]>();
    for (const r of records) byTurn.set(r.turnId!, [...(byTurn.get(r.turnId!) ?? []), r]);
    for (const [turnId, expected] of byTurn) expect(await store.getTurn(turnId)).toEqual(withIds(expected));
  });
});

describe("order", () => {
  it("orders a turn by timestamp, ties in insertion order", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("c", 20), log("a", 10), log("b", 20)]);
    await store.insertRecords([log("d", 10), log("e", 20)]);
    const msgs = (await store.getTurn("turn-1")).map((r) => (r.kind === "log" ? r.msg : ""));
    expect(msgs).toEqual(["a", "d", "c", "b", "e"]);
  });

  it("keeps insertion order for ties across a reopen", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords([log("first", 5)]);
    await store.close();
    const again = await openStore({ dir });
    await again.insertRecords([log("second", 5)]);
    expect((await again.getTurn("turn-1")).map((r) => (r.kind === "log" ? r.msg : ""))).toEqual([
      "first",
      "second",
    ]);
    await again.close();
  });

  it("orders query results the same way, reversed by desc", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("c", 20), log("a", 10, { turnId: "other" }), log("b", 20)]);
    const asc = (await store.query({})).map((r) => (r.kind === "log" ? r.msg : ""));
    const desc = (await store.query({ order: "desc" })).map((r) => (r.kind === "log" ? r.msg : ""));
    expect(asc).toEqual(["a", "c", "b"]);
    expect(desc).toEqual(["b", "c", "a"]);
  });
});

describe("idempotency", () => {
  it("counts a batch inserted twice as duplicates the second time", async () => {
    const { store } = await tempStore();
    expect(await store.insertRecords(everyKind())).toEqual({ inserted: 4, duplicates: 0 });
    expect(await store.insertRecords(everyKind())).toEqual({ inserted: 0, duplicates: 4 });
    expect((await store.stats()).hotRecords).toBe(4);
  });

  it("recognises duplicates after a reopen", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords(everyKind());
    await store.close();
    const again = await openStore({ dir });
    expect(await again.insertRecords(everyKind())).toEqual({ inserted: 0, duplicates: 4 });
    await again.close();
  });

  it("stores a record repeated inside one batch once", async () => {
    const { store } = await tempStore();
    const r = log("same", 1);
    expect(await store.insertRecords([r, { ...r }, r])).toEqual({ inserted: 1, duplicates: 2 });
    expect(await store.getTurn("turn-1")).toHaveLength(1);
  });

  it("counts a record carried by concurrent calls as inserted exactly once", async () => {
    const { store } = await tempStore();
    const r = span({ spanId: "s", timestamp: 3, body: "shared ".repeat(1000) });
    const results = await Promise.all(Array.from({ length: 16 }, () => store.insertRecords([r])));
    expect(results.reduce((n, x) => n + x.inserted, 0)).toBe(1);
    expect(results.reduce((n, x) => n + x.duplicates, 0)).toBe(15);
  });

  it("makes a duplicate answer wait until the original is visible", async () => {
    const { store } = await tempStore();
    const r = log("visible", 4);
    const first = store.insertRecords([r]);
    const second = await store.insertRecords([r]);
    expect(second).toEqual({ inserted: 0, duplicates: 1 });
    expect(await store.getTurn("turn-1")).toHaveLength(1);
    await first;
  });
});

describe("bodies", () => {
  it("stores one body carried by 100 records once, in fewer bytes than one copy", async () => {
    const { store } = await tempStore();
    const body = JSON.stringify({ messages: Array.from({ length: 300 }, (_, i) => `message number ${i}`) });
    const records = Array.from({ length: 100 }, (_, i) => span({ spanId: `s${i}`, timestamp: i, body }));
    await store.insertRecords(records);
    const stats = await store.stats();
    expect(stats.bodies).toBe(1);
    expect(stats.bodyBytesOriginal).toBe(Buffer.byteLength(body));
    expect(stats.bodyBytesStored).toBeLessThan(Buffer.byteLength(body));
    for (const r of records) expect(await store.getBody(stableId(r))).toBe(body);
  });

  it("stores the shared prefix of a growing conversation once", async () => {
    const { store } = await tempStore();
    let history = "";
    const records: TraceRecord[] = [];
    for (let i = 0; i < 20; i++) {
      history += `{"role":"user","content":"turn ${i}: ${"lorem ipsum dolor sit amet ".repeat(40 + i)}"},`;
      records.push(span({ spanId: `s${i}`, timestamp: i, body: `{"messages":[${history}]}` }));
    }
    await store.insertRecords(records);
    const stats = await store.stats();
    expect(stats.bodies).toBe(20);
    // 20 bodies of 1..20 messages hold 210 messages' worth of bytes; chunking keeps about 20 of them
    expect(stats.bodyBytesStored).toBeLessThan(stats.bodyBytesOriginal / 8);
    for (const r of records) expect(await store.getBody(stableId(r))).toBe(r.body);
  });

  it("round-trips bodies with multi-byte characters across chunk boundaries", async () => {
    const { store } = await tempStore();
    const body = "ü😀ß漢字 ".repeat(20_000);
    const r = span({ spanId: "u", timestamp: 1, body });
    await store.insertRecords([r]);
    expect(await store.getBody(stableId(r))).toBe(body);
    expect((await store.stats()).bodyBytesOriginal).toBe(Buffer.byteLength(body));
  });

  it("answers undefined for an unknown record and for a record without a body", async () => {
    const { store } = await tempStore();
    const r = log("no body", 1);
    await store.insertRecords([r]);
    expect(await store.getBody(stableId(r))).toBeUndefined();
    expect(await store.getBody("0123456789abcdef")).toBeUndefined();
    expect(await store.getBody("not an id")).toBeUndefined();
  });
});

describe("reads of what is not there", () => {
  it("returns [] for an unknown turn and for the empty id", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("no turn", 1, { turnId: undefined })]);
    expect(await store.getTurn("nope")).toEqual([]);
    expect(await store.getTurn("")).toEqual([]);
  });
});

describe("query", () => {
  async function seeded() {
    const { store } = await tempStore();
    await store.insertRecords([
      log("a", 10, { conversationId: "c1", extensionId: "e1" }),
      { ...log("b", 20, { conversationId: "c1" }), level: "error" } as TraceRecord,
      span({ spanId: "x", timestamp: 30, name: "llm", turnId: "turn-2", conversationId: "c2" }),
      {
        kind: "span-close",
        spanId: "x",
        name: "llm",
        timestamp: 40,
        durationMs: 10,
        status: "error",
        extensionId: "ext",
        turnId: "turn-2",
      },
    ]);
    return store;
  }
  const msgsOf = (rs: { kind: string }[]) => rs.map((r) => ("msg" in r ? r.msg : r.kind));

  it("bounds time with from inclusive and to exclusive", async () => {
    const store = await seeded();
    expect(msgsOf(await store.query({ from: 20, to: 40 }))).toEqual(["b", "span-open"]);
  });

  it("filters by every field it names", async () => {
    const store = await seeded();
    expect(msgsOf(await store.query({ conversationId: "c1" }))).toEqual(["a", "b"]);
    expect(msgsOf(await store.query({ turnId: "turn-2" }))).toEqual(["span-open", "span-close"]);
    expect(msgsOf(await store.query({ kind: "log", level: "error" }))).toEqual(["b"]);
    expect(msgsOf(await store.query({ extensionId: "e1" }))).toEqual(["a"]);
    expect(msgsOf(await store.query({ name: "llm", status: "error" }))).toEqual(["span-close"]);
  });

  it("stops at the limit, in either order", async () => {
    const store = await seeded();
    expect(msgsOf(await store.query({ limit: 2 }))).toEqual(["a", "b"]);
    expect(msgsOf(await store.query({ limit: 2, order: "desc" }))).toEqual(["span-close", "span-open"]);
    expect(await store.query({ limit: 0 })).toEqual([]);
  });

  it("rejects a malformed query with ERR_INVALID_OPTION", async () => {
    const store = await seeded();
    await expect(store.query({ limit: -1 })).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
    await expect(store.query({ order: "sideways" as "asc" })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
  });
});

describe("stats", () => {
  it("counts records, distinct bodies and WAL bytes", async () => {
    const { store } = await tempStore();
    await store.insertRecords(everyKind());
    const s = await store.stats();
    expect(s).toMatchObject({ hotRecords: 4, coldRecords: 0, coldPartitions: 0, bodies: 3 });
    expect(s.bodyBytesOriginal).toBe(Buffer.byteLength("request body ✓ ü 😀") + 5000);
    expect(s.walBytes).toBeGreaterThan(16);
  });

  it("keeps its counts across a reopen", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords(everyKind());
    const before = await store.stats();
    await store.close();
    const again = await openStore({ dir });
    const after = await again.stats();
    // The WAL's own figures (its size, its fsyncs since open) belong to the session; the counts persist.
    const persistent = (x: typeof before) => ({ ...x, walBytes: 0, walSyncs: 0, walSyncMs: 0 });
    expect(persistent(after)).toEqual(persistent(before));
    await again.close();
  });
});

describe("lifecycle", () => {
  it("rejects calls after close with ERR_CLOSED", async () => {
    const { store } = await tempStore();
    await store.close();
    await expect(store.insertRecords([log("late", 1)])).rejects.toMatchObject({ code: "ERR_CLOSED" });
    await expect(store.getTurn("turn-1")).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });

  it("finishes inserts in flight before close resolves", async () => {
    const { store, dir } = await tempStore();
    const pending = Array.from({ length: 20 }, (_, i) => store.insertRecords([log(`m${i}`, i)]));
    await store.close();
    await Promise.all(pending);
    const again = await openStore({ dir });
    expect(await again.getTurn("turn-1")).toHaveLength(20);
    await again.close();
  });
});
