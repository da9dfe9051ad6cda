import { describe, expect, it } from "vitest";
import { openStore, type StoredRecord, stableId } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import type { HotTier } from "../tiers/hot/tier.js";
import { coldBatch } from "./support/crash-workload.js";
import { log, multiDayTurns, tempDir } from "./support/fixtures.js";
import { inspectHot } from "./support/inspect.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const ROUNDS = 10;

/** What must hold after any crash: every acknowledged record once, counts that add up, turns in order. */
async function checkInvariants(
  dir: string,
  acked: Set<number>,
  snapshot: Map<string, StoredRecord[]>,
): Promise<void> {
  const store = await openStore({ dir });
  try {
    for (const [turnId, records] of snapshot) expect(await store.getTurn(turnId)).toEqual(records);
    const all = await store.query({ bodies: false });
    const ids = all.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length); // nothing twice, across both tiers
    const stats = await store.stats();
    expect(stats.hotRecords + stats.coldRecords, "a record counted in both tiers").toBe(all.length);
    const present = new Set(ids);
    for (const b of acked) {
      const records = coldBatch(b);
      for (const r of records)
        expect(present.has(stableId(r)), `acknowledged record of batch ${b} missing`).toBe(true);
      const sample = records.find((r) => r.body !== undefined)!;
      expect(await store.getBody(stableId(sample))).toBe(sample.body);
    }
    for (let t = 0; t < 11; t++) {
      const turn = await store.getTurn(`cold-turn-${t}`, { bodies: false });
      expect(turn.map((r) => r.timestamp)).toEqual([...turn].map((r) => r.timestamp).sort((x, y) => x - y));
      expect(new Set(turn.map((r) => r.id)).size).toBe(turn.length);
    }
  } finally {
    await store.close();
  }
}

describe("crash safety of compaction and merges", () => {
  it("keeps every acknowledged record readable exactly once after each SIGKILL during compaction", async () => {
    const dir = tempDir();
    const acked = new Set<number>();
    // Base data in the same October days as the loop's batches, so merges rewrite it too.
    const base = multiDayTurns(5, 3, 24);
    const snapshot = new Map<string, StoredRecord[]>();
    const seed = await openStore({ dir });
    await seed.insertRecords(base.flat());
    for (const t of base) snapshot.set(t[0]!.turnId!, await seed.getTurn(t[0]!.turnId!));
    await seed.close();
    for (let round = 0; round < ROUNDS; round++) {
      const child = startChild(["compact-loop", dir, String(round * 10_000)]);
      await waitForLine(child, (l) => l === "compacted", 30_000);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      child.kill("SIGKILL");
      await exited(child);
      for (const l of child.lines) if (l.startsWith("ack ")) acked.add(Number(l.slice(4)));
      await checkInvariants(dir, acked, snapshot);
    }
    expect(acked.size).toBeGreaterThan(ROUNDS);
  });
});

describe("recovery of an interrupted merge", () => {
  it("settles a merge whose applied mark never landed at the next open, nothing of it in the hot tier", async () => {
    const dir = tempDir();
    const store = await openStore({ dir });
    const hour = Date.UTC(2026, 9, 1, 10);
    const turns = ["a", "b", "c"];
    // Four small files of one hour; the fifth compaction makes a fifth, and a merge of all of them.
    for (let k = 0; k < 4; k++) {
      await store.insertRecords(turns.map((t, i) => log(`m ${k} ${i}`, hour + k * 10 + i, { turnId: t })));
      await store.compact({ now: hour + 7_200_000, olderThanMs: 0 });
    }
    // The merge's one hot-tier write (its generation marked applied: only metadata puts) fails, as if
    // the process had died right after the merge's manifest commit.
    const hot = (store as unknown as { hot: HotTier }).hot;
    const write = hot.write.bind(hot);
    hot.write = async (ops, sync) => {
      if (ops.every((o) => o.type === "put" && o.key[0] === 0x6d)) throw new Error("killed");
      return write(ops, sync);
    };
    await store.insertRecords(turns.map((t, i) => log(`m 4 ${i}`, hour + 40 + i, { turnId: t })));
    await expect(store.compact({ now: hour + 7_200_000, olderThanMs: 0 })).rejects.toMatchObject({
      cause: expect.objectContaining({ message: "killed" }),
    });
    hot.write = write;
    await store.close();

    const reopened = await openStore({ dir });
    for (const t of turns) expect(await reopened.getTurn(t)).toHaveLength(5);
    expect((await reopened.stats()).hotRecords).toBe(0);
    await reopened.close();
    const inv = await inspectHot(dir);
    expect([inv.ids, inv.keys.f]).toEqual([0, undefined]);
    expect((await verifyStore(dir)).problems).toEqual([]);
  });
});
