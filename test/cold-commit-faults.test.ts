/**
 * A compaction that fails around its commit point leaves the cold tier as the disk says: the manifest
 * in memory follows a rename that landed, and files no manifest lists do not stay behind.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceRecord, TraceStore } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { coldBatch } from "./support/crash-workload.js";
import { type FaultFs, installFaultFs } from "./support/fault-fs.js";
import { tempStore } from "./support/fixtures.js";

const NOW = Date.UTC(2026, 9, 20);

function keyOf(r: TraceRecord): string {
  return r.kind === "log" ? r.msg : r.kind === "span-open" ? r.spanId : JSON.stringify(r);
}
const keysOf = (batches: number[]) => batches.flatMap((b) => coldBatch(b).map(keyOf)).sort();
const storedKeys = async (store: TraceStore) => (await store.query({})).map(keyOf).sort();

/** The .parquet files under cold/, relative to it. */
function parquetFiles(dir: string): string[] {
  const cold = join(dir, "cold");
  return readdirSync(cold, { recursive: true, encoding: "utf8" })
    .filter((n) => n.endsWith(".parquet"))
    .sort();
}

const listed = (dir: string) =>
  (
    JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as { files: { name: string }[] }
  ).files
    .map((f) => f.name)
    .sort();

/** Fails the fsync of the cold directory that follows the next rename of the manifest into place. */
function failDirSyncAfterManifestRename(fs: FaultFs): void {
  const rename = fs.rename.bind(fs);
  fs.rename = async (from, to) => {
    await rename(from, to);
    if (to.endsWith("MANIFEST.json")) {
      fs.inject({ op: "sync", path: /\/cold$/, kind: "EIO" });
      fs.rename = rename;
    }
  };
}

describe("a manifest commit whose directory fsync fails after the rename", () => {
  it("is adopted: the next compaction writes new file names, and a crash before its commit loses nothing", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    for (let b = 0; b < 5; b++) await store.insertRecords(coldBatch(b));
    failDirSyncAfterManifestRename(fs);
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_IO" });
    const committed = listed(dir);
    expect(committed).toHaveLength(5);
    // Counted once while the move's hot-tier step has not landed.
    expect(await store.stats()).toMatchObject({ hotRecords: 100, coldRecords: 0 });
    for (let b = 5; b < 10; b++) await store.insertRecords(coldBatch(b));
    // The next compaction writes its files, then fails to commit them (as a crash there would).
    fs.inject({ op: "write", path: /MANIFEST/, kind: "ENOSPC", times: Number.POSITIVE_INFINITY });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    fs.clear();
    await store.close();
    expect(listed(dir)).toEqual(committed);
    expect((await verifyStore(dir)).problems).toEqual([]);
    const { store: again } = await tempStore({ dir });
    expect(await storedKeys(again)).toEqual(keysOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await again.compact({ now: NOW });
    expect(await again.stats()).toMatchObject({ hotRecords: 0, coldRecords: 200 });
    expect(await storedKeys(again)).toEqual(keysOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });
});

describe("a compaction that fails before its commit", () => {
  it("deletes the files it wrote under their final names", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    for (let b = 0; b < 5; b++) await store.insertRecords(coldBatch(b));
    fs.inject({ op: "write", path: /MANIFEST/, kind: "ENOSPC" });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(parquetFiles(dir)).toEqual([]);
    await store.close();
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("deletes a file renamed into place whose directory fsync failed", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    for (let b = 0; b < 5; b++) await store.insertRecords(coldBatch(b));
    fs.inject({ op: "sync", path: /\/date=[^/]+$/, kind: "EIO" });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_IO" });
    expect(parquetFiles(dir)).toEqual([]);
    expect(await storedKeys(store)).toEqual(keysOf([0, 1, 2, 3, 4]));
  });

  it("keeps the files earlier compactions committed", async () => {
    const fs = installFaultFs();
    const { store, dir } = await tempStore();
    for (let b = 0; b < 5; b++) await store.insertRecords(coldBatch(b));
    await store.compact({ now: NOW });
    for (let b = 5; b < 10; b++) await store.insertRecords(coldBatch(b));
    fs.inject({ op: "write", path: /MANIFEST/, kind: "ENOSPC" });
    await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    expect(parquetFiles(dir)).toEqual(listed(dir));
    expect(await storedKeys(store)).toEqual(keysOf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });
});
