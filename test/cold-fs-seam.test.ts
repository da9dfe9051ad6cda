/** The cold tier's and retention's file operations go through the fs seam: their failures come out coded. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../src/index.js";
import { readParquetColumns } from "../tiers/cold/parquet.js";
import { coldBatch } from "./support/crash-workload.js";
import { installFaultFs } from "./support/fault-fs.js";
import { tempDir, tempStore } from "./support/fixtures.js";

const NOW = Date.UTC(2026, 9, 20);

/** A closed store with five batches compacted into five date partitions. */
async function coldStore(): Promise<string> {
  const { store, dir } = await tempStore();
  for (let b = 0; b < 5; b++) await store.insertRecords(coldBatch(b));
  await store.compact({ now: NOW });
  await store.close();
  return dir;
}

describe("cold-tier I/O errors", () => {
  it("reading the manifest fails the open with ERR_IO naming it", async () => {
    const dir = await coldStore();
    installFaultFs().inject({ op: "readFile", path: /MANIFEST\.json$/, kind: "EIO" });
    await expect(openStore({ dir })).rejects.toMatchObject({
      code: "ERR_IO",
      message: expect.stringContaining("MANIFEST.json"),
    });
  });

  it("removing a stray file at open fails it with ERR_IO, not a bare errno", async () => {
    const dir = await coldStore();
    mkdirSync(join(dir, "cold", "date=2026-10-09"), { recursive: true });
    writeFileSync(join(dir, "cold", "date=2026-10-09", "stray.parquet"), "x");
    installFaultFs().inject({ op: "unlink", path: /stray\.parquet$/, kind: "EIO" });
    await expect(openStore({ dir })).rejects.toMatchObject({ code: "ERR_IO" });
  });

  it("reading a cold file for its checksum fails a read with ERR_IO naming the file", async () => {
    const dir = await coldStore();
    const { store } = await tempStore({ dir });
    installFaultFs().inject({ op: "readFile", path: /\.parquet$/, kind: "EIO" });
    await expect(store.getTurn("cold-turn-0")).rejects.toMatchObject({
      code: "ERR_IO",
      message: expect.stringMatching(/\.parquet/),
    });
    expect(await store.getTurn("cold-turn-0")).toHaveLength(20); // the failure was not kept
  });

  it("deleting a dropped file fails prune with ERR_IO, and the next prune finishes the drop", async () => {
    const dir = await coldStore();
    const { store } = await tempStore({ dir });
    const fs = installFaultFs();
    fs.inject({ op: "unlink", path: /\.parquet$/, kind: "EIO" });
    const policy = { maxAgeMs: 16 * 86_400_000 };
    await expect(store.prune(policy, { now: NOW })).rejects.toMatchObject({ code: "ERR_IO" });
    await expect(store.prune(policy, { now: NOW })).resolves.toMatchObject({ partitionsDropped: 0 });
    expect(await store.getTurn("cold-turn-0")).toEqual([]);
  });

  it("readParquetColumns codes a failure other than the file being gone", async () => {
    const dir = tempDir();
    await expect(readParquetColumns(dir, ["id"])).rejects.toMatchObject({ code: "ERR_IO" });
    expect(await readParquetColumns(join(dir, "gone.parquet"), ["id"])).toBeUndefined();
  });
});
