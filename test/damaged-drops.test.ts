/**
 * Retention removes damaged cold files as it removes sound ones: the clean-up of a dropped file (its
 * records' id and turn → file entries, then the file) never depends on the file being sound, and a
 * clean-up at open never fails the open.
 */
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stableId, type TraceRecord } from "../src/index.js";
import { verifyStore } from "../src/verify.js";
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
  return { dir, gone, kept, now, policy: { maxAgeMs: DAY }, path: join(dir, "cold", file) };
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
    it(`is removed by prune with its index entries (${what}), and the store stays whole`, async () => {
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

  it("left half cleaned up by a failed prune is finished by the next open", async () => {
    const s = await storeToPrune();
    const fs = installFaultFs();
    const { store } = await tempStore({ dir: s.dir });
    fs.inject({ op: "readFile", path: /\.parquet$/, kind: "EIO" });
    await expect(store.prune(s.policy, { now: s.now })).rejects.toMatchObject({ code: "ERR_IO" });
    await store.close();
    fs.clear();
    expect(readManifest(s.dir).dropped.length).toBeGreaterThan(0);
    damages["8 bytes flipped in the middle"](s.path);
    await (await tempStore({ dir: s.dir })).store.close();
    expect(existsSync(s.path)).toBe(false);
    await expectCleanAfterDrop(s.dir, s.gone, s.kept);
  });

  it("whose clean-up fails at open does not fail the open, and a later open finishes it", async () => {
    const s = await storeToPrune();
    const fs = installFaultFs();
    const first = await tempStore({ dir: s.dir });
    const dropped = new RegExp(`/${s.path.split("/").at(-2)}/`); // the dropped partition's files only
    fs.inject({ op: "readFile", path: dropped, kind: "EIO", times: Number.POSITIVE_INFINITY });
    await expect(first.store.prune(s.policy, { now: s.now })).rejects.toMatchObject({ code: "ERR_IO" });
    await first.store.close();
    const during = await tempStore({ dir: s.dir });
    expect((await during.store.query({ bodies: false })).length).toBe(s.kept.length);
    await during.store.close();
    expect(readManifest(s.dir).dropped.length).toBeGreaterThan(0);
    fs.clear();
    await (await tempStore({ dir: s.dir })).store.close();
    await expectCleanAfterDrop(s.dir, s.gone, s.kept);
  });
});

describe("retention during a reopen of the hot tier", () => {
  it("finishes a left-over drop while an insert reopens the hot tier under it", async () => {
    const s = await storeToPrune();
    const fs = installFaultFs();
    const { store } = await tempStore({ dir: s.dir });
    fs.inject({ op: "readFile", path: /\.parquet$/, kind: "EIO" });
    await expect(store.prune(s.policy, { now: s.now })).rejects.toMatchObject({ code: "ERR_IO" });
    // The next prune reads the dropped file; meanwhile a failed write makes the next insert reopen the
    // hot tier, and the read returns once the database is closed for that reopen.
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
    // The dropped records' id entries are gone: their ids are new again.
    expect(await store.insertRecords(s.gone)).toEqual({ inserted: s.gone.length, duplicates: 0 });
    await store.close();
    expect((await verifyStore(s.dir)).problems).toEqual([]); // the counters too: none built on stale ones
  });
});
