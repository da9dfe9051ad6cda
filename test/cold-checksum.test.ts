/** Cold files carry checksums: damage to a file or its manifest is found by reads and by verify, coded. */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32 } from "node:zlib";
import { ClassicLevel } from "classic-level";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore, type TraceRecord, TracetierError } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { loadManifest } from "../tiers/cold/manifest.js";
import { readParquetColumns } from "../tiers/cold/parquet.js";
import { log, multiDayTurns, tempDir, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

interface ManifestJson {
  version: number;
  generation: number;
  files: { name: string; bytes: number; checksum?: string; [k: string]: unknown }[];
  dropped?: unknown[];
}

const manifestPath = (dir: string) => join(dir, "cold", "MANIFEST.json");
const readManifest = (dir: string) => JSON.parse(readFileSync(manifestPath(dir), "utf8")) as ManifestJson;
const crcOf = (path: string) => `crc32:${crc32(readFileSync(path)).toString(16).padStart(8, "0")}`;

/**
 * A closed store with the multi-day workload, its older half compacted into several files and its
 * newer half hot, and three turns to read: one in the first cold file (`damagedTurn`), one cold in
 * other files only (`coldTurn`), and one hot (`hotTurn`), each with what getTurn returned.
 */
async function compactedStore() {
  const dir = tempDir();
  const records = multiDayTurns(4, 3, 24).flat();
  const store = await openStore({ dir });
  await store.insertRecords(records);
  const cutoff = records[Math.floor(records.length / 2)]!.timestamp;
  await store.compact({ now: cutoff, olderThanMs: 0 });
  const manifest = readManifest(dir);
  const file = manifest.files[0]!.name;
  const turnsIn = async (name: string) =>
    new Set(
      ((await readParquetColumns(join(dir, "cold", name), ["turnId"])) ?? []).map((r) => r.turnId as string),
    );
  const inFile = await turnsIn(file);
  const inOthers = new Set<string>();
  for (const f of manifest.files.slice(1)) for (const t of await turnsIn(f.name)) inOthers.add(t);
  const turnOf = (r: TraceRecord) => r.turnId!;
  const damagedTurn = [...inFile][0]!;
  const coldTurn = [...inOthers].find((t) => !inFile.has(t))!;
  const hotTurn = turnOf(records.at(-1)!);
  const expected = new Map<string, unknown>();
  for (const t of [damagedTurn, coldTurn, hotTurn]) expected.set(t, await store.getTurn(t));
  await store.close();
  return { dir, file, path: join(dir, "cold", file), damagedTurn, coldTurn, hotTurn, expected };
}

function flipByte(path: string, at: number): void {
  const buf = readFileSync(path);
  buf[at] = buf[at]! ^ 0xff;
  writeFileSync(path, buf);
}

async function codeOf(p: Promise<unknown>): Promise<TracetierError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TracetierError);
  return err as TracetierError;
}

function cli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", MAIN, ...args], (error, out) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out });
    });
  });
}

describe("cold file checksums", () => {
  it("records each file's size and CRC-32 in a version 5 manifest at commit", async () => {
    const { dir } = await compactedStore();
    const manifest = readManifest(dir);
    expect(manifest.version).toBe(5);
    expect(manifest.files.length).toBeGreaterThan(1);
    for (const f of manifest.files) {
      const path = join(dir, "cold", f.name);
      expect(f.bytes).toBe(statSync(path).size);
      expect(f.checksum).toBe(crcOf(path));
    }
  });

  it("gives a merged file its own checksum", async () => {
    const { store, dir } = await tempStore();
    for (let round = 0; round < 6; round++) {
      await store.insertRecords([log(`round ${round}`, Date.UTC(2026, 9, 3) + round, { turnId: "t" })]);
      await store.compact({ now: FAR_FUTURE });
    }
    const manifest = readManifest(dir);
    expect(manifest.files.some((f) => f.generation === manifest.generation)).toBe(true); // the merge's
    for (const f of manifest.files) expect(f.checksum).toBe(crcOf(join(dir, "cold", f.name)));
  });
});

describe("a damaged cold file", () => {
  const positions = {
    "the header magic": () => 1,
    "the middle": (size: number) => Math.floor(size / 2),
    "the footer": (size: number) => size - 12,
  };

  for (const [where, at] of Object.entries(positions)) {
    it(`is reported by verify when a byte in ${where} is flipped`, async () => {
      const s = await compactedStore();
      flipByte(s.path, at(statSync(s.path).size));
      const report = await verifyStore(s.dir);
      expect(report.problems).toEqual([
        {
          where: `cold/${s.file}`,
          what: expect.stringMatching(/^damaged: its checksum is crc32:[0-9a-f]{8}, the manifest says/),
          repairable: false,
        },
      ]);
    });

    it(`fails a read of its turn with ERR_CORRUPT_STORE naming it (byte in ${where}), other turns still read`, async () => {
      const s = await compactedStore();
      flipByte(s.path, at(statSync(s.path).size));
      const { store } = await tempStore({ dir: s.dir });
      const err = await codeOf(store.getTurn(s.damagedTurn));
      expect(err.code).toBe("ERR_CORRUPT_STORE");
      expect(err.message).toContain(s.file);
      expect(await store.getTurn(s.coldTurn)).toEqual(s.expected.get(s.coldTurn));
      expect(await store.getTurn(s.hotTurn)).toEqual(s.expected.get(s.hotTurn));
      // The verdict is kept, and a second read fails the same way.
      expect((await codeOf(store.getTurn(s.damagedTurn))).code).toBe("ERR_CORRUPT_STORE");
    });
  }

  it("is reported when it is shorter than its manifest says", async () => {
    const s = await compactedStore();
    writeFileSync(s.path, readFileSync(s.path).subarray(0, 100));
    const report = await verifyStore(s.dir);
    expect(report.problems.map((p) => [p.where, p.what])).toEqual([
      [`cold/${s.file}`, expect.stringMatching(/^damaged: it is 100 bytes, the manifest says \d+/)],
    ]);
  });

  it("that is missing fails a read of its turn with ERR_CORRUPT_STORE naming it, other turns still read", async () => {
    const s = await compactedStore();
    unlinkSync(s.path);
    const { store } = await tempStore({ dir: s.dir });
    const err = await codeOf(store.getTurn(s.damagedTurn));
    expect(err.code).toBe("ERR_CORRUPT_STORE");
    expect(err.message).toContain(`${s.file} is listed in the manifest but missing`);
    expect(await store.getTurn(s.coldTurn)).toEqual(s.expected.get(s.coldTurn));
  });

  it("makes `tracetier verify` exit 3, naming the file", async () => {
    const s = await compactedStore();
    flipByte(s.path, Math.floor(statSync(s.path).size / 2));
    const r = await cli(["verify", "--dir", s.dir]);
    expect(r.code).toBe(3);
    expect(r.out).toContain(`problem: cold/${s.file}: damaged: its checksum is`);
  });
});

/** Rewrites the manifest as main before version 3 wrote it: version 2, no checksums. */
function downgradeManifest(dir: string, version: 1 | 2): void {
  const m = readManifest(dir);
  const files = m.files.map(({ checksum: _, ...f }) => f);
  const old =
    version === 2
      ? { version, generation: m.generation, files, dropped: [] }
      : { version, generation: m.generation, files };
  writeFileSync(manifestPath(dir), JSON.stringify(old));
}

describe("manifests of earlier versions", () => {
  it("opens a store whose manifest is version 2 (no checksums) and reads it as before", async () => {
    const s = await compactedStore();
    downgradeManifest(s.dir, 2);
    const { store } = await tempStore({ dir: s.dir });
    for (const t of [s.damagedTurn, s.coldTurn, s.hotTurn])
      expect(await store.getTurn(t)).toEqual(s.expected.get(t));
  });

  it("opens a store whose manifest is version 1 (no dropped list)", async () => {
    const s = await compactedStore();
    downgradeManifest(s.dir, 1);
    const { store } = await tempStore({ dir: s.dir });
    expect(await store.getTurn(s.coldTurn)).toEqual(s.expected.get(s.coldTurn));
  });

  it("verify notes files without a checksum, and --repair adds them in the current version", async () => {
    const s = await compactedStore();
    const before = readManifest(s.dir);
    downgradeManifest(s.dir, 2);
    const report = await verifyStore(s.dir);
    expect(report.problems).toEqual([]);
    expect(report.notes.filter((n) => n.includes("no checksum"))).toHaveLength(before.files.length);
    const repaired = await verifyStore(s.dir, { repair: true });
    expect(repaired.notes).toContain(
      `added the checksums of ${before.files.length} cold file(s) to the manifest`,
    );
    expect(readManifest(s.dir)).toEqual(before);
    expect((await verifyStore(s.dir)).notes.filter((n) => n.includes("no checksum"))).toEqual([]);
  });

  it("fails a read of an undecodable file listed without a checksum with ERR_CORRUPT_STORE naming it", async () => {
    const s = await compactedStore();
    downgradeManifest(s.dir, 2);
    const size = statSync(s.path).size;
    flipByte(s.path, size - 1); // the trailing magic: no checksum to compare, so the decoder finds it
    const { store } = await tempStore({ dir: s.dir });
    const err = await codeOf(store.getTurn(s.damagedTurn));
    expect(err.code).toBe("ERR_CORRUPT_STORE");
    expect(err.message).toContain(s.file);
    expect(err.cause).toBeInstanceOf(Error);
    expect(await store.getTurn(s.coldTurn)).toEqual(s.expected.get(s.coldTurn));
    await store.close();
    const report = await verifyStore(s.dir);
    expect(report.problems.map((p) => [p.where, p.what])).toEqual([
      [`cold/${s.file}`, expect.stringMatching(/^cannot be decoded: /)],
    ]);
  });
});

describe("a merge of small files", () => {
  it("leaves a damaged file out, merges the others, and the damage stays reported", async () => {
    const dir = tempDir();
    const hour = Date.UTC(2026, 9, 3, 10);
    const compactRound = async (round: number) => {
      const store = await openStore({ dir });
      await store.insertRecords([log(`round ${round}`, hour + round, { turnId: `t${round}` })]);
      await store.compact({ now: FAR_FUTURE });
      await store.close();
    };
    for (let round = 0; round < 4; round++) await compactRound(round);
    const damaged = readManifest(dir).files[0]!.name;
    flipByte(join(dir, "cold", damaged), Math.floor(statSync(join(dir, "cold", damaged)).size / 2));

    await compactRound(4); // a fifth small file in the hour: a merge
    const manifest = readManifest(dir);
    expect(manifest.files.map((f) => f.name)).toContain(damaged);
    expect(manifest.files).toHaveLength(2); // the damaged one, and the merge of the other four
    const store = await openStore({ dir });
    for (const t of ["t1", "t2", "t3", "t4"]) expect(await store.getTurn(t)).toHaveLength(1);
    expect((await codeOf(store.getTurn("t0"))).code).toBe("ERR_CORRUPT_STORE");
    await store.close();
    const report = await verifyStore(dir);
    expect(report.problems.map((p) => p.where).join(" ")).toContain(damaged);
  });
});

describe("a damaged manifest", () => {
  const file = (over: Record<string, unknown>) => ({
    version: 3,
    generation: 1,
    files: [
      {
        name: "date=2026-10-01/g0000000001-0.parquet",
        date: "2026-10-01",
        rows: 1,
        bytes: 10,
        minTs: 0,
        maxTs: 1,
        generation: 1,
        ...over,
      },
    ],
    dropped: [],
  });
  const hostile: Record<string, { text: string; names: string }> = {
    "text that is not JSON": { text: '{"version": 3, "files": [', names: "not valid JSON" },
    "JSON null": { text: "null", names: "the manifest is not an object" },
    "an unknown version": { text: JSON.stringify({ ...file({}), version: 9 }), names: "unknown version 9" },
    "files that are not an array": {
      text: JSON.stringify({ ...file({}), files: {} }),
      names: "files is not an array",
    },
    "a file name outside the cold directory": {
      text: JSON.stringify(file({ name: "date=2026-10-01/../../../etc.parquet" })),
      names: "files[0].name",
    },
    "a negative row count": { text: JSON.stringify(file({ rows: -1 })), names: "files[0].rows" },
    "a size that is a string": { text: JSON.stringify(file({ bytes: "10" })), names: "files[0].bytes" },
    "a malformed checksum": {
      text: JSON.stringify(file({ checksum: "md5:00" })),
      names: "files[0].checksum",
    },
  };

  for (const [what, { text, names }] of Object.entries(hostile)) {
    it(`with ${what} fails open with ERR_CORRUPT_STORE naming the file and the fault`, async () => {
      const dir = tempDir();
      const store = await openStore({ dir });
      await store.close();
      writeFileSync(manifestPath(dir), text);
      const err = await codeOf(openStore({ dir }));
      expect(err.code).toBe("ERR_CORRUPT_STORE");
      expect(err.message).toContain(manifestPath(dir));
      expect(err.message).toContain(names);
    });
  }

  it("of any JSON, or a valid one with any field replaced by any JSON, loads or fails with ERR_CORRUPT_STORE", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "cold"));
    const valid = file({ checksum: "crc32:0000abcd" });
    const fields = [
      "version",
      "generation",
      "files",
      "dropped",
      "name",
      "date",
      "rows",
      "bytes",
      "minTs",
      "maxTs",
      "checksum",
    ];
    const arbitrary = fc.oneof(
      fc.jsonValue(),
      fc.record({ field: fc.constantFrom(...fields), value: fc.jsonValue() }).map(({ field, value }) => {
        const m = structuredClone(valid) as Record<string, unknown> & { files: Record<string, unknown>[] };
        if (field in m) m[field] = value;
        else m.files[0]![field] = value;
        return m;
      }),
    );
    await fc.assert(
      fc.asyncProperty(arbitrary, async (json) => {
        writeFileSync(manifestPath(dir), JSON.stringify(json) ?? "");
        const loaded = await loadManifest(join(dir, "cold")).catch((err: Error) => err);
        if (loaded instanceof Error) {
          expect(loaded).toBeInstanceOf(TracetierError);
          expect((loaded as TracetierError).code).toBe("ERR_CORRUPT_STORE");
          expect(loaded.message).toContain(manifestPath(dir));
        } else {
          expect(loaded).toMatchObject({ version: 3 });
          for (const f of [...loaded.files, ...loaded.dropped]) expect(f.name).toMatch(/^date=[^/]+\/[^/]+$/);
        }
      }),
      { numRuns: 300, seed: 10 },
    );
  });

  it("keeps the JSON parser's error as the cause", async () => {
    const dir = tempDir();
    await (await openStore({ dir })).close();
    writeFileSync(manifestPath(dir), "\u0000garbage");
    const err = await codeOf(openStore({ dir }));
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it("is a problem verify reports, without calling the cold files stray or repairing anything", async () => {
    const s = await compactedStore();
    writeFileSync(manifestPath(s.dir), "{ torn");
    const report = await verifyStore(s.dir, { repair: true });
    expect(report.problems).toEqual([
      { where: "cold/MANIFEST.json", what: expect.stringContaining("not valid JSON"), repairable: false },
    ]);
    expect(statSync(s.path).isFile()).toBe(true);
  });
});

describe("verify and undecodable hot values", () => {
  it("reports a record value that does not decode as a problem instead of failing", async () => {
    const s = await compactedStore();
    const db = new ClassicLevel<Buffer, Buffer>(join(s.dir, "hot"), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    let key: Buffer | undefined;
    for await (const k of db.keys({ gte: Buffer.of(0x72), lt: Buffer.of(0x73), limit: 1 })) key = k;
    await db.put(key!, Buffer.of(0xc1)); // a byte msgpack never uses
    await db.close();
    const report = await verifyStore(s.dir);
    expect(report.problems).toContainEqual({
      where: `hot record ${key!.toString("hex")}`,
      what: expect.stringMatching(/^cannot be decoded: /),
      repairable: false,
    });
  });
});
