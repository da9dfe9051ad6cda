/**
 * `verify` on a store exactly as a kill left it (before any reopen): what recovery at the next open
 * finishes is pending, not a problem; after an open and a close nothing is pending; a finding of the
 * same shape that no recovery finishes stays a problem. Crash states are made deterministically: a
 * maintenance step's LevelDB write (or a dropped file's unlink) fails as if the process had died
 * there, and a WAL written but not applied is a copy of a store's WAL taken before its close.
 */
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type TraceStore } from "../src/index.js";
import { COLD_GEN_KEY } from "../src/maintenance/compaction.js";
import { type VerifyReport, verifyStore } from "../src/maintenance/verify.js";
import { P_RECORD } from "../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../tiers/hot/tier.js";
import { installFaultFs } from "./support/fault-fs.js";
import { log, tempDir } from "./support/fixtures.js";

const HOUR = Date.UTC(2026, 9, 1, 10);
const DAY = 86_400_000;
const TURNS = ["a", "b", "c"];

/** Makes the hot tier's writes that `kills` picks fail, as a kill at that write would. */
function killAtWrites(store: TraceStore, kills: (ops: BatchOp[]) => boolean): () => void {
  const hot = (store as unknown as { hot: HotTier }).hot;
  const write = hot.write.bind(hot);
  hot.write = async (ops, sync) => {
    if (kills(ops)) throw new Error("killed");
    return write(ops, sync);
  };
  return () => {
    hot.write = write;
  };
}

const recordsApplied = (ops: BatchOp[]) => ops.some((o) => o.key[0] === P_RECORD);
const generationApplied = (ops: BatchOp[]) =>
  ops.some((o) => o.type === "put" && Buffer.from(o.key).equals(COLD_GEN_KEY));

/** Three records of one hour compacted: killed at step 3 (the records' move out of the hot tier). */
async function interruptedCompaction(): Promise<string> {
  const dir = tempDir();
  const store = await openStore({ dir });
  await store.insertRecords(TURNS.map((t, i) => log(`x ${i}`, HOUR + i, { turnId: t })));
  const restore = killAtWrites(store, (ops) => generationApplied(ops) && recordsApplied(ops));
  await expect(store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 })).rejects.toThrow("killed");
  restore();
  await store.close();
  return dir;
}

/** Four small files of one hour, then a fifth whose compaction merges all five: killed before the merge records its generation. */
async function interruptedMerge(): Promise<string> {
  const dir = tempDir();
  const store = await openStore({ dir });
  for (let k = 0; k < 4; k++) {
    await store.insertRecords(TURNS.map((t, i) => log(`m ${k} ${i}`, HOUR + k * 10 + i, { turnId: t })));
    await store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 });
  }
  const restore = killAtWrites(store, (ops) => generationApplied(ops) && !recordsApplied(ops));
  await store.insertRecords(TURNS.map((t, i) => log(`m 4 ${i}`, HOUR + 40 + i, { turnId: t })));
  await expect(store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 })).rejects.toThrow("killed");
  restore();
  await store.close();
  return dir;
}

/** Two days compacted; a prune of the older day killed after its manifest commit, before its files are unlinked. */
async function interruptedDrop(): Promise<{ dir: string; dropped: string[] }> {
  const dir = tempDir();
  const store = await openStore({ dir });
  await store.insertRecords(TURNS.map((t, i) => log(`old ${i}`, HOUR + i, { turnId: `old-${t}` })));
  await store.insertRecords(TURNS.map((t, i) => log(`new ${i}`, HOUR + DAY + i, { turnId: t })));
  await store.compact({ now: HOUR + 3 * DAY, olderThanMs: 0 });
  const before = readdirSync(join(dir, "cold"), { recursive: true }).map(String);
  const fs = installFaultFs();
  fs.inject({ op: "unlink", path: /\.parquet$/, kind: "EIO", times: Number.POSITIVE_INFINITY });
  await expect(store.prune({ maxAgeMs: DAY }, { now: HOUR + 2 * DAY + 3_600_000 })).rejects.toThrow();
  fs.clear();
  await store.close();
  const listed = new Set(
    (
      JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as { files: { name: string }[] }
    ).files.map((f) => f.name),
  );
  return { dir, dropped: before.filter((n) => n.endsWith(".parquet") && !listed.has(n)) };
}

/** A store whose WAL holds two batches its hot tier never applied (the WAL written, the kill before the apply). */
async function unappliedWal(): Promise<string> {
  const dir = tempDir();
  const copy = tempDir();
  const first = await openStore({ dir });
  await first.insertRecords([log("applied", HOUR)]);
  await first.close();
  cpSync(dir, copy, { recursive: true });
  const second = await openStore({ dir });
  await second.insertRecords([log("in the WAL 1", HOUR + 1)]);
  await second.insertRecords([log("in the WAL 2", HOUR + 2)]);
  for (const f of readdirSync(join(dir, "wal"))) cpSync(join(dir, "wal", f), join(copy, "wal", f));
  await second.close();
  return copy;
}

async function openAndClose(dir: string): Promise<void> {
  const store = await openStore({ dir });
  await store.close();
}

const whatOf = (report: VerifyReport) => report.pending.map((p) => `${p.where}: ${p.what}`).join("\n");

describe("verify on a store as a kill left it", () => {
  it("calls records a killed compaction left in both tiers pending, and nothing is pending after an open", async () => {
    const dir = await interruptedCompaction();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    expect(whatOf(report)).toMatch(
      /^cold\/date=2026-10-01\/.*\.parquet: 3 of its records are still in the hot tier too \(compaction's step 3 did not land\); the next open deletes them from the hot tier$/,
    );
    await openAndClose(dir);
    expect(await verifyStore(dir)).toMatchObject({ problems: [], pending: [] });
  });

  it("calls the files a killed merge replaced pending, not problems, and nothing is pending after an open", async () => {
    const dir = await interruptedMerge();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    // the five files it replaced, unlisted but not yet unlinked, and their search sidecars
    expect(report.pending).toHaveLength(10);
    for (const p of report.pending)
      expect(`${p.where}: ${p.what}`).toMatch(
        /^cold\/.*\.(parquet|idx): a file no manifest lists .*removed at the next open$/,
      );
    await openAndClose(dir);
    const after = await verifyStore(dir);
    expect(after).toMatchObject({ problems: [], pending: [] });
  });

  it("calls the files of a killed drop pending, and nothing is pending after an open", async () => {
    const { dir, dropped } = await interruptedDrop();
    expect(dropped.length).toBeGreaterThan(0);
    for (const n of dropped) expect(existsSync(join(dir, "cold", n))).toBe(true);
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    const sidecars = dropped.map((n) => n.replace(/\.parquet$/, ".idx"));
    expect(report.pending.map((p) => p.where).sort()).toEqual(
      [...dropped, ...sidecars].map((n) => `cold/${n}`).sort(),
    );
    await openAndClose(dir);
    for (const n of dropped) expect(existsSync(join(dir, "cold", n))).toBe(false);
    expect(await verifyStore(dir)).toMatchObject({ problems: [], pending: [] });
  });

  it("calls WAL frames the hot tier has not applied pending, and the open replays them", async () => {
    const dir = await unappliedWal();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    expect(whatOf(report)).toMatch(/wal\/\d+\.wal: 2 frame\(s\) holding 2 record\(s\) not yet applied/);
    const store = await openStore({ dir });
    expect((await store.query({})).map((r) => r.body)).toHaveLength(3);
    await store.close();
    expect(await verifyStore(dir)).toMatchObject({ problems: [], pending: [] });
  });

  it("lets --repair finish pending items by running the store's recovery", async () => {
    const dir = await interruptedCompaction();
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired).toMatchObject({ problems: [], pending: [] });
    expect(repaired.notes[0]).toMatch(/its recovery finished 1 pending item/);
    const store = await openStore({ dir });
    for (const t of TURNS) expect(await store.getTurn(t)).toHaveLength(1);
    expect(await store.stats()).toMatchObject({ hotRecords: 0, coldRecords: 3 });
    await store.close();
  });
});

describe("verify keeps problems that no recovery finishes", () => {
  it("calls an unlisted file a problem when a damaged WAL stops the open before the sweep", async () => {
    const dir = await unappliedWal();
    const wal = join(dir, "wal");
    const seg = join(wal, readdirSync(wal).sort().at(-1)!);
    const buf = readFileSync(seg);
    buf[40] = buf[40]! ^ 0xff; // inside the first frame, with a valid frame after it
    writeFileSync(seg, buf);
    writeFileSync(join(dir, "cold", ".g9-0.parquet.tmp"), "half a file");
    const report = await verifyStore(dir);
    expect(report.pending).toEqual([]);
    expect(report.problems.map((p) => p.where)).toEqual([
      expect.stringMatching(/^wal\/\d+\.wal at offset 16$/),
      "cold/.g9-0.parquet.tmp",
    ]);
  });
});
