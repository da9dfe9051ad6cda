import { describe, expect, it } from "vitest";
import { openStore, type StoredRecord, stableId } from "../src/index.js";
import { coldBatch } from "./support/crash-workload.js";
import { multiDayTurns, tempDir } from "./support/fixtures.js";
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
