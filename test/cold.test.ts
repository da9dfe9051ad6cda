import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import { MAX_SMALL_FILES } from "../src/maintenance/compaction.js";
import { log, multiDayTurns, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);
const DAY = 86_400_000;

async function snapshot(store: TraceStore, turns: TraceRecord[][]) {
  const turnIds = turns.map((t) => t[0]!.turnId!);
  const first = turns[0]![0]!.timestamp;
  return {
    turns: await Promise.all(turnIds.map((t) => store.getTurn(t))),
    thin: await Promise.all(turnIds.slice(0, 5).map((t) => store.getTurn(t, { bodies: false }))),
    views: await Promise.all(turnIds.slice(0, 5).map((t) => store.easyView(t))),
    all: await store.query({ bodies: false }),
    hours: await store.query({ from: first + 6 * 3_600_000, to: first + 30 * 3_600_000, bodies: false }),
    latest: await store.query({ order: "desc", limit: 25 }),
    earliest: await store.query({ limit: 25, kind: "span-close" }),
    conv: await store.query({ conversationId: turns[2]![0]!.conversationId!, bodies: false }),
    oneTurn: await store.query({ turnId: turnIds[4]!, level: "info" }),
  };
}

describe("compaction and reads over both tiers", () => {
  it("gives the same reads before and after compaction, and after a reopen", async () => {
    const turns = multiDayTurns(8, 4);
    const { store, dir } = await tempStore();
    await store.insertRecords(turns.flat());
    const before = await snapshot(store, turns);
    const result = await store.compact({ now: FAR_FUTURE });
    expect(result.recordsMoved).toBe(turns.flat().length);
    expect(result.partitionsWritten).toBeGreaterThan(2);
    expect(await snapshot(store, turns)).toEqual(before);
    await store.close();
    const again = await openStore({ dir });
    expect(await snapshot(again, turns)).toEqual(before);
    await again.close();
  });

  it("moves only records older than the cutoff and keeps counts exact", async () => {
    const turns = multiDayTurns(6, 3);
    const records = turns.flat();
    const { store } = await tempStore();
    await store.insertRecords(records);
    const cutoff = records[Math.floor(records.length / 2)]!.timestamp;
    const { recordsMoved } = await store.compact({ now: cutoff + DAY, olderThanMs: DAY });
    const older = records.filter((r) => r.timestamp < cutoff).length;
    expect(recordsMoved).toBe(older);
    const stats = await store.stats();
    expect(stats.coldRecords).toBe(older);
    expect(stats.hotRecords).toBe(records.length - older);
    const dates = new Set(
      records
        .filter((r) => r.timestamp < cutoff)
        .map((r) => new Date(r.timestamp).toISOString().slice(0, 10)),
    );
    expect(stats.coldPartitions).toBe(dates.size);
  });

  it("writes Hive-style date partitions by UTC date, and no temporary files", async () => {
    const turns = multiDayTurns(5, 2);
    const { store, dir } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: FAR_FUTURE });
    const partitions = readdirSync(join(dir, "cold")).filter((n) => n.startsWith("date="));
    const expected = new Set(
      turns.flat().map((r) => `date=${new Date(r.timestamp).toISOString().slice(0, 10)}`),
    );
    expect(new Set(partitions)).toEqual(expected);
    for (const p of partitions) {
      // each Parquet file with its search sidecar
      for (const f of readdirSync(join(dir, "cold", p))) expect(f).toMatch(/^g\d{10}-\d+\.(parquet|idx)$/);
    }
  });

  it("writes each UTC hour to its own files, and reads a turn that crosses an hour from both", async () => {
    const { store, dir } = await tempStore();
    const at = (h: number, m: number, s: number) => Date.UTC(2026, 9, 2, h, m, s);
    await store.insertRecords([
      log("before ten", at(9, 30, 0), { turnId: "other" }),
      log("just before eleven", at(10, 59, 59), { turnId: "crossing" }),
      log("just after eleven", at(11, 0, 1), { turnId: "crossing" }),
      log("noon", at(12, 0, 0), { turnId: "other" }),
    ]);
    await store.compact({ now: FAR_FUTURE });
    const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
      files: { minTs: number; maxTs: number }[];
    };
    expect(manifest.files).toHaveLength(4);
    for (const f of manifest.files)
      expect(Math.floor(f.minTs / 3_600_000)).toBe(Math.floor(f.maxTs / 3_600_000));
    const crossing = await store.getTurn("crossing");
    expect(crossing.map((r) => (r.kind === "log" ? r.msg : ""))).toEqual([
      "just before eleven",
      "just after eleven",
    ]);
    const hour = await store.query({ from: at(11, 0, 0), to: at(12, 0, 0) });
    expect(hour.map((r) => (r.kind === "log" ? r.msg : ""))).toEqual(["just after eleven"]);
  });

  it("counts a record that is now cold as a duplicate when it is inserted again", async () => {
    const turns = multiDayTurns(3, 2);
    const { store } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: FAR_FUTURE });
    expect(await store.insertRecords(turns.flat())).toEqual({ inserted: 0, duplicates: turns.flat().length });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it("reads a cold record's body by its id", async () => {
    const turns = multiDayTurns(2, 2);
    const { store } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: FAR_FUTURE });
    for (const r of turns
      .flat()
      .filter((x) => x.body !== undefined)
      .slice(0, 10)) {
      expect(await store.getBody(stableId(r))).toBe(r.body);
    }
  });

  it("keeps a late record hot until the next compaction adds a file to its partition", async () => {
    const turns = multiDayTurns(2, 2);
    const { store } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: FAR_FUTURE });
    const t0 = turns[0]![0]!;
    const late = log("arrived late", t0.timestamp + 1, {
      turnId: t0.turnId,
      conversationId: t0.conversationId,
    });
    await store.insertRecords([late]);
    expect((await store.stats()).hotRecords).toBe(1);
    const before = await store.getTurn(t0.turnId!);
    expect(before.map((r) => r.id)).toContain(stableId(late));
    const { recordsMoved, partitionsWritten } = await store.compact({ now: FAR_FUTURE });
    expect({ recordsMoved, partitionsWritten }).toEqual({ recordsMoved: 1, partitionsWritten: 1 });
    expect(await store.getTurn(t0.turnId!)).toEqual(before);
  });

  it("merges small files so repeated compactions keep files per partition bounded", async () => {
    const { store, dir } = await tempStore();
    const day = Date.UTC(2026, 9, 3);
    for (let round = 0; round < 12; round++) {
      await store.insertRecords([log(`round ${round}`, day + round, { turnId: `turn-${round % 3}` })]);
      await store.compact({ now: FAR_FUTURE });
    }
    const files = readdirSync(join(dir, "cold", "date=2026-10-03")).filter((f) => f.endsWith(".parquet"));
    expect(files.length).toBeLessThanOrEqual(MAX_SMALL_FILES + 1);
    expect((await store.stats()).coldRecords).toBe(12);
    expect((await store.getTurn("turn-1")).map((r) => (r.kind === "log" ? r.msg : ""))).toEqual([
      "round 1",
      "round 4",
      "round 7",
      "round 10",
    ]);
  });

  it("removes files the manifest does not list when it opens", async () => {
    const turns = multiDayTurns(2, 2);
    const { store, dir } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: FAR_FUTURE });
    await store.close();
    const part = readdirSync(join(dir, "cold")).find((n) => n.startsWith("date="))!;
    writeFileSync(join(dir, "cold", part, "g9999999999-0.parquet"), "not listed");
    writeFileSync(join(dir, "cold", part, ".g9999999999-1.parquet.tmp"), "half written");
    const again = await openStore({ dir });
    expect(readdirSync(join(dir, "cold", part)).filter((n) => n.includes("9999999999"))).toEqual([]);
    expect((await again.stats()).coldRecords).toBe(turns.flat().length);
    await again.close();
  });
});
