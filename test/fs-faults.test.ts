/**
 * Injected file-system faults (test/support/fault-fs.ts) at each step of the WAL and of maintenance:
 * every failure comes out coded, nothing acknowledged is lost (checked after a reopen), and the same
 * store instance takes writes again once the fault clears (space comes back).
 */

import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { errorResponse } from "../src/collector/http.js";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { setFramePayloadLimit } from "../wal/frame.js";
import { coldBatch, crashBatch } from "./support/crash-workload.js";
import { type FaultRule, installFaultFs } from "./support/fault-fs.js";
import { tempDir, tempStore } from "./support/fixtures.js";

/** What identifies a record of the crash workload (a log's msg, a span's spanId). */
function keyOf(r: TraceRecord): string {
  return r.kind === "log" ? r.msg : r.kind === "span-open" ? r.spanId : JSON.stringify(r);
}

function keysOf(batches: number[], make = crashBatch): string[] {
  return batches.flatMap((b) => make(b).map(keyOf)).sort();
}

async function storedKeys(store: TraceStore): Promise<string[]> {
  return (await store.query({})).map(keyOf).sort();
}

/** Stats agree with what reads return: every readable record counted once, in one tier. */
async function expectExactCounts(store: TraceStore): Promise<void> {
  const s = await store.stats();
  expect(s.hotRecords + s.coldRecords).toBe((await store.query({})).length);
}

async function reopened(dir: string, store: TraceStore): Promise<TraceStore> {
  await store.close();
  return openStore({ dir });
}

const WAL = /\/wal\/\d+\.wal$/;

describe("a WAL write that fails", () => {
  it.each([
    ["ENOSPC", "ERR_DISK_FULL"],
    ["short", "ERR_DISK_FULL"],
    ["EIO", "ERR_IO"],
  ] as const)(
    "on %s rejects the insert with %s, and the same store takes writes once it clears",
    async (kind, code) => {
      const fs = installFaultFs();
      const { store, dir } = await tempStore();
      await store.insertRecords(crashBatch(0));
      fs.inject({ op: "write", path: WAL, kind });
      await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code });
      fs.clear();
      expect(await store.insertRecords(crashBatch(2))).toEqual({ inserted: 20, duplicates: 0 });
      expect(await storedKeys(store)).toEqual(keysOf([0, 2]));
      const again = await reopened(dir, store);
      expect(await storedKeys(again)).toEqual(keysOf([0, 2]));
      await again.close();
    },
  );

  it("leaves no byte of the failed frame in the segment (a later frame would sit behind it mid-log)", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    const seg = join(dir, "wal", readdirSync(join(dir, "wal"))[0]!);
    const before = statSync(seg).size;
    fs.inject({ op: "write", path: WAL, kind: "short" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(statSync(seg).size).toBe(before);
    fs.clear();
    await store.insertRecords(crashBatch(2));
    // A crash now (no close): replay must read both frames, with nothing between them.
    const copy = tempDir();
    const { cpSync } = await import("node:fs");
    cpSync(dir, copy, { recursive: true });
    await store.close();
    const fromCrash = await openStore({ dir: copy });
    expect(await storedKeys(fromCrash)).toEqual(keysOf([0, 2]));
    await fromCrash.close();
  });

  it("rejects every insert queued behind the failed group, and none of them is stored", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    fs.inject({ op: "write", path: WAL, kind: "ENOSPC" });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, b) => store.insertRecords(crashBatch(b))),
    );
    const acked = results.flatMap((r, b) => (r.status === "fulfilled" ? [b] : []));
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "ERR_DISK_FULL" });
    expect(acked.length).toBeLessThan(8);
    fs.clear();
    await store.insertRecords(crashBatch(9));
    const again = await reopened(dir, store);
    expect(await storedKeys(again)).toEqual(keysOf([...acked, 9]));
    await again.close();
  });
});

describe("a WAL roll-over that fails", () => {
  it("rejects with ERR_DISK_FULL, removes the half-made segment, and rolls over once space is back", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore({ walSegmentBytes: 4096 });
    await store.insertRecords(crashBatch(0)); // fills the first segment past its limit
    fs.inject({ op: ["write", "datasync"], path: /\/wal\/0+2\.wal$/, kind: "ENOSPC" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(readdirSync(join(dir, "wal"))).toHaveLength(1);
    fs.clear();
    await store.insertRecords(crashBatch(2));
    const again = await reopened(dir, store);
    expect(await storedKeys(again)).toEqual(keysOf([0, 2]));
    await again.close();
  });
});

describe("a WAL fsync that fails", () => {
  it("fails for good with ERR_WAL_FAILED: the file's state is unknown until reopened", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    fs.inject({ op: "datasync", path: WAL, kind: "EIO" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_WAL_FAILED" });
    fs.clear();
    await expect(store.insertRecords(crashBatch(2))).rejects.toMatchObject({ code: "ERR_WAL_FAILED" });
    const again = await reopened(dir, store);
    const keys = await storedKeys(again);
    // batch 1's frame was written: whether it survived is the disk's to say, batch 0 must have
    expect(keys).toEqual(expect.arrayContaining(keysOf([0])));
    expect(keys).not.toEqual(expect.arrayContaining(keysOf([2])));
    expect(await again.insertRecords(crashBatch(3))).toEqual({ inserted: 20, duplicates: 0 });
    await again.close();
  });

  it("fails for good when cutting a failed write back fails too", async () => {
    const fs = installFaultFs();
    const { store } = await tempStore();
    fs.inject({ op: "write", path: WAL, kind: "short" });
    fs.inject({ op: "truncate", path: WAL, kind: "EIO" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_WAL_FAILED" });
    fs.clear();
    await expect(store.insertRecords(crashBatch(2))).rejects.toMatchObject({ code: "ERR_WAL_FAILED" });
  });
});

describe("a hot-tier write that fails", () => {
  it("rejects with ERR_DISK_FULL; once space is back the store reopens its hot tier and takes writes", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    expect(await store.insertRecords(crashBatch(2))).toEqual({ inserted: 20, duplicates: 0 });
    // batch 1's frame reached the WAL before the hot tier failed: it is applied on recovery, once
    expect(await store.insertRecords(crashBatch(1))).toEqual({ inserted: 0, duplicates: 20 });
    expect(await storedKeys(store)).toEqual(keysOf([0, 1, 2]));
    await expectExactCounts(store);
    const again = await reopened(dir, store);
    expect(await storedKeys(again)).toEqual(keysOf([0, 1, 2]));
    await expectExactCounts(again);
    await again.close();
  });

  it("keeps refusing with ERR_DISK_FULL while the hot tier cannot be reopened", async () => {
    const fs = installFaultFs();
    const { store } = await tempStore();
    fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
    fs.inject({ op: "leveldb.open", kind: "ENOSPC", times: 2 });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await expect(store.insertRecords(crashBatch(2))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await expect(store.insertRecords(crashBatch(3))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    await store.insertRecords(crashBatch(4));
    expect(await storedKeys(store)).toEqual(keysOf([1, 4]));
    await expectExactCounts(store);
  });
});

describe("opening on a full disk", () => {
  it.each<[string, FaultRule]>([
    ["the hot tier", { op: "leveldb.open", kind: "ENOSPC" }],
    ["the first WAL segment", { op: "write", path: WAL, kind: "ENOSPC" }],
    ["the WAL directory", { op: "mkdir", path: /\/wal$/, kind: "ENOSPC" }],
  ])("fails with ERR_DISK_FULL when %s cannot be written, and opens once space is back", async (_, rule) => {
    const dir = tempDir();
    const first = await openStore({ dir });
    await first.insertRecords(crashBatch(0));
    await first.close();
    const fs = installFaultFs();
    fs.inject(rule);
    await expect(openStore({ dir })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    const again = await openStore({ dir });
    expect(await storedKeys(again)).toEqual(keysOf([0]));
    await again.close();
  });

  it("answers ERR_IO, not a bare LevelDB error, for any other failure to open the hot tier", async () => {
    const fs = installFaultFs();
    fs.inject({ op: "leveldb.open", kind: "EIO" });
    await expect(openStore({ dir: tempDir() })).rejects.toMatchObject({ code: "ERR_IO" });
  });
});

const NOW = Date.UTC(2026, 9, 20);

async function coldStore(batches: number): Promise<{ store: TraceStore; dir: string }> {
  const { store, dir } = await tempStore();
  for (let b = 0; b < batches; b++) await store.insertRecords(coldBatch(b));
  return { store, dir };
}

describe("compaction on a full disk", () => {
  it.each<[string, FaultRule]>([
    ["writing a Parquet file", { op: "write", path: /\/cold\/.*\.tmp/, kind: "ENOSPC" }],
    ["a short write of a Parquet file", { op: "write", path: /\/cold\/.*\.tmp/, kind: "short" }],
    ["fsyncing a Parquet file", { op: "sync", path: /\/cold\/.*\.tmp/, kind: "ENOSPC" }],
    ["the partition directory", { op: "mkdir", path: /\/cold\//, kind: "ENOSPC" }],
    ["writing the manifest", { op: "write", path: /MANIFEST/, kind: "ENOSPC" }],
    ["renaming the manifest", { op: "rename", path: /MANIFEST/, kind: "ENOSPC" }],
    ["flushing the hot tier's memtable", { op: "leveldb.compact", kind: "ENOSPC" }],
    ["moving the records out of the hot tier (step 3)", { op: "leveldb.write", kind: "ENOSPC" }],
  ])(
    "fails with ERR_DISK_FULL at %s, loses nothing, counts exactly, and compacts once space is back",
    async (_, rule) => {
      const fs = installFaultFs();
      const { store, dir } = await coldStore(6);
      const all = keysOf([0, 1, 2, 3, 4, 5], coldBatch);
      fs.inject(rule);
      await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
      expect(await storedKeys(store)).toEqual(all);
      await expectExactCounts(store);
      fs.clear();
      await store.insertRecords(coldBatch(6));
      await store.compact({ now: NOW });
      const s = await store.stats();
      expect(s).toMatchObject({ hotRecords: 0, coldRecords: 140 });
      expect(await storedKeys(store)).toEqual(keysOf([0, 1, 2, 3, 4, 5, 6], coldBatch));
      const again = await reopened(dir, store);
      expect(await storedKeys(again)).toEqual(keysOf([0, 1, 2, 3, 4, 5, 6], coldBatch));
      await expectExactCounts(again);
      await again.close();
    },
  );

  it("reopens the hot tier by itself at the next compaction after LevelDB failed to flush", async () => {
    const fs = installFaultFs();
    const { store } = await coldStore(3);
    fs.inject({ op: "leveldb.compact", kind: "ENOSPC" });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    await expect(store.compact({ now: NOW })).resolves.toMatchObject({ recordsMoved: 60 });
    expect(fs.calls.filter((c) => c.op === "leveldb.reopen")).toHaveLength(1);
    await expectExactCounts(store);
  });

  it("counts records once while step 3 has not landed (not in both tiers)", async () => {
    const fs = installFaultFs();
    const { store } = await coldStore(3);
    fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(await store.stats()).toMatchObject({ hotRecords: 60, coldRecords: 0 });
  });
});

describe("retention on a full disk", () => {
  it.each<[string, FaultRule]>([
    ["writing the manifest", { op: "write", path: /MANIFEST/, kind: "ENOSPC" }],
    ["deleting from the hot tier", { op: "leveldb.write", kind: "ENOSPC" }],
  ])("prune fails with ERR_DISK_FULL at %s, and prunes once space is back", async (_, rule) => {
    const fs = installFaultFs();
    const { store, dir } = await coldStore(10);
    await store.compact({ now: NOW });
    const policy = { maxAgeMs: 16 * 86_400_000 };
    fs.inject(rule);
    await expect(store.prune(policy, { now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await expectExactCounts(store);
    fs.clear();
    await store.prune(policy, { now: NOW });
    const kept = (await store.query({})).length;
    expect(kept).toBeLessThan(200);
    await expectExactCounts(store);
    const again = await reopened(dir, store);
    expect((await again.query({})).length).toBe(kept);
    await expectExactCounts(again);
    await again.close();
  });

  it("gc fails with ERR_DISK_FULL when the hot tier cannot flush, and collects once space is back", async () => {
    const fs = installFaultFs();
    const { store } = await coldStore(4);
    fs.inject({ op: "leveldb.compact", kind: "ENOSPC" });
    await expect(store.gc()).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    await store.insertRecords(crashBatch(51));
    await expect(store.gc()).resolves.toMatchObject({ bodiesDeleted: 0 });
    await expectExactCounts(store);
  });
});

describe("a frame over FRAME_MAX_PAYLOAD", () => {
  it("is refused with ERR_BATCH_TOO_LARGE before anything is stored, and the store goes on", async () => {
    const restore = setFramePayloadLimit(4096);
    try {
      const { store, dir } = await tempStore();
      const big = [{ ...crashBatch(0)[1]!, body: randomBytes(8_000).toString("base64") } as TraceRecord];
      await expect(store.insertRecords(big)).rejects.toMatchObject({ code: "ERR_BATCH_TOO_LARGE" });
      expect(await store.query({})).toEqual([]);
      await store.insertRecords([crashBatch(1)[0]!]);
      const again = await reopened(dir, store);
      expect(await storedKeys(again)).toEqual([keyOf(crashBatch(1)[0]!)]);
      await again.close();
    } finally {
      restore();
    }
  });
});

describe("faults at random points under concurrent inserts and compaction", () => {
  it("never loses an acknowledged record, counts exactly, and recovers after every fault", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<FaultRule["op"]>("write", "leveldb.write", "leveldb.compact", "sync", "rename"),
        fc.constantFrom<FaultRule["kind"]>("ENOSPC", "short"),
        fc.integer({ min: 1, max: 10 }),
        async (op, kind, nth) => {
          const fs = installFaultFs();
          const dir = tempDir();
          const store = await openStore({ dir, walSegmentBytes: 16_384 });
          for (let b = 0; b < 4; b++) await store.insertRecords(crashBatch(b));
          fs.inject({ op, kind, nth, times: 3 });
          const compaction = store.compact().catch((e: unknown) => e);
          const results = await Promise.allSettled(
            Array.from({ length: 8 }, (_, i) => store.insertRecords(crashBatch(4 + i))),
          );
          const compacted = await compaction;
          if (compacted instanceof Error) expect(compacted).toMatchObject({ code: "ERR_DISK_FULL" });
          for (const r of results) if (r.status === "rejected") expect(r.reason.code).toBe("ERR_DISK_FULL");
          const acked = [0, 1, 2, 3, ...results.flatMap((r, i) => (r.status === "fulfilled" ? [4 + i] : []))];
          await expectExactCounts(store);
          fs.clear();
          await store.insertRecords(crashBatch(40));
          await store.compact();
          const live = await storedKeys(store);
          expect(live).toEqual(expect.arrayContaining(keysOf([...acked, 40])));
          expect(new Set(live).size).toBe(live.length);
          await expectExactCounts(store);
          const again = await reopened(dir, store);
          expect(await storedKeys(again)).toEqual(live);
          await expectExactCounts(again);
          await again.close();
        },
      ),
      { numRuns: 10, seed: 7 },
    );
  });
});

describe("faults at random points under concurrent inserts", () => {
  it("never loses an acknowledged record, and the store takes writes after every fault", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<FaultRule["op"]>("write", "leveldb.write", ["write", "leveldb.write"]),
        fc.constantFrom<FaultRule["kind"]>("ENOSPC", "short", "EIO"),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        async (op, kind, nth, times) => {
          const fs = installFaultFs();
          const dir = tempDir();
          const store = await openStore({ dir, walSegmentBytes: 16_384 });
          fs.inject({ op, path: op === "write" ? WAL : /(?:)/, kind, nth, times });
          const results = await Promise.allSettled(
            Array.from({ length: 16 }, (_, b) => store.insertRecords(crashBatch(b))),
          );
          for (const r of results) {
            if (r.status === "rejected") expect(["ERR_DISK_FULL", "ERR_IO"]).toContain(r.reason.code);
          }
          const acked = results.flatMap((r, b) => (r.status === "fulfilled" ? [b] : []));
          fs.clear();
          await store.insertRecords(crashBatch(40));
          const live = await storedKeys(store);
          expect(live).toEqual(expect.arrayContaining(keysOf([...acked, 40])));
          await expectExactCounts(store);
          const again = await reopened(dir, store);
          expect(await storedKeys(again)).toEqual(live);
          await expectExactCounts(again);
          await again.close();
        },
      ),
      { numRuns: 12, seed: 10 },
    );
  });
});

describe("the collector's answer", () => {
  it("is 507 for a full disk and 503 for another I/O error, with the code", async () => {
    const fs = installFaultFs();
    const { store } = await tempStore();
    fs.inject({ op: "write", path: WAL, kind: "ENOSPC" });
    const full = await store.insertRecords(crashBatch(0)).catch((e: unknown) => e);
    expect(errorResponse(full)).toMatchObject({ status: 507, body: { error: { code: "ERR_DISK_FULL" } } });
    fs.clear();
    await store.insertRecords(crashBatch(1));
    fs.inject({ op: "write", path: WAL, kind: "EIO" });
    const io = await store.insertRecords(crashBatch(2)).catch((e: unknown) => e);
    expect(errorResponse(io)).toMatchObject({ status: 503, body: { error: { code: "ERR_IO" } } });
  });
});
