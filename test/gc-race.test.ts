/**
 * The two races body GC must win, made deterministic by holding the store at the moment each one
 * needs (white-box: the test reaches the store's hot tier and write path).
 */
import { describe, expect, it } from "vitest";
import { stableId, type TraceStore } from "../src/index.js";
import type { HotTier } from "../tiers/hot/tier.js";
import { log, tempStore } from "./support/fixtures.js";

interface Internals {
  hot: HotTier;
}

const body = `${"the conversation so far ".repeat(1500)}and the new question`;

/** A store holding one record that prune will delete, leaving `body` unreferenced. */
async function storeWithDoomedBody(): Promise<{ store: TraceStore; hot: HotTier }> {
  const { store } = await tempStore();
  await store.insertRecords([log("old", 1_000, { body })]);
  return { store, hot: (store as unknown as Internals).hot };
}

describe("body GC and concurrent inserts", () => {
  it("spares a body that an insert staged after the mark refers to", async () => {
    const { store, hot } = await storeWithDoomedBody();
    const fresh = log("fresh", 50_000, { body });
    const bodyRefs = hot.bodyRefs.bind(hot);
    let inserted: Promise<unknown> | undefined;
    hot.bodyRefs = async (visit, expire) => {
      await bodyRefs(visit, expire); // the mark has read the hot records: the old one is gone, nothing refers
      inserted = store.insertRecords([fresh]); // to the body; this insert finds it stored and refers to it
      await inserted;
    };
    const result = await store.prune({ maxAgeMs: 10_000 }, { now: 20_000 });
    expect(inserted).toBeDefined();
    expect(result.bodiesDeleted).toBe(0);
    expect(await store.getBody(stableId(fresh))).toBe(body);
  });

  it("writes a body again when an insert stages it while the GC's deletion is on its way", async () => {
    const { store, hot } = await storeWithDoomedBody();
    const fresh = log("fresh", 50_000, { body });
    const write = hot.write.bind(hot);
    let inserted: Promise<unknown> | undefined;
    hot.write = async (ops, sync) => {
      const deletesBody = ops.some((o) => o.type === "del" && o.key[0] === 0x62);
      if (deletesBody && !inserted) {
        // The GC has decided; its deletion is not applied yet. An insert staged now must not count on
        // the body being there.
        inserted = store.insertRecords([fresh]);
        await new Promise((r) => setTimeout(r, 50));
      }
      return write(ops, sync);
    };
    const result = await store.prune({ maxAgeMs: 10_000 }, { now: 20_000 });
    await inserted;
    expect(result.bodiesDeleted).toBe(1);
    expect(await store.getBody(stableId(fresh))).toBe(body);
    expect((await store.stats()).bodies).toBe(1);
  });
});
