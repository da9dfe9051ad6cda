/**
 * What keeps the collector's memory flat over hours (issue 12, `npm run soak`): the chunk text cache holds
 * only chunks that are still stored (white-box: the test reaches the store's body store).
 */
import { describe, expect, it } from "vitest";
import type { TextCache } from "../src/bodies/chunk-text.js";
import { stableId, type TraceStore } from "../src/index.js";
import { log, tempStore } from "./support/fixtures.js";

interface Internals {
  collector: { bodies: { texts: TextCache } };
}

const cacheOf = (store: TraceStore) => (store as unknown as Internals).collector.bodies.texts;

/** A body of many chunks: no run of it repeats, so content-defined chunking cuts it throughout. */
const body = Array.from({ length: 3000 }, (_, i) => `message ${i} says ${(i * 7919) % 10007}`).join("\n");

describe("chunk text cache and body GC", () => {
  it("forgets the cached chunks of a body the GC deletes", async () => {
    const { store } = await tempStore();
    const old = log("old", 1_000, { body });
    await store.insertRecords([old]);
    expect(await store.getBody(stableId(old))).toBe(body);
    expect(cacheOf(store).empty).toBe(false);
    const result = await store.prune({ maxAgeMs: 10_000 }, { now: 20_000 });
    expect(result.bodiesDeleted).toBe(1);
    expect(cacheOf(store).empty).toBe(true);
    expect(cacheOf(store).size).toBe(0);
  });

  it("keeps the cached chunks of a body another record still refers to", async () => {
    const { store } = await tempStore();
    const old = log("old", 1_000, { body });
    const fresh = log("fresh", 50_000, { body });
    await store.insertRecords([old, fresh]);
    expect(await store.getBody(stableId(fresh))).toBe(body);
    const cached = cacheOf(store).size;
    await store.prune({ maxAgeMs: 10_000 }, { now: 20_000 });
    expect(cacheOf(store).size).toBe(cached);
  });
});
