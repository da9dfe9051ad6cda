/**
 * `verify` on a store exactly as a kill left it (before any reopen): what recovery at the next open
 * finishes is pending, not a problem; after an open and a close nothing is pending; a finding of the
 * same shape that no recovery finishes stays a problem. Crash states are made deterministically: a
 * maintenance step's LevelDB write fails as if the process had died there, and a WAL written but not
 * applied is a copy of a store's WAL taken before its close.
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { describe, expect, it } from "vitest";
import { openStore, type TraceStore } from "../src/index.js";
import { type VerifyReport, verifyStore } from "../src/verify.js";
import { P_TURN_FILE, turnFileKey } from "../tiers/hot/keys.js";
import type { HotTier } from "../tiers/hot/tier.js";
import { log, tempDir } from "./support/fixtures.js";

const HOUR = Date.UTC(2026, 9, 1, 10);
const DAY = 86_400_000;
const TURNS = ["a", "b", "c"];

/** Makes the hot tier's writes that delete a turn → file entry fail, as a kill at that write would. */
function killAtTurnFileDeletes(store: TraceStore): () => void {
  const hot = (store as unknown as { hot: HotTier }).hot;
  const write = hot.write.bind(hot);
  hot.write = async (ops, sync) => {
    if (ops.some((o) => o.type === "del" && o.key[0] === P_TURN_FILE)) throw new Error("killed");
    return write(ops, sync);
  };
  return () => {
    hot.write = write;
  };
}

/** Four small files of one hour, then a fifth whose compaction merges all five: killed before its index update. */
async function interruptedMerge(): Promise<string> {
  const dir = tempDir();
  const store = await openStore({ dir });
  for (let k = 0; k < 4; k++) {
    await store.insertRecords(TURNS.map((t, i) => log(`m ${k} ${i}`, HOUR + k * 10 + i, { turnId: t })));
    await store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 });
  }
  const restore = killAtTurnFileDeletes(store);
  await store.insertRecords(TURNS.map((t, i) => log(`m 4 ${i}`, HOUR + 40 + i, { turnId: t })));
  await expect(store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 })).rejects.toThrow();
  restore();
  await store.close();
  return dir;
}

/** Two days compacted; a prune of the older day killed before its index entries are deleted. */
async function interruptedDrop(): Promise<string> {
  const dir = tempDir();
  const store = await openStore({ dir });
  await store.insertRecords(TURNS.map((t, i) => log(`old ${i}`, HOUR + i, { turnId: `old-${t}` })));
  await store.insertRecords(TURNS.map((t, i) => log(`new ${i}`, HOUR + DAY + i, { turnId: t })));
  await store.compact({ now: HOUR + 3 * DAY, olderThanMs: 0 });
  const restore = killAtTurnFileDeletes(store);
  await expect(store.prune({ maxAgeMs: DAY }, { now: HOUR + 2 * DAY + 3_600_000 })).rejects.toThrow();
  restore();
  await store.close();
  return dir;
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
  it("calls an interrupted merge's leftovers pending, not problems, and nothing is pending after an open", async () => {
    const dir = await interruptedMerge();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    const pending = whatOf(report);
    expect(pending).toMatch(/hot turn → file entries for cold\/.*: 3 name a file .*\(a merge replaced it\)/);
    expect(pending).toContain("hot i-index entries: 15 name cold records of a turn whose turn → file entry");
    expect(pending).toMatch(/cold\/.*\.parquet: a file no manifest lists .*removed at the next open/);
    await openAndClose(dir);
    const after = await verifyStore(dir);
    expect(after).toMatchObject({ problems: [], pending: [] });
  });

  it("calls an interrupted drop's index entries pending, and nothing is pending after an open", async () => {
    const dir = await interruptedDrop();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    const pending = whatOf(report);
    expect(pending).toMatch(/hot turn → file entries for cold\/.*: \d+ name a file retention dropped/);
    expect(pending).toMatch(/hot i-index entries: 3 name records of a file retention dropped/);
    await openAndClose(dir);
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
    const dir = await interruptedMerge();
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired).toMatchObject({ problems: [], pending: [] });
    expect(repaired.notes[0]).toMatch(/its recovery finished \d+ pending item/);
    const store = await openStore({ dir });
    for (const t of TURNS) expect(await store.getTurn(t)).toHaveLength(5);
    await store.close();
  });
});

describe("verify keeps problems that no recovery finishes", () => {
  it("calls a turn → file entry naming an unlisted file a problem when the applied generation is the manifest's", async () => {
    const dir = tempDir();
    const store = await openStore({ dir });
    await store.insertRecords(TURNS.map((t, i) => log(`x ${i}`, HOUR + i, { turnId: t })));
    await store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 });
    await store.close();
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    await db.put(turnFileKey("a", "date=2026-10-01/g99-0.parquet"), Buffer.alloc(0));
    await db.close();
    const report = await verifyStore(dir);
    expect(report.pending).toEqual([]);
    expect(report.problems).toEqual([
      {
        where: "hot turn → file entry for date=2026-10-01/g99-0.parquet",
        what: "names a file the manifest does not list",
        repairable: true,
      },
    ]);
  });

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
