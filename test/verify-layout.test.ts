/**
 * `verify` on the layout where the cold tier owns its lookup filters: each file's filters are checked
 * against its rows (a wrong one is repaired by rewriting the file); the hot tier holds entries of hot
 * records only (a turn → file entry, or an id entry whose record is not hot, is a problem repair
 * deletes); a store an older version wrote (layout 1, files without filters) is pending, not damaged.
 */
import { randomBytes } from "node:crypto";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { type VerifyReport, verifyStore } from "../src/maintenance/verify.js";
import { checksumOf } from "../tiers/cold/checksum.js";
import { BloomFilter, ID_BITS_PER_KEY, idHash, TURN_BITS_PER_KEY, textHash } from "../tiers/cold/filter.js";
import { readParquetInfo } from "../tiers/cold/parquet.js";
import { idKey, recordKey, turnFileKey } from "../tiers/hot/keys.js";
import { log, tempDir } from "./support/fixtures.js";
import { withHot } from "./support/inspect.js";

const HOUR = Date.UTC(2026, 9, 1, 10);
const TURNS = ["a", "b", "c"];
const FIXTURE = fileURLToPath(new URL("./fixtures/store-r1/store", import.meta.url));

interface ManifestJson {
  files: { name: string; rows: number; checksum: string; turns?: string }[];
  dropped: { name: string }[];
}
const manifestPath = (dir: string) => join(dir, "cold", "MANIFEST.json");
const readManifest = (dir: string) => JSON.parse(readFileSync(manifestPath(dir), "utf8")) as ManifestJson;
const writeManifest = (dir: string, m: ManifestJson) => writeFileSync(manifestPath(dir), JSON.stringify(m));

/** A closed store whose records (three turns, four records each, one hour) are all in one cold file. */
async function coldStore(): Promise<{ dir: string; records: TraceRecord[] }> {
  const dir = tempDir();
  const records = TURNS.flatMap((t, i) =>
    [0, 1, 2, 3].map((k) => log(`${t} ${k}`, HOUR + i * 10 + k, { turnId: t })),
  );
  const store = await openStore({ dir });
  await store.insertRecords(records);
  await store.compact({ now: HOUR + 7_200_000, olderThanMs: 0 });
  await store.close();
  expect(readManifest(dir).files).toHaveLength(1);
  return { dir, records };
}

const lines = (items: { where: string; what: string }[]) =>
  items.map((p) => `${p.where}: ${p.what}`).join("\n");

function expectClean(report: VerifyReport): void {
  expect(report.problems.filter((p) => !p.repaired)).toEqual([]);
  expect(report.pending).toEqual([]);
}

describe("verify checks each cold file's filters against its rows", () => {
  it("reports a turn filter that misses the file's turns, and --repair rewrites the file with a correct one", async () => {
    const { dir } = await coldStore();
    const m = readManifest(dir);
    const name = m.files[0]!.name;
    m.files[0]!.turns = BloomFilter.build([textHash("another turn")], 1, TURN_BITS_PER_KEY).encode();
    writeManifest(dir, m);
    const during = await openStore({ dir });
    expect(await during.getTurn("a")).toEqual([]); // reads trust the filter: the turn is lost to them
    await during.close();

    const report = await verifyStore(dir);
    expect(report.pending).toEqual([]);
    expect(report.problems).toEqual([
      {
        where: `cold/${name}`,
        what: expect.stringMatching(/^its turn filter \(manifest\) misses 3 of its 3 turn\(s\), e\.g\. "a"/),
        repairable: true,
      },
    ]);
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired.problems).toEqual([expect.objectContaining({ where: `cold/${name}`, repaired: true })]);
    expect(repaired.notes.join("\n")).toContain("it rewrote 1 of 1 cold file(s) whose filters missed rows");
    expectClean(await verifyStore(dir));
    expect(readManifest(dir).files.map((f) => f.name)).not.toContain(name);
    const after = await openStore({ dir });
    for (const t of TURNS) expect(await after.getTurn(t)).toHaveLength(4);
    await after.close();
  });

  it("reports a record-id filter that misses the file's ids, and --repair rewrites the file with a correct one", async () => {
    const { dir, records } = await coldStore();
    const name = await replaceIdFilter(dir, (_right, rows) => {
      // a filter of other ids, of the same size: the footer keeps its length, the file stays decodable
      const others = Array.from({ length: rows }, () => idHash(randomBytes(8).toString("hex")));
      return BloomFilter.build(others, rows, ID_BITS_PER_KEY).encode();
    });
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([
      {
        where: `cold/${name}`,
        what: expect.stringMatching(/^its record-id filter \(footer\) misses \d+ of its 12 record\(s\)/),
        repairable: true,
      },
    ]);
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired.problems).toEqual([expect.objectContaining({ where: `cold/${name}`, repaired: true })]);
    expectClean(await verifyStore(dir));
    const after = await openStore({ dir });
    expect(await after.insertRecords(records)).toEqual({ inserted: 0, duplicates: records.length });
    await after.close();
  });

  it("reports a record-id filter that does not decode, which no rewrite can read past", async () => {
    const { dir } = await coldStore();
    const name = await replaceIdFilter(dir, (right) => `B${right.slice(1)}`); // filter version 5
    const report = await verifyStore(dir, { repair: true });
    expect(report.problems).toEqual([
      {
        where: `cold/${name}`,
        what: expect.stringContaining("its record-id filter (footer) does not decode"),
        repairable: false,
      },
    ]);
  });
});

/**
 * Replaces the record-id filter in the footer of the store's only cold file with `wrong(right, rows)`
 * (as long as the right one, so the footer keeps its layout), and records the file's new checksum: a
 * file written so, not damaged since. Returns the file's name.
 */
async function replaceIdFilter(dir: string, wrong: (right: string, rows: number) => string): Promise<string> {
  const m = readManifest(dir);
  const entry = m.files[0]!;
  const path = join(dir, "cold", entry.name);
  const right = (await readParquetInfo(path)).ids!.encode();
  const replacement = wrong(right, entry.rows);
  expect(replacement.length).toBe(right.length);
  const bytes = readFileSync(path);
  const at = bytes.indexOf(right, 0, "latin1");
  expect(at).toBeGreaterThan(0);
  bytes.write(replacement, at, "latin1");
  writeFileSync(path, bytes);
  entry.checksum = checksumOf(bytes);
  writeManifest(dir, m);
  return entry.name;
}

describe("verify on a layout 2 or 3 store's hot tier", () => {
  it("calls a turn → file entry a problem, which --repair deletes", async () => {
    const { dir } = await coldStore();
    const name = readManifest(dir).files[0]!.name;
    const key = turnFileKey("a", name);
    await withHot(dir, (db) => db.put(key, Buffer.alloc(0)));
    const report = await verifyStore(dir);
    expect(report.pending).toEqual([]);
    expect(report.problems).toEqual([
      {
        where: `hot f-entry ${key.toString("hex")}`,
        what: expect.stringContaining("a turn → file entry, which this layout no longer has"),
        repairable: true,
      },
    ]);
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired.problems).toMatchObject([{ repaired: true }]);
    expectClean(await verifyStore(dir));
    await withHot(dir, async (db) => expect(await db.get(key)).toBeUndefined());
  });

  it("calls an id entry whose record is not hot a problem, which --repair deletes so that the id is new again", async () => {
    const dir = tempDir();
    const record = log("never stored", HOUR, { turnId: "a" });
    const id = stableId(record);
    const store = await openStore({ dir });
    await store.insertRecords([log("kept", HOUR + 1, { turnId: "b" })]);
    await store.close();
    await withHot(dir, (db) => db.put(idKey(id), recordKey("a", HOUR, 999)));
    const report = await verifyStore(dir);
    expect(report.pending).toEqual([]);
    expect(report.problems).toEqual([
      {
        where: `hot i-index entry ${idKey(id).toString("hex")}`,
        what: expect.stringContaining("names a record the hot tier does not hold"),
        repairable: true,
      },
    ]);
    const stale = await openStore({ dir });
    expect(await stale.insertRecords([record])).toEqual({ inserted: 0, duplicates: 1 }); // why it matters
    await stale.close();
    expect((await verifyStore(dir, { repair: true })).problems).toMatchObject([{ repaired: true }]);
    expectClean(await verifyStore(dir));
    const after = await openStore({ dir });
    expect(await after.insertRecords([record])).toEqual({ inserted: 1, duplicates: 0 });
    await after.close();
  });

  it("calls an unknown layout a problem, and leaves the hot tier's cold entries unjudged", async () => {
    const { dir } = await coldStore();
    await withHot(dir, async (db) => {
      await db.put(Buffer.from("mlayout"), Buffer.of(0x05)); // msgpack 5
      await db.put(turnFileKey("a", "date=2026-10-01/x.parquet"), Buffer.alloc(0));
    });
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([
      { where: "hot m·layout", what: expect.stringContaining("is unknown: 5"), repairable: false },
    ]);
    expect(report.pending).toEqual([]);
  });
});

describe("verify on a store an older version wrote", () => {
  it("calls a layout 1 store's turn → file and cold id entries and its unfiltered files pending, not problems", async () => {
    const dir = tempDir();
    cpSync(FIXTURE, dir, { recursive: true });
    const files = readManifest(dir).files.map((f) => f.name);
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    const pending = lines(report.pending);
    expect(pending).toMatch(
      /hot m·layout: layout 1 \(an older version wrote the store\), with [1-9]\d* turn → file entries and [1-9]\d* id entries of records not in the hot tier: the upgrade deletes them and records layout 4: done at the next open/,
    );
    for (const name of files)
      expect(pending).toContain(`cold/${name}: no lookup filters (an older version wrote it)`);
    expect(report.pending).toHaveLength(files.length + 1);
  });

  it("calls a layout 2 store pending, not damaged: the open records layout 4", async () => {
    const { dir } = await coldStore();
    await withHot(dir, (db) => db.put(Buffer.from("mlayout"), Buffer.of(0x02))); // msgpack 2
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    expect(lines(report.pending)).toMatch(
      /hot m·layout: layout 2: the upgrade records layout 4 .*: done at the next open/,
    );
    await (await openStore({ dir })).close();
    await withHot(dir, async (db) => expect(await db.get(Buffer.from("mlayout"))).toEqual(Buffer.of(0x04)));
    expectClean(await verifyStore(dir));
  });

  it("is clean after the open that upgrades it", async () => {
    const dir = tempDir();
    cpSync(FIXTURE, dir, { recursive: true });
    const repaired = await verifyStore(dir, { repair: true });
    expectClean(repaired);
    expect(repaired.notes[0]).toMatch(/its recovery finished 6 pending item/);
    expectClean(await verifyStore(dir));
    expect(readManifest(dir).files.every((f) => f.turns !== undefined)).toBe(true);
  });

  it("calls files an older manifest lists as dropped pending, and the open removes them", async () => {
    const dir = tempDir();
    const store = await openStore({ dir });
    await store.insertRecords([
      log("old", HOUR, { turnId: "a" }),
      log("new", HOUR + 86_400_000, { turnId: "b" }),
    ]);
    await store.compact({ now: HOUR + 3 * 86_400_000, olderThanMs: 0 });
    await store.close();
    const m = readManifest(dir);
    const [gone, ...kept] = m.files;
    writeManifest(dir, { ...m, files: kept, dropped: [gone!] });
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
    expect(lines(report.pending)).toBe(
      `cold/${gone!.name}: listed as dropped by an older version whose retention had not finished removing it: removed: done at the next open`,
    );
    const reopened = await openStore({ dir });
    expect((await reopened.query({})).map((r) => r.turnId)).toEqual(["b"]);
    await reopened.close();
    expect(readManifest(dir).dropped).toEqual([]);
    expectClean(await verifyStore(dir));
  });
});
