import { describe, expect, it, vi } from "vitest";
import { ByteLru } from "../src/base/byte-lru.js";
import type { TraceStore } from "../src/index.js";
import { log, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);

/** The hot tier's classic-level handle, to count trips to LevelDB's thread. */
function hotDb(store: TraceStore): { values: (...args: unknown[]) => unknown } {
  return (store as unknown as { hot: { db: { values: (...args: unknown[]) => unknown } } }).hot.db;
}

const msgs = async (store: TraceStore, turnId = "turn-1") =>
  (await store.getTurn(turnId)).map((r) => (r as { msg?: string }).msg);

describe("turn cache", () => {
  it("a second read of an unchanged turn makes no trip to LevelDB and returns the same records", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1), log("b", 2)]);
    const first = await store.getTurn("turn-1");
    const values = vi.spyOn(hotDb(store), "values");
    const second = await store.getTurn("turn-1");
    expect(values).not.toHaveBeenCalled();
    expect(second).toEqual(first);
  });

  it("a turn read after a record was added to it has the new record", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1)]);
    expect(await msgs(store)).toEqual(["a"]);
    await store.insertRecords([log("b", 2)]);
    expect(await msgs(store)).toEqual(["a", "b"]);
  });

  it("a read answered before a write to its turn but finished after it is not kept", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1)]);
    const db = hotDb(store);
    const values = db.values.bind(db);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let answered = false;
    vi.spyOn(db, "values").mockImplementationOnce((...args: unknown[]) => {
      const it = values(...args) as { nextv: (n: number) => Promise<unknown[]> };
      const nextv = it.nextv.bind(it);
      it.nextv = async (n) => {
        const got = await nextv(n); // LevelDB has answered: the turn as it was
        answered = true;
        await gate;
        return got;
      };
      return it;
    });
    const read = store.getTurn("turn-1");
    while (!answered) await new Promise(setImmediate);
    await store.insertRecords([log("b", 2)]);
    release();
    expect((await read).map((r) => (r as { msg?: string }).msg)).toEqual(["a"]);
    expect(await msgs(store)).toEqual(["a", "b"]);
  });

  it("a read answered while a write to its turn is being applied is dropped once it is", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1)]);
    const db = hotDb(store) as unknown as { batch: () => { write: (o: unknown) => Promise<void> } };
    const batch = db.batch.bind(db);
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const started = vi.spyOn(db, "batch").mockImplementationOnce(() => {
      const b = batch();
      const write = b.write.bind(b);
      b.write = async (o) => {
        await gate;
        return write(o);
      };
      return b;
    });
    const insert = store.insertRecords([log("b", 2)]);
    while (started.mock.calls.length === 0) await new Promise(setImmediate);
    expect(await msgs(store)).toEqual(["a"]); // the write is not applied yet
    release();
    await insert;
    expect(await msgs(store)).toEqual(["a", "b"]);
  });

  it("records changed by a caller do not change what the next read returns", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1, { attributes: { k: "v" } })]);
    const [r] = await store.getTurn("turn-1");
    r!.attributes!.k = "changed";
    expect((await store.getTurn("turn-1"))[0]!.attributes).toEqual({ k: "v" });
  });

  it("a turn read before its records went cold reads the same after", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("a", 1), log("b", 2)]);
    const before = await store.getTurn("turn-1");
    await store.compact({ now: FAR_FUTURE });
    expect(await store.getTurn("turn-1")).toEqual(before);
  });

  it("a turn read before prune deleted its old records reads without them after", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("old", 1_000), log("new", 50_000)]);
    expect(await msgs(store)).toEqual(["old", "new"]);
    await store.prune({ maxAgeMs: 10_000 }, { now: 30_000 });
    expect(await msgs(store)).toEqual(["new"]);
  });
});

describe("byte-bounded LRU", () => {
  it("replacing a key's value counts only the new value's bytes", () => {
    const lru = new ByteLru<string>(100, (s) => s.length);
    lru.set("k", "x".repeat(60));
    lru.set("k", "y".repeat(30));
    expect(lru.size).toBe(30);
    expect(lru.get("k")).toBe("y".repeat(30));
  });

  it("keeps nothing it cannot hold: a value over the bound alone is not kept", () => {
    const lru = new ByteLru<string>(10, (s) => s.length);
    lru.set("k", "x".repeat(11));
    expect(lru.get("k")).toBeUndefined();
    expect(lru.size).toBe(0);
  });

  it("holds nothing after clear", () => {
    const lru = new ByteLru<string>(10, (s) => s.length);
    lru.set("a", "aa");
    lru.clear();
    expect(lru.empty).toBe(true);
    expect(lru.size).toBe(0);
  });
});
