/**
 * Reads while the hot tier is reopened. After a failed LevelDB write (a full disk) the write path closes
 * and opens the hot tier again (tiers/hot/tier.ts `reopen`): reads that start meanwhile wait for it,
 * reads in progress go on from where they were on the new database, and if it cannot be opened they
 * fail with its coded error, never with classic-level's LEVEL_DATABASE_NOT_OPEN.
 */

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceRecord, TraceStore } from "../src/index.js";
import { HotTier } from "../tiers/hot/tier.js";
import { encodeRecordValue, type HotRecord, recordPuts } from "../tiers/hot/values.js";
import { crashBatch } from "./support/crash-workload.js";
import { type FaultFs, installFaultFs, onReopen } from "./support/fault-fs.js";
import { log, tempDir, tempStore } from "./support/fixtures.js";

/** crashBatch(b) holds timestamps 1_000_000 + 20b … + 20b + 19: batches 0-2 end before this. */
const END_OF_2 = 1_000_060;
const TURNS = ["turn-0", "turn-5", "turn-17", "turn-36"];

/** Batch b's records in a turn of their own, after every other record: no read below sees them. */
function elsewhere(b: number): TraceRecord[] {
  return crashBatch(b).map((r) => ({
    ...r,
    turnId: "elsewhere",
    conversationId: undefined,
    timestamp: r.timestamp + 1e9,
  }));
}

/** A store holding batches 0-2 whose hot tier failed a write: the next insert reopens it. */
async function brokenHotTier(): Promise<{
  store: TraceStore;
  fs: FaultFs;
  expected: unknown[];
  bodyId: string;
}> {
  const fs = installFaultFs();
  const { store } = await tempStore();
  for (const b of [0, 1, 2]) await store.insertRecords(crashBatch(b));
  const bodyId = (await store.query({})).find((r) => r.body !== undefined)!.id;
  const expected = await Promise.all(everyRead(store, bodyId));
  fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
  await expect(store.insertRecords(elsewhere(3))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
  return { store, fs, expected, bodyId };
}

/** Every public read of the hot tier's database (bounded to batches 0-2), as a list of promises. */
function everyRead(store: TraceStore, bodyId: string): Promise<unknown>[] {
  return [
    ...TURNS.map((t) => store.getTurn(t)),
    store.getTurn("turn-9", { bodies: false }),
    store.query({ to: END_OF_2 }),
    store.query({ conversationId: "conv-1", to: END_OF_2 }),
    store.query({ turnId: "turn-5", order: "desc" }),
    store.query({ order: "desc", limit: 7, to: END_OF_2 }),
    store.easyView("turn-5"),
    store.getBody(bodyId),
  ];
}

describe("reads during a reopen of the hot tier", () => {
  it("reads that start while it is closed wait for it and return what they would have", async () => {
    const { store, fs, expected, bodyId } = await brokenHotTier();
    fs.clear();
    let during: Promise<unknown>[] = [];
    onReopen(fs, () => {
      during = everyRead(store, bodyId);
    });
    await store.insertRecords(elsewhere(4));
    expect(during).toHaveLength(expected.length);
    expect(await Promise.all(during)).toEqual(expected);
  });

  it("reads that wait for a reopen that fails get its coded error, and succeed once it is reopened", async () => {
    const { store, fs, expected, bodyId } = await brokenHotTier();
    fs.clear();
    fs.inject({ op: "leveldb.open", kind: "ENOSPC" });
    let during: Promise<unknown>[] = [];
    onReopen(fs, () => {
      during = everyRead(store, bodyId).map((p) =>
        p.then(
          () => "ok",
          (err: { code?: unknown }) => err.code,
        ),
      );
    });
    await expect(store.insertRecords(elsewhere(4))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(await Promise.all(during)).toEqual(expected.map(() => "ERR_DISK_FULL"));
    // closed until the next write reopens it: still the coded error
    await expect(store.getTurn("turn-5")).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await expect(store.query({})).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await store.insertRecords(elsewhere(5));
    expect(await Promise.all(everyRead(store, bodyId))).toEqual(expected);
  });
});

describe("a hot-tier iteration in progress when the database is reopened", () => {
  const N = 2500; // more than one fetch of a scan (1000) and of an index (2048)

  async function filledTier(): Promise<HotTier> {
    const dir = tempDir();
    const hot = await HotTier.open(join(dir, "hot"), dir);
    const ops = [];
    for (let seq = 1; seq <= N; seq++) {
      const r: HotRecord = {
        id: seq.toString(16).padStart(16, "0"),
        seq,
        record: log(`m${seq}`, 5_000 + (seq % 700), { turnId: "t", conversationId: "c" }),
        bodyHash: null,
      };
      ops.push(...recordPuts(r, encodeRecordValue(r)));
    }
    await hot.write(ops, true);
    return hot;
  }

  async function drainAcrossReopen(hot: HotTier, gen: AsyncGenerator<HotRecord>): Promise<number[]> {
    const seqs: number[] = [];
    const first = await gen.next();
    if (!first.done) seqs.push(first.value.seq);
    await hot.reopen();
    for await (const r of gen) seqs.push(r.seq);
    return seqs;
  }

  async function all(gen: AsyncGenerator<HotRecord>): Promise<number[]> {
    const seqs: number[] = [];
    for await (const r of gen) seqs.push(r.seq);
    return seqs;
  }

  it.each([
    ["a turn, ascending", (h: HotTier) => h.turn("t")],
    ["a turn, descending", (h: HotTier) => h.turn("t", undefined, undefined, true)],
    ["the time index, ascending", (h: HotTier) => h.byTime(undefined, undefined, false)],
    ["the time index, descending", (h: HotTier) => h.byTime(undefined, undefined, true)],
    ["a conversation, bounded in time", (h: HotTier) => h.byConversation("c", 5_100, 5_600, false)],
  ])("%s goes on after the last record it returned: each record once, in order", async (_, scan) => {
    const hot = await filledTier();
    const expected = await all(scan(hot));
    expect(expected.length).toBeGreaterThan(1000);
    expect(await drainAcrossReopen(hot, scan(hot))).toEqual(expected);
    await hot.close();
  });

  it("a walk over whole keyspaces (entries) goes on after the last key it returned", async () => {
    const hot = await filledTier();
    const range = { gte: Buffer.of(0x00), lt: Buffer.of(0xff) };
    const keys = async (reopen: boolean) => {
      const out: string[] = [];
      let first = true;
      for await (const batch of hot.entries(range, false)) {
        for (const [k] of batch) out.push(k.toString("hex"));
        if (first && reopen) await hot.reopen();
        first = false;
      }
      return out;
    };
    const expected = await keys(false);
    expect(expected.length).toBe(4 * N); // record, time, id and conversation keys
    expect(await keys(true)).toEqual(expected);
    await hot.close();
  });
});
