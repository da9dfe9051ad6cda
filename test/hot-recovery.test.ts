/**
 * Recovery of the hot tier after a failed write (src/write/path.ts `recover`): the tier is reopened, its
 * counters reloaded and every acknowledged WAL frame above them replayed from the segments on disk.
 * After an EIO the kernel may have dropped LevelDB's log pages, so the reopened tier can hold less than
 * it did before the failure; replaying from the WAL is what keeps those acknowledged records. A recovery
 * that fails at any step leaves the store refusing writes (coded) until one succeeds. The counters it
 * reloads are checked field by field (src/write/counters.ts).
 */

import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encode } from "../src/base/msgpack.js";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { metaKey } from "../tiers/hot/keys.js";
import { HotTier } from "../tiers/hot/tier.js";
import { inspectWal } from "../wal/reader.js";
import { crashBatch } from "./support/crash-workload.js";
import { installFaultFs, onReopen } from "./support/fault-fs.js";
import { tempDir, tempStore } from "./support/fixtures.js";

function keyOf(r: TraceRecord): string {
  return r.kind === "log" ? r.msg : r.kind === "span-open" ? r.spanId : JSON.stringify(r);
}

function keysOf(batches: number[]): string[] {
  return batches.flatMap((b) => crashBatch(b).map(keyOf)).sort();
}

async function storedKeys(store: TraceStore): Promise<string[]> {
  return (await store.query({})).map(keyOf).sort();
}

/** Stats agree with what reads return: every readable record counted once. */
async function expectExactCounts(store: TraceStore): Promise<void> {
  const s = await store.stats();
  expect(s.hotRecords + s.coldRecords).toBe((await store.query({})).length);
}

/** A copy of the store's LevelDB directory as it is now (no write in flight). */
function snapshotHot(dir: string): string {
  const copy = join(tempDir(), "hot");
  cpSync(join(dir, "hot"), copy, { recursive: true });
  return copy;
}

/** Puts `copy` in place of the store's LevelDB directory (while the database is closed). */
function rollBack(dir: string, copy: string): void {
  rmSync(join(dir, "hot"), { recursive: true, force: true });
  cpSync(copy, join(dir, "hot"), { recursive: true });
}

/** Writes `value` as the counters of the LevelDB directory `path` (closed). */
async function putCounters(path: string, value: unknown[]): Promise<void> {
  const hot = await HotTier.open(path, path);
  await hot.write([{ type: "put", key: metaKey("state"), value: encode(value) }], true);
  await hot.close();
}

const walSegments = (dir: string) => readdirSync(join(dir, "wal")).filter((n) => n.endsWith(".wal"));

describe("a hot tier that lost acknowledged batches in a failed write (dropped log pages)", () => {
  it("gets them back from the WAL: readable after the reopen, and after checkpoints, close and open", async () => {
    const fs = installFaultFs();
    // batches 0-5 (about 6 KB of WAL each) fit in the first segment: no checkpoint releases any of
    // them before the loss (a synced checkpoint would have made them durable in the hot tier)
    const { store, dir } = await tempStore({ walSegmentBytes: 40_000 });
    await store.insertRecords(crashBatch(0));
    const before = snapshotHot(dir);
    for (const b of [1, 2, 3]) await store.insertRecords(crashBatch(b)); // acknowledged, applied
    fs.inject({ op: "leveldb.write", kind: "EIO" });
    await expect(store.insertRecords(crashBatch(4))).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    // the kernel dropped the log pages of batches 1-3: the reopened database holds batch 0 only
    onReopen(fs, () => rollBack(dir, before));
    await store.insertRecords(crashBatch(5));
    expect(fs.calls.filter((c) => c.op === "leveldb.reopen")).toHaveLength(1);
    // batch 4 reached the WAL before its apply failed: replayed with the rest
    expect(await storedKeys(store)).toEqual(keysOf([0, 1, 2, 3, 4, 5]));
    await expectExactCounts(store);

    const segments = walSegments(dir);
    expect(segments).toHaveLength(1);
    for (let b = 6; b < 16; b++) await store.insertRecords(crashBatch(b)); // rolls over and checkpoints
    expect(walSegments(dir).filter((n) => segments.includes(n)).length).toBeLessThan(segments.length);
    const all = Array.from({ length: 16 }, (_, b) => b);
    expect(await storedKeys(store)).toEqual(keysOf(all));
    await store.close();
    const again = await openStore({ dir });
    expect(await storedKeys(again)).toEqual(keysOf(all));
    await expectExactCounts(again);
    await again.close();
  });

  it("gets them back when the next compaction reopens the tier, with inserts arriving meanwhile: each record once", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    const before = snapshotHot(dir);
    for (const b of [1, 2]) await store.insertRecords(crashBatch(b));
    fs.inject({ op: "leveldb.compact", kind: "EIO" }); // LevelDB's flush fails and keeps the failure
    await expect(store.compact()).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    onReopen(fs, () => rollBack(dir, before));
    // the next compaction reopens the tier in apply order; these inserts wait for it (ready)
    const compaction = store.compact();
    const inserts = Array.from({ length: 8 }, (_, i) => store.insertRecords(crashBatch(3 + i)));
    await compaction;
    for (const r of await Promise.all(inserts)) expect(r).toEqual({ inserted: 20, duplicates: 0 });
    expect(fs.calls.filter((c) => c.op === "leveldb.reopen")).toHaveLength(1);
    const all = Array.from({ length: 11 }, (_, b) => b);
    expect(await storedKeys(store)).toEqual(keysOf(all));
    await expectExactCounts(store);
    await store.close();
    const again = await openStore({ dir });
    expect(await storedKeys(again)).toEqual(keysOf(all));
    await expectExactCounts(again);
    await again.close();
  });

  it("refuses, with ERR_CORRUPT_WAL, to go on without a lost batch whose frame is damaged", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    const before = snapshotHot(dir);
    await store.insertRecords(crashBatch(1)); // acknowledged, then lost with the log pages
    fs.inject({ op: "leveldb.write", kind: "EIO" });
    await expect(store.insertRecords(crashBatch(2))).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    const [segment] = await inspectWal(join(dir, "wal"));
    const frame = segment!.frames[1]!; // batch 1's
    const file = join(dir, "wal", segment!.file);
    const bytes = readFileSync(file);
    bytes[frame.offset + 16] = bytes[frame.offset + 16]! ^ 0xff;
    writeFileSync(file, bytes);
    onReopen(fs, () => rollBack(dir, before));
    for (const b of [3, 4]) {
      await expect(store.insertRecords(crashBatch(b))).rejects.toMatchObject({ code: "ERR_CORRUPT_WAL" });
    }
    expect(await storedKeys(store)).toEqual(keysOf([0]));
  });
});

describe("a recovery that fails after the hot tier was reopened", () => {
  it("keeps refusing writes, coded, when the reloaded counters are damaged", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    const damaged = snapshotHot(dir);
    await putCounters(damaged, [1, "x", 0, 0, 0, 0]);
    fs.inject({ op: "leveldb.write", kind: "EIO" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    onReopen(fs, () => rollBack(dir, damaged));
    const mark = fs.calls.length;
    for (const b of [2, 3]) {
      await expect(store.insertRecords(crashBatch(b))).rejects.toMatchObject({ code: "ERR_CORRUPT_STORE" });
    }
    const since = fs.calls.slice(mark);
    expect(since.filter((c) => c.op === "leveldb.reopen")).toHaveLength(1);
    // nothing was applied over the damaged counters, and nothing reached the WAL
    expect(since.filter((c) => c.op === "leveldb.write" || c.op === "write")).toEqual([]);
    expect(await storedKeys(store)).toEqual(keysOf([0]));
  });

  it("keeps refusing writes while the WAL cannot be read back, then replays it and goes on", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    fs.inject({ op: "leveldb.write", kind: "EIO" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    fs.inject({ op: "readFile", path: /\/wal\/\d+\.wal$/, kind: "EIO", times: 2 });
    for (const b of [2, 3]) {
      await expect(store.insertRecords(crashBatch(b))).rejects.toMatchObject({ code: "ERR_IO" });
    }
    expect(await store.insertRecords(crashBatch(4))).toEqual({ inserted: 20, duplicates: 0 });
    expect(await storedKeys(store)).toEqual(keysOf([0, 1, 4]));
    await expectExactCounts(store);
    await store.close();
    const again = await openStore({ dir });
    expect(await storedKeys(again)).toEqual(keysOf([0, 1, 4]));
    await expectExactCounts(again);
    await again.close();
  });
});

describe("the free-space check before a reopen", () => {
  it("fails coded, naming the hot tier, when the hot tier's directory cannot be listed", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
    await expect(store.insertRecords(crashBatch(1))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    fs.inject({ op: "readdir", path: /\/hot$/, kind: "EIO" });
    const err = await store.insertRecords(crashBatch(2)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_IO", message: expect.stringContaining(join(dir, "hot")) });
    await store.insertRecords(crashBatch(3));
    expect(await storedKeys(store)).toEqual(keysOf([1, 3]));
  });
});

describe("counters read from the hot tier", () => {
  it.each([
    ["a string", [1, "x", 0, 0, 0, 0], /appliedSeq is "x"/],
    ["NaN", [1, Number.NaN, 0, 0, 0, 0], /appliedSeq is NaN/],
    ["a negative count", [1, 5, -1, 0, 0, 0], /hotRecords is -1/],
    ["a fraction", [1, 5, 2, 1.5, 0, 0], /bodies is 1.5/],
    ["null", [1, 5, 2, 0, 0, null], /bodyBytesStored is null/],
    ["a missing field", [1, 5, 2, 0, 0], /4 fields, not 5/],
    ["an unsafe integer", [1, 2 ** 60, 0, 0, 0, 0], /appliedSeq is/],
  ])("holding %s are refused at open with ERR_CORRUPT_STORE naming the field", async (_, value, field) => {
    const { store, dir } = await tempStore();
    await store.insertRecords(crashBatch(0));
    await store.close();
    await putCounters(join(dir, "hot"), value);
    const err = await openStore({ dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_CORRUPT_STORE", message: expect.stringMatching(/m·state/) });
    expect((err as Error).message).toMatch(field);
  });
});
