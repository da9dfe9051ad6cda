/**
 * Retention removes damaged cold files as it removes sound ones: dropping a file (a manifest commit
 * that leaves it out, then its unlink) never reads it, a file a failed prune left on disk is swept by
 * the next open, and removing an older version's dropped files at open never fails the open.
 */
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stableId, type TraceRecord } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { installFaultFs } from "./support/fault-fs.js";
import { log, multiDayTurns, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);
const DAY = 86_400_000;

interface ManifestJson {
  files: { name: string; date: string }[];
  dropped: { name: string }[];
}
const readManifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as ManifestJson;
const writeManifest = (dir: string, m: ManifestJson) =>
  writeFileSync(join(dir, "cold", "MANIFEST.json"), JSON.stringify(m));

const damages = {
  "8 bytes flipped in the middle": (path: string) => {
    const buf = readFileSync(path);
    const mid = buf.length >> 1;
    for (let i = mid; i < mid + 8; i++) buf[i] = buf[i]! ^ 0xff;
    writeFileSync(path, buf);
  },
  "every byte zeroed": (path: string) => writeFileSync(path, Buffer.alloc(statSync(path).size)),
  "cut to half its size": (path: string) => truncateSync(path, statSync(path).size >> 1),
};

/**
 * A closed store with every record compacted into date partitions, and the retention that drops the
 * oldest date: its records (`gone`), the others (`kept`), and the path of the oldest date's first file.
 */
async function storeToPrune() {
  const records = multiDayTurns(4, 3, 24).flat();
  const { store, dir } = await tempStore();
  await store.insertRecords(records);
  await store.compact({ now: FAR_FUTURE });
  await store.close();
  const first = readManifest(dir)
    .files.map((f) => f.date)
    .sort()[0]!;
  const dateOf = (r: TraceRecord) => new Date(r.timestamp).toISOString().slice(0, 10);
  const gone = records.filter((r) => dateOf(r) === first);
  const kept = records.filter((r) => dateOf(r) !== first);
  const now = Date.parse(`${first}T00:00:00Z`) + 2 * DAY;
  const file = readManifest(dir).files.find((f) => f.date === first)!.name;
  return { dir, gone, kept, now, date: first, policy: { maxAgeMs: DAY }, path: join(dir, "cold", file) };
}

/** The store at `dir` is whole: it opens, verify finds nothing, the dropped ids are new again. */
async function expectCleanAfterDrop(dir: string, gone: TraceRecord[], kept: TraceRecord[]): Promise<void> {
  expect(readManifest(dir).dropped).toEqual([]);
  expect((await verifyStore(dir)).problems).toEqual([]);
  const { store } = await tempStore({ dir });
  const ids = new Set((await store.query({ bodies: false })).map((r) => r.id));
  expect(ids).toEqual(new Set(kept.map(stableId)));
  expect(await store.insertRecords(gone)).toEqual({ inserted: gone.length, duplicates: 0 });
  await store.close();
}

describe("a damaged cold file that retention drops", () => {
  for (const [what, damage] of Object.entries(damages)) {
    it(`is removed by prune (${what}), and the store stays whole`, async () => {
      const s = await storeToPrune();
      damage(s.path);
      const { store } = await tempStore({ dir: s.dir });
      const result = await store.prune(s.policy, { now: s.now });
      expect(result.partitionsDropped).toBe(1);
      await store.close();
      expect(existsSync(s.path)).toBe(false);
      await expectCleanAfterDrop(s.dir, s.gone, s.kept);
    });
  }

  it("left on disk by a prune whose unlink failed is removed by the next open", async () => {
    const s = await storeToPrune();
    const fs = installFaultFs();
    const { store } = await tempStore({ dir: s.dir });
    fs.inject({ op: "unlink", path: /\.parquet$/, kind: "EIO" });
    await expect(store.prune(s.policy, { now: s.now })).rejects.toMatchObject({ code: "ERR_IO" });
    await store.close();
    fs.clear();
    expect(readManifest(s.dir).files.map((f) => f.date)).not.toContain(s.date);
    expect(existsSync(s.path)).toBe(true);
    damages["8 bytes flipped in the middle"](s.path);
    await (await tempStore({ dir: s.dir })).store.close();
    expect(existsSync(s.path)).toBe(false);
    await expectCleanAfterDrop(s.dir, s.gone, s.kept);
  });

  it("listed as dropped by an older version, whose removal fails at open, does not fail the open, and a later open removes it", async () => {
    const s = await storeToPrune();
    // An older version's unfinished drop (after the upgrade deleted its index entries): the files are
    // listed as dropped, and still on disk.
    const m = readManifest(s.dir);
    const dropped = m.files.filter((f) => f.date === s.date);
    writeManifest(s.dir, { ...m, files: m.files.filter((f) => f.date !== s.date), dropped });
    damages["8 bytes flipped in the middle"](s.path);
    const report = await verifyStore(s.dir);
    expect(report.problems).toEqual([]);
    expect(report.pending.map((p) => p.where).sort()).toEqual(dropped.map((f) => `cold/${f.name}`).sort());
    const fs = installFaultFs();
    fs.inject({
      op: "unlink",
      path: new RegExp(`/date=${s.date}/`),
      kind: "EIO",
      times: Number.POSITIVE_INFINITY,
    });
    const during = await tempStore({ dir: s.dir });
    expect((await during.store.query({ bodies: false })).length).toBe(s.kept.length);
    await during.store.close();
    expect(readManifest(s.dir).dropped.length).toBeGreaterThan(0);
    fs.clear();
    await (await tempStore({ dir: s.dir })).store.close();
    expect(existsSync(s.path)).toBe(false);
    await expectCleanAfterDrop(s.dir, s.gone, s.kept);
  });
});

describe("retention during a reopen of the hot tier", () => {
  it("finishes a prune while an insert reopens the hot tier under it", async () => {
    const s = await storeToPrune();
    const fs = installFaultFs();
    const { store } = await tempStore({ dir: s.dir });
    fs.inject({ op: "readFile", path: /\.parquet$/, kind: "EIO" });
    await expect(store.prune(s.policy, { now: s.now })).rejects.toMatchObject({ code: "ERR_IO" });
    // The failed prune dropped the partition, then failed reading the kept files' body references. The
    // next prune reads them again; meanwhile a failed write makes the next insert reopen the hot tier,
    // and the read returns once the database is closed for that reopen.
    let reopened: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      reopened = resolve;
    });
    const native = fs.native.bind(fs);
    let reopening = false;
    fs.native = (op, path) => {
      if (op === "leveldb.reopen") reopening = true;
      if (op === "leveldb.open" && reopening) reopened();
      native(op, path);
    };
    const readFile = fs.readFile.bind(fs);
    let inserts: Promise<unknown> = Promise.resolve();
    fs.readFile = async (path) => {
      const data = await readFile(path);
      if (!path.endsWith(".parquet") || reopening) return data;
      fs.inject({ op: "leveldb.write", kind: "ENOSPC" });
      await expect(store.insertRecords([log("refused", s.now)])).rejects.toMatchObject({
        code: "ERR_DISK_FULL",
      });
      fs.clear();
      inserts = store.insertRecords([log("reopens", s.now)]);
      await closed;
      return data;
    };
    await expect(store.prune(s.policy, { now: s.now })).resolves.toMatchObject({ partitionsDropped: 0 });
    expect(await inserts).toEqual({ inserted: 1, duplicates: 0 });
    expect(readManifest(s.dir).dropped).toEqual([]);
    expect(existsSync(s.path)).toBe(false);
    // Nothing of the dropped records is left: their ids are new again.
    expect(await store.insertRecords(s.gone)).toEqual({ inserted: s.gone.length, duplicates: 0 });
    await store.close();
    expect((await verifyStore(s.dir)).problems).toEqual([]); // the counters too: none built on stale ones
  });
});
