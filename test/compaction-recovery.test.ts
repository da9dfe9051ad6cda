/**
 * Recovery at open of a compaction whose step 3 (the hot-tier batch) did not land: the files of one
 * manifest generation land together, and a damaged pending file does not fail the open.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TraceStore } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { coldBatch } from "./support/crash-workload.js";
import { installFaultFs } from "./support/fault-fs.js";
import { tempStore } from "./support/fixtures.js";

const NOW = Date.UTC(2026, 9, 20);
/** coldBatch(b) for b < 5: one batch per UTC day, so one compaction commits five files in one generation. */
const BATCHES = 5;

const readManifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    generation: number;
    files: { name: string; generation: number }[];
  };

/** A closed store whose one compaction committed its files (step 2) and failed its hot-tier batch. */
async function unappliedCompaction(): Promise<{ dir: string; files: string[] }> {
  const fs = installFaultFs();
  const { store, dir } = await tempStore();
  for (let b = 0; b < BATCHES; b++) await store.insertRecords(coldBatch(b));
  fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
  await expect(store.compact({ now: NOW })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
  fs.clear();
  await store.close();
  const files = readManifest(dir).files.map((f) => f.name);
  expect(new Set(readManifest(dir).files.map((f) => f.generation)).size).toBe(1);
  expect(files).toHaveLength(BATCHES);
  return { dir, files };
}

async function turnIds(store: TraceStore, b: number): Promise<string[]> {
  return (await store.getTurn(`cold-turn-${b}`, { bodies: false })).map((r) => r.id).sort();
}

describe("recovery of a compaction's unapplied step 3", () => {
  it("lands every file of a generation or none: a failure after the first leaves nothing half applied", async () => {
    const { dir, files } = await unappliedCompaction();
    const fs = installFaultFs();
    // The open fails while recovery reads the generation's second file (as a crash there would stop it).
    fs.inject({ op: "readFile", path: new RegExp(`${files[1]!.replace(/[.]/g, "\\.")}$`), kind: "EIO" });
    await expect(tempStore({ dir })).rejects.toMatchObject({ code: "ERR_IO" });
    fs.clear();
    const { store } = await tempStore({ dir });
    expect(await store.stats()).toMatchObject({ hotRecords: 0, coldRecords: 20 * BATCHES });
    await store.close();
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("skips a damaged pending file: the open succeeds, its records stay hot, reads that need the file name it", async () => {
    const { dir, files } = await unappliedCompaction();
    const path = join(dir, "cold", files[0]!);
    const buf = readFileSync(path);
    buf[buf.length >> 1] = buf[buf.length >> 1]! ^ 0xff;
    writeFileSync(path, buf);
    const { store } = await tempStore({ dir });
    expect((await store.stats()).hotRecords).toBe(20); // the damaged file's; the others' step 3 landed
    for (let b = 1; b < BATCHES; b++) expect(await turnIds(store, b)).toHaveLength(20);
    // The file is listed, so its turns' reads consult it (its turn filter may hold them) and fail
    // coded, naming it, as for any damaged cold file.
    await expect(turnIds(store, 0)).rejects.toMatchObject({
      code: "ERR_CORRUPT_STORE",
      message: expect.stringContaining(files[0]!),
    });
    await store.close();
    const problems = (await verifyStore(dir)).problems;
    expect(problems).toEqual([expect.objectContaining({ where: `cold/${files[0]}`, repairable: false })]);
  });
});
