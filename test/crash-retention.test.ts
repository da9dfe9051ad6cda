import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import {
  RETENTION_POLICY,
  RETENTION_START,
  RETENTION_STEP,
  retentionBatch,
} from "./support/crash-workload.js";
import { multiDayTurns, tempDir } from "./support/fixtures.js";
import { inspectHot } from "./support/inspect.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const ROUNDS = 12;
const COLD_BEFORE = Date.UTC(2026, 9, 6); // base records before this are compacted into partitions
const HOUR = 3_600_000;
/** Retention drops cold files a whole UTC hour at a time. */
const hourOf = (ts: number) => Math.floor(ts / HOUR) * HOUR;

interface Model {
  base: TraceRecord[][];
  acked: Set<number>;
  /** The highest iteration whose prune completed. */
  pruned: number;
  /** Base hours no record of which is readable any more: once gone, gone for good. */
  goneHours: Set<number>;
}

async function checkInvariants(dir: string, m: Model): Promise<void> {
  const store = await openStore({ dir });
  let stats: Awaited<ReturnType<typeof store.stats>>;
  try {
    // Every acknowledged record once, with its body.
    const present = new Set((await store.query({ bodies: false })).map((r) => r.id));
    for (const b of m.acked) {
      for (const r of retentionBatch(b)) {
        expect(present.has(stableId(r)), `acknowledged record of batch ${b} missing`).toBe(true);
        if (r.body !== undefined) expect(await store.getBody(stableId(r))).toBe(r.body);
      }
    }
    // Base records: a subset of what was inserted, in order; each body either intact or marked evicted.
    const byHour = new Map<number, { total: number; seen: number }>();
    const cutoff = RETENTION_START + m.pruned * RETENTION_STEP - RETENTION_POLICY.maxAgeMs;
    for (const turn of m.base) {
      const got = await store.getTurn(turn[0]!.turnId!);
      const want = new Map(turn.map((r) => [stableId(r), r]));
      for (const g of got) {
        const w = want.get(g.id);
        expect(w, "a record that was never inserted").toBeDefined();
        if (g.bodyEvicted) expect(g.body).toBeUndefined();
        else expect(g.body).toBe(w!.body);
        expect(m.pruned < 0 || g.timestamp >= hourOf(cutoff)).toBe(true);
      }
      for (const r of turn) {
        const d = byHour.get(hourOf(r.timestamp)) ?? { total: 0, seen: 0 };
        d.total++;
        if (got.some((g) => g.id === stableId(r))) d.seen++;
        byHour.set(hourOf(r.timestamp), d);
      }
    }
    for (const [hour, { total, seen }] of byHour) {
      if (m.goneHours.has(hour))
        expect(seen, `dropped hour ${new Date(hour).toISOString()} came back`).toBe(0);
      if (seen === 0) m.goneHours.add(hour);
      // A cold hour goes whole or not at all.
      if (hour < COLD_BEFORE) expect([0, total]).toContain(seen);
    }
    stats = await store.stats();
  } finally {
    await store.close();
  }
  // The hot tier's own bookkeeping agrees with the records and counters (read directly).
  const inv = await inspectHot(dir);
  expect(inv.ids, "id index entries = hot records (cold files carry their own)").toBe(stats.hotRecords);
  expect(inv.keys.f, "turn → file entries").toBeUndefined();
  expect(inv.bodies).toBe(stats.bodies);
  expect(inv.bodyBytes + inv.chunkBytes).toBe(stats.bodyBytesStored);
  expect(inv.missingChunks).toBe(0);
  expect(inv.staleTurnFiles).toBe(0);
}

describe("crash safety of retention and body GC", () => {
  it("keeps every invariant after each SIGKILL during prune and gc", async () => {
    const dir = tempDir();
    const base = multiDayTurns(10, 3, 24);
    const seed = await openStore({ dir });
    await seed.insertRecords(base.flat());
    await seed.compact({ now: COLD_BEFORE, olderThanMs: 0 });
    await seed.close();
    const m: Model = { base, acked: new Set(), pruned: -1, goneHours: new Set() };
    let next = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const child = startChild(["retention-loop", dir, String(next)]);
      await waitForLine(child, (l) => l.startsWith("pruned "), 30_000);
      await new Promise((r) => setTimeout(r, Math.random() * 400));
      child.kill("SIGKILL");
      await exited(child);
      for (const l of child.lines) {
        const [what, n] = l.split(" ");
        if (what === "ack") m.acked.add(Number(n));
        if (what === "pruned") m.pruned = Math.max(m.pruned, Number(n));
        if (what === "ack") next = Math.max(next, Number(n) + 1);
      }
      await checkInvariants(dir, m);
    }
    expect(m.goneHours.size).toBeGreaterThan(2);
    expect(m.pruned).toBeGreaterThan(ROUNDS);
  });
});
