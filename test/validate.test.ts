import { describe, expect, it } from "vitest";
import type { TraceRecord } from "../src/index.js";
import { MAX_TIMESTAMP, MIN_TIMESTAMP } from "../src/index.js";
import { everyKind, log, tempStore } from "./support/fixtures.js";

const good = log("fine", 1);
const bad = (over: Record<string, unknown>, base: TraceRecord = good) =>
  ({ ...base, ...over }) as unknown as TraceRecord;
const closeBase = everyKind()[2]!;

/** The record with an own property `key` (as JSON.parse makes it, even for `__proto__`). */
function withOwn(base: TraceRecord, key: string, value: unknown): TraceRecord {
  const r = { ...base } as Record<string, unknown>;
  Object.defineProperty(r, key, { value, enumerable: true, writable: true, configurable: true });
  return r as unknown as TraceRecord;
}

/** A JSON value nesting `depth` arrays and objects, alternating. */
function nested(depth: number): unknown {
  let v: unknown = "leaf";
  for (let d = 0; d < depth; d++) v = d % 2 === 0 ? [v] : { k: v };
  return v;
}

const cases: [string, unknown, string][] = [
  ["a missing kind", bad({ kind: undefined }), "kind"],
  ["an unknown kind", bad({ kind: "metric" }), "kind"],
  ["a missing timestamp", bad({ timestamp: undefined }), "timestamp"],
  ["a fractional timestamp", bad({ timestamp: 1.5 }), "timestamp"],
  ["a non-finite timestamp", bad({ timestamp: Number.POSITIVE_INFINITY }), "timestamp"],
  ["a NaN timestamp", bad({ timestamp: Number.NaN }), "timestamp"],
  ["a string timestamp", bad({ timestamp: "1" }), "timestamp"],
  ["a missing extensionId", bad({ extensionId: undefined }), "extensionId"],
  ["a numeric turnId", bad({ turnId: 7 }), "turnId"],
  ["an unknown level", bad({ level: "fatal" }), "level"],
  ["a missing msg", bad({ msg: undefined }), "msg"],
  ["a non-string body", bad({ body: { text: "x" } }), "body"],
  ["attributes that are an array", bad({ attributes: ["a"] }), "attributes"],
  ["an attribute that is an object", bad({ attributes: { deep: { x: 1 } } }), "attributes.deep"],
  ["an attribute array holding an object", bad({ attributes: { list: [1, {}] } }), "attributes.list[1]"],
  ["a non-finite attribute number", bad({ attributes: { n: Number.NaN } }), "attributes.n"],
  ["a field of another kind", bad({ durationMs: 3 }), "durationMs"],
  ["a span without spanId", bad({ spanId: undefined }, closeBase), "spanId"],
  ["a span without name", bad({ name: 3 }, closeBase), "name"],
  ["a non-finite durationMs", bad({ durationMs: Number.NaN }, closeBase), "durationMs"],
  ["a string durationMs", bad({ durationMs: "3" }, closeBase), "durationMs"],
  ["an unknown status", bad({ status: "cancelled" }, closeBase), "status"],
  ["links that are not an array", bad({ links: {} }, closeBase), "links"],
  ["a link without spanId", bad({ links: [{ spanId: "a" }, { reason: "x" }] }, closeBase), "links[1].spanId"],
  ["a link extra that is not JSON", bad({ links: [{ spanId: "a", f: () => 1 }] }, closeBase), "links[0].f"],
  ["a record that is not an object", "just a string", "(record)"],
  ["a timestamp Date cannot represent", bad({ timestamp: -8.7e15 }), "timestamp"],
  ["a timestamp before the year 0000", bad({ timestamp: MIN_TIMESTAMP - 1 }), "timestamp"],
  ["a timestamp after the year 9999", bad({ timestamp: MAX_TIMESTAMP + 1 }), "timestamp"],
  ["a kind named like an Object.prototype member", bad({ kind: "toString" }), "kind"],
  ["a kind named constructor", bad({ kind: "constructor" }), "kind"],
  ["an unknown field named toString", bad({ toString: "x" }), "toString"],
  ["an unknown field named constructor", bad({ constructor: "x" }), "constructor"],
  ["an unknown field named valueOf", bad({ valueOf: 1 }), "valueOf"],
  ["an unknown field named hasOwnProperty", bad({ hasOwnProperty: true }), "hasOwnProperty"],
  ["an unknown field named __proto__", withOwn(good, "__proto__", { x: 1 }), "__proto__"],
  [
    "a link value nested deeper than 64",
    bad({ links: [{ spanId: "a", v: nested(65) }] }, closeBase),
    "links[0].v",
  ],
  ["a msg with a lone surrogate", bad({ msg: "cut \ud83d" }), "msg"],
  ["a turnId with a lone surrogate", bad({ turnId: "\udc00" }), "turnId"],
  ["a body with a lone surrogate", bad({ body: "x\ud800y" }), "body"],
  [
    "an attribute value with a lone surrogate",
    bad({ attributes: { k: ["ok", "\ud800"] } }),
    "attributes.k[1]",
  ],
  ["an attribute key with a lone surrogate", bad({ attributes: { "\ud800": 1 } }), 'attributes."\\ud800"'],
  [
    "a link value with a lone surrogate",
    bad({ links: [{ spanId: "a", x: { y: "\udfff" } }] }, closeBase),
    "links[0].x.y",
  ],
];

describe("bad input", () => {
  it.each(cases)(
    "rejects %s with ERR_INVALID_RECORD naming index and field",
    async (_name, record, field) => {
      const { store } = await tempStore();
      const batch = [good, log("also fine", 2), record] as TraceRecord[];
      const err = await store.insertRecords(batch).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "ERR_INVALID_RECORD", index: 2, field });
      expect((err as Error).message).toContain("record 2");
      expect((err as Error).message).toContain(field);
    },
  );

  it("stores nothing of a rejected batch, not even its valid records", async () => {
    const { store } = await tempStore();
    await expect(store.insertRecords([good, bad({ level: "loud" })])).rejects.toMatchObject({ index: 1 });
    expect(await store.getTurn("turn-1")).toEqual([]);
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("stays usable after a rejected batch", async () => {
    const { store } = await tempStore();
    await expect(store.insertRecords([bad({ timestamp: -0.5 })])).rejects.toThrow();
    expect(await store.insertRecords([good])).toEqual({ inserted: 1, duplicates: 0 });
  });

  it("accepts fractional durations and negative integer timestamps", async () => {
    const { store } = await tempStore();
    const r = { ...closeBase, durationMs: 0.25, timestamp: -86_400_000 };
    expect(await store.insertRecords([r])).toEqual({ inserted: 1, duplicates: 0 });
    expect((await store.getTurn("t"))[0]).toMatchObject({ durationMs: 0.25, timestamp: -86_400_000 });
  });

  it("accepts whole surrogate pairs (emoji) in bodies, messages and keys, and reads them back", async () => {
    const { store } = await tempStore();
    const r = log("done \ud83d\ude00", 3, { turnId: "turn-emoji", attributes: { "\ud83d\ude80": "é" } });
    await store.insertRecords([{ ...r, body: "中文 \ud83d\ude00 body" }]);
    const [back] = await store.getTurn("turn-emoji");
    expect(back).toMatchObject({ msg: "done 😀", attributes: { "🚀": "é" }, body: "中文 😀 body" });
  });

  it("treats a key whose value is undefined as absent", async () => {
    const { store } = await tempStore();
    await store.insertRecords([{ ...good, spanId: undefined } as TraceRecord]);
    expect(Object.keys((await store.getTurn("turn-1"))[0]!)).not.toContain("spanId");
  });

  it("accepts timestamps at both bounds, and compacts them into their dates' partitions", async () => {
    const { store } = await tempStore();
    const first = log("first", MIN_TIMESTAMP);
    const last = log("last", MAX_TIMESTAMP);
    expect(await store.insertRecords([first, last])).toEqual({ inserted: 2, duplicates: 0 });
    const { recordsMoved } = await store.compact({ now: MAX_TIMESTAMP + 1, olderThanMs: 0 });
    expect(recordsMoved).toBe(2);
    expect((await store.stats()).coldRecords).toBe(2);
    const turn = await store.getTurn("turn-1");
    expect(turn.map((r) => r.timestamp)).toEqual([MIN_TIMESTAMP, MAX_TIMESTAMP]);
  });

  it("accepts a link value nested exactly 64 deep and reads it back unchanged", async () => {
    const { store } = await tempStore();
    const links = [{ spanId: "a", v: nested(64) }];
    await store.insertRecords([{ ...closeBase, links } as TraceRecord]);
    expect((await store.getTurn("t"))[0]).toMatchObject({ links });
  });

  it("refuses a link value nested 100 000 deep with a coded error, not a stack overflow", async () => {
    const { store } = await tempStore();
    const r = { ...closeBase, links: [{ spanId: "a", v: nested(100_000) }] } as TraceRecord;
    await expect(store.insertRecords([r])).rejects.toMatchObject({
      code: "ERR_INVALID_RECORD",
      field: "links[0].v",
    });
  });
});
