import { describe, expect, it } from "vitest";
import type { TracetierError } from "../src/base/errors.js";
import {
  bruteSearch,
  bruteSearchStore,
  checkSearchOptions,
  DEFAULT_SEARCH_LIMIT,
  hitOf,
  searchableOf,
} from "../src/search/brute.js";
import type { SearchOptions, StoredRecord, TraceRecord } from "../src/types.js";
import { generateRecords } from "../src/workload/generator.js";
import { log, span, tempStore } from "./support/fixtures.js";

function stored(r: TraceRecord, id: string, over: Partial<StoredRecord> = {}): StoredRecord {
  return { ...r, id, ...over } as StoredRecord;
}

/** The option a bad value is refused for (asserting ERR_INVALID_OPTION). */
function refusedOption(opts: unknown): string {
  try {
    checkSearchOptions(opts as SearchOptions);
  } catch (e) {
    expect((e as TracetierError).code).toBe("ERR_INVALID_OPTION");
    return /^option "([^"]*)"/.exec((e as Error).message)?.[1] ?? "";
  }
  throw new Error("accepted");
}

describe("checkSearchOptions", () => {
  it("fills in limit 50 and order desc", () => {
    expect(checkSearchOptions(undefined)).toEqual({ limit: DEFAULT_SEARCH_LIMIT, order: "desc" });
  });

  it("keeps valid filters", () => {
    const o = { from: 1, to: 2.5, turnId: "t", conversationId: "c", extensionId: "e", kind: "log" };
    expect(checkSearchOptions({ ...o, limit: 1000, order: "asc" })).toEqual({
      ...o,
      limit: 1000,
      order: "asc",
    });
  });

  it("names limit when it is not an integer from 1 to 1000", () => {
    for (const limit of [0, -1, 1001, 1.5, Number.NaN, "10"]) expect(refusedOption({ limit })).toBe("limit");
  });

  it("names order when it is neither asc nor desc", () => {
    expect(refusedOption({ order: "newest" })).toBe("order");
  });

  it("names from or to when it is not a finite number", () => {
    expect(refusedOption({ from: Number.POSITIVE_INFINITY })).toBe("from");
    expect(refusedOption({ to: "2026-01-01" })).toBe("to");
  });

  it("names a filter that is not a string", () => {
    expect(refusedOption({ turnId: 7 })).toBe("turnId");
    expect(refusedOption({ kind: null })).toBe("kind");
  });
});

describe("searchableOf and hitOf", () => {
  it("offer a log's message and a span's name, and no evicted body", () => {
    expect(searchableOf(stored(log("hello", 1, { body: "b" }), "a"))).toEqual({ msg: "hello", body: "b" });
    const s = stored(span({ spanId: "s", timestamp: 1, name: "llm", attributes: { k: 1 } }), "b", {
      bodyEvicted: true,
    });
    expect(searchableOf(s)).toEqual({ name: "llm", attributes: { k: 1 } });
  });

  it('build a hit with turnId "" and no conversationId when the record has none', () => {
    const r = stored(log("x", 5, { turnId: undefined }), "id1");
    expect(hitOf(r, { where: "msg", snippet: "x" })).toEqual({
      recordId: "id1",
      turnId: "",
      timestamp: 5,
      name: "",
      kind: "log",
      where: "msg",
      snippet: "x",
    });
  });

  it("build a hit with the span's name and conversation", () => {
    const r = stored(span({ spanId: "s", timestamp: 7, name: "llm", conversationId: "c" }), "id2");
    expect(hitOf(r, { where: "name", snippet: "llm" })).toMatchObject({
      name: "llm",
      conversationId: "c",
      turnId: "turn-1",
      kind: "span-open",
    });
  });
});

describe("bruteSearch", () => {
  const records = [
    stored(log("needle one", 30, { turnId: "t1" }), "a"),
    stored(log("needle two", 10, { turnId: "t2", conversationId: "c" }), "b"),
    stored(log("needle three", 20, { extensionId: "other" }), "c"),
    stored(span({ spanId: "s", timestamp: 20, name: "needle.span" }), "d"),
    stored(log("hay", 15), "e"),
  ];
  const ids = async (opts?: SearchOptions, q = "needle") =>
    (await bruteSearch(records, q, opts)).hits.map((h) => h.recordId);

  it("returns matches newest first by default, ties in reverse store order", async () => {
    expect(await ids()).toEqual(["a", "d", "c", "b"]);
  });

  it("returns matches oldest first with order asc, ties in store order", async () => {
    expect(await ids({ order: "asc" })).toEqual(["b", "c", "d", "a"]);
  });

  it("applies the time range with from inclusive and to exclusive", async () => {
    expect(await ids({ from: 20, to: 30 })).toEqual(["d", "c"]);
  });

  it("applies the turn, conversation, extension and kind filters", async () => {
    expect(await ids({ turnId: "t1" })).toEqual(["a"]);
    expect(await ids({ conversationId: "c" })).toEqual(["b"]);
    expect(await ids({ extensionId: "other" })).toEqual(["c"]);
    expect(await ids({ kind: "span-open" })).toEqual(["d"]);
  });

  it("stops at the limit and says the result is truncated when more match", async () => {
    const r = await bruteSearch(records, "needle", { limit: 3 });
    expect(r.hits.map((h) => h.recordId)).toEqual(["a", "d", "c"]);
    expect(r.truncated).toBe(true);
  });

  it("is not truncated when exactly the limit matches", async () => {
    const r = await bruteSearch(records, "needle", { limit: 4 });
    expect(r.hits).toHaveLength(4);
    expect(r.truncated).toBe(false);
  });

  it("accepts an async iterable of records", async () => {
    async function* gen() {
      yield* records;
    }
    expect((await bruteSearch(gen(), "needle")).hits).toHaveLength(4);
  });

  it("refuses a bad query before reading anything", async () => {
    await expect(bruteSearch(records, '"open')).rejects.toMatchObject({ code: "ERR_INVALID_OPTION" });
  });
});

describe("bruteSearchStore", () => {
  async function storeWith(records: TraceRecord[]) {
    const { store } = await tempStore();
    await store.insertRecords(records);
    return store;
  }

  it("gives the hits bruteSearch gives over store.query of every record, in both tiers", async () => {
    const records = generateRecords({ conversations: 3, turnsPerConversation: 2 });
    const store = await storeWith(records);
    const mid = records[Math.floor(records.length / 2)]!.timestamp;
    await store.compact({ now: mid, olderThanMs: 0 });
    const all = await store.query({ bodies: true });
    for (const q of ["vianen", '"max_tokens 4096"', "model:claude", "name:llm -vianen", '"turn started"']) {
      for (const order of ["asc", "desc"] as const) {
        const expected = await bruteSearch(all, q, { order, limit: 1000 });
        expect(expected.hits.length).toBeGreaterThan(0);
        expect(await bruteSearchStore(store, q, { order, limit: 1000 })).toEqual(expected);
      }
    }
  });

  it("gives the same hits when it reads in many small windows", async () => {
    const records = generateRecords({ conversations: 2, turnsPerConversation: 2 });
    const store = await storeWith(records);
    for (const order of ["asc", "desc"] as const) {
      const whole = await bruteSearchStore(store, "vianen", { order, limit: 200 });
      expect(whole.hits.length).toBeGreaterThan(0);
      expect(await bruteSearchStore(store, "vianen", { order, limit: 200 }, 1)).toEqual(whole);
    }
  });

  it("keeps records sharing a timestamp together across windows", async () => {
    const records = [1, 1, 1, 2, 2, 3].map((ts, i) => log(`needle ${i}`, ts, { body: "x".repeat(100) }));
    const store = await storeWith(records);
    const r = await bruteSearchStore(store, "needle", { order: "asc" }, 150);
    expect(r.hits.map((h) => h.snippet)).toEqual(records.map((_, i) => `needle ${i}`));
  });

  it("finds a word in a body and not in an evicted one", async () => {
    const store = await storeWith([
      log("a", 1, { body: "the invoice 4471" }),
      log("b", 2, { body: "nothing" }),
    ]);
    const r = await bruteSearchStore(store, '"invoice 4471"');
    expect(r.hits).toMatchObject([{ where: "body", snippet: "the invoice 4471", timestamp: 1 }]);
  });
});
