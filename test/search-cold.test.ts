/**
 * Cold search sidecars (tiers/cold/sidecar.ts, sidecars.ts): the format round trip, what compaction,
 * merges, retention and the open's sweep do with them, the manifest v4 → v5 upgrade, verify.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { termOf, termsOf, tokenize } from "../src/search/text.js";
import type { ColdFile } from "../tiers/cold/manifest.js";
import {
  buildSidecar,
  decodeSidecar,
  type SidecarSource,
  sidecarName,
  sidecarSettings,
} from "../tiers/cold/sidecar.js";
import { indexColdFiles } from "../tiers/cold/sidecars.js";
import { ColdTier } from "../tiers/cold/tier.js";
import { log, span, tempDir, tempStore } from "./support/fixtures.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 9, 1, 10);
const LATER = Date.UTC(2027, 0, 1);

/** The texts of a source as the contract names them (msg, name, each attribute value). */
function textsOf(s: SidecarSource): string[] {
  const out: string[] = [];
  if (typeof s.msg === "string") out.push(s.msg);
  if (typeof s.name === "string") out.push(s.name);
  const add = (v: unknown) => {
    if (typeof v === "string") out.push(v);
    else if (typeof v === "number" || typeof v === "boolean") out.push(String(v));
  };
  for (const v of Object.values((s.attributes ?? {}) as Record<string, unknown>))
    if (Array.isArray(v)) v.forEach(add);
    else add(v);
  return out;
}

const hexOf = (h: SidecarSource["bodyHash"]) =>
  typeof h === "string" ? h : h ? Buffer.from(h).toString("hex") : undefined;

const words = ["alpha", "Beta", "gamma_1", "déjà", "ＦＵＬＬ", "日本語", "x".repeat(70), "42", "true", "ünï"];
const text = fc
  .array(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 6 })), { maxLength: 6 })
  .map((ws) => ws.join(" "));
const scalar = fc.oneof(
  text,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const hashes = ["a", "b", "c", "d"].map((s) => createHash("sha256").update(s).digest());
const source: fc.Arbitrary<SidecarSource> = fc.record({
  msg: fc.option(text, { nil: undefined }),
  name: fc.option(text, { nil: undefined }),
  attributes: fc.option(
    fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }))),
    {
      nil: undefined,
    },
  ),
  bodyHash: fc.option(
    fc.oneof(
      fc.constantFrom(...hashes),
      fc.constantFrom(...hashes).map((h) => h.toString("hex")),
    ),
    { nil: null },
  ),
});

describe("the sidecar format", () => {
  it("finds every row holding a term and exactly the rows of each body, over random rows", () => {
    fc.assert(
      fc.property(fc.array(source, { maxLength: 60 }), (rows) => {
        const index = decodeSidecar(buildSidecar(rows), "test.idx");
        expect(index.rows).toBe(rows.length);
        const expected = new Map<number, number[]>();
        rows.forEach((r, i) => {
          for (const t of textsOf(r))
            for (const term of termsOf(t)) expected.set(term, [...(expected.get(term) ?? []), i]);
        });
        for (const [term, want] of expected) {
          const got = [...index.rowsOfTerm(term)];
          expect(got).toEqual([...new Set(got)].sort((a, b) => a - b));
          for (const row of want) expect(got).toContain(row);
        }
        for (const h of hashes) {
          const want = rows.flatMap((r, i) => {
            const hex = hexOf(r.bodyHash);
            return hex === h.toString("hex") ? [i] : [];
          });
          expect([...index.rowsOfBodies([h.subarray(0, 8)])]).toEqual(want);
        }
        const two = [hashes[0]!.subarray(0, 8), hashes[1]!.subarray(0, 8), hashes[0]!.subarray(0, 8)];
        const want = rows.flatMap((r, i) => {
          const hex = hexOf(r.bodyHash);
          return hex === hashes[0]!.toString("hex") || hex === hashes[1]!.toString("hex") ? [i] : [];
        });
        expect([...index.rowsOfBodies(two)]).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });

  it("does not index tokens longer than 64 UTF-16 units", () => {
    const long = "y".repeat(65);
    const index = decodeSidecar(buildSidecar([{ msg: `${long} short` }]), "t.idx");
    expect([...index.rowsOfTerm(termOf(long))]).toEqual([]);
    expect([...index.rowsOfTerm(termOf("short"))]).toEqual([0]);
  });

  it("answers no rows for a term or body it does not hold", () => {
    const index = decodeSidecar(buildSidecar([{ msg: "hello", bodyHash: hashes[0]! }]), "t.idx");
    expect(index.rowsOfTerm(termOf("absent")).length).toBe(0);
    expect(index.rowsOfBodies([hashes[1]!.subarray(0, 8)]).length).toBe(0);
  });

  it("refuses any damaged byte with ERR_CORRUPT_STORE naming the file", () => {
    const bytes = buildSidecar(
      Array.from({ length: 300 }, (_, i) => ({ msg: `word${i % 17} common`, bodyHash: hashes[i % 4]! })),
    );
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const bad = Uint8Array.from(bytes);
        bad[at]! ^= xor;
        expect(() => decodeSidecar(bad, "cold/x.idx")).toThrow(
          expect.objectContaining({
            code: "ERR_CORRUPT_STORE",
            message: expect.stringContaining("cold/x.idx"),
          }),
        );
      }),
      { numRuns: 200 },
    );
    expect(() => decodeSidecar(bytes.subarray(0, 10), "cold/x.idx")).toThrow(/cold\/x\.idx/);
  });
});

/** Records over `hours` hours of one day: logs with a word each, spans with attributes, some bodies. */
function records(hours: number, perHour: number, start = T0): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let h = 0; h < hours; h++)
    for (let i = 0; i < perHour; i++) {
      const ts = start + h * HOUR + i;
      const turnId = `turn-${h}-${i % 7}`;
      out.push(
        i % 3 === 0
          ? span({
              spanId: `s${h}-${i}`,
              timestamp: ts,
              turnId,
              name: `tool.call${i % 5}`,
              attributes: { "gen_ai.request.model": `model-${i % 4}`, n: i },
            })
          : log(`message ${i} word${i % 11} hour${h}`, ts, {
              turnId,
              body: i % 4 === 1 ? `body ${i % 8}` : undefined,
            }),
      );
    }
  return out;
}

function manifestOf(dir: string): { version: number; files: ColdFile[] } {
  return JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8"));
}

function coldNames(dir: string): string[] {
  const cold = join(dir, "cold");
  return readdirSync(cold)
    .filter((d) => d.startsWith("date="))
    .flatMap((d) => readdirSync(join(cold, d)).map((n) => `${d}/${n}`))
    .sort();
}

/** The ids of the records whose texts hold `word`, per a brute-force look at the records. */
function idsWithWord(recs: TraceRecord[], word: string): string[] {
  const has = (t: unknown) => typeof t === "string" && tokenize(t).includes(word);
  return recs
    .filter(
      (r) =>
        has((r as { msg?: string }).msg) ||
        has((r as { name?: string }).name) ||
        Object.values(r.attributes ?? {}).some((v) => has(String(v))),
    )
    .map(stableId)
    .sort();
}

/** Through each listed file's sidecar: the ids of the rows it proposes for `word` (read back, and confirmed to hold it). */
async function idsByIndex(cold: ColdTier, word: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of cold.searchFiles()) {
    const index = await cold.fileIndex(f);
    expect(index, `${f.name} has a sidecar`).toBeDefined();
    const rows = await cold.readRows(f, [...index!.rowsOfTerm(termOf(word))]);
    out.push(...rows.map((r) => r.id));
  }
  return out.sort();
}

describe("sidecars written by compaction and merges", () => {
  it("gives every file compaction writes a sidecar named in its version 5 manifest entry", async () => {
    const { store, dir } = await tempStore();
    const recs = records(3, 40);
    await store.insertRecords(recs);
    await store.compact({ now: LATER });
    await store.close();
    const m = manifestOf(dir);
    expect(m.version).toBe(5);
    expect(m.files).toHaveLength(3);
    for (const f of m.files) {
      const side = join(dir, "cold", sidecarName(f.name));
      expect(f.index?.bytes).toBe(readFileSync(side).length);
    }
    const cold = await ColdTier.open(join(dir, "cold"));
    for (const word of ["word3", "hour1", "model", "call2", "12"])
      expect(await idsByIndex(cold, word), word).toEqual(idsWithWord(recs, word));
  });

  it("maps each body's hash prefix to the rows that have that body", async () => {
    const { store, dir } = await tempStore();
    const recs = records(1, 60);
    await store.insertRecords(recs);
    await store.compact({ now: LATER });
    await store.close();
    const cold = await ColdTier.open(join(dir, "cold"));
    const file = cold.files[0]!;
    const index = (await cold.fileIndex(file))!;
    const body = "body 5";
    const prefix = createHash("sha256").update(body).digest().subarray(0, 8);
    const rows = await cold.readRows(file, [...index.rowsOfBodies([prefix])]);
    expect(rows.map((r) => r.id).sort()).toEqual(
      recs
        .filter((r) => r.body === body)
        .map(stableId)
        .sort(),
    );
  });

  it("gives a merged file a sidecar over all its rows and unlinks the replaced files' sidecars", async () => {
    const { store, dir } = await tempStore();
    const all: TraceRecord[] = [];
    for (let k = 0; k < 5; k++) {
      const recs = records(1, 10, T0 + k * 100).map((r) => ({ ...r, turnId: `${r.turnId}-${k}` }));
      all.push(...recs);
      await store.insertRecords(recs);
      await store.compact({ now: LATER });
    }
    await store.close();
    const m = manifestOf(dir);
    expect(m.files).toHaveLength(1); // five small files of one hour merged into one
    expect(coldNames(dir)).toEqual([m.files[0]!.name, sidecarName(m.files[0]!.name)].sort());
    const cold = await ColdTier.open(join(dir, "cold"));
    expect(await idsByIndex(cold, "word4")).toEqual(idsWithWord(all, "word4"));
  });
});

describe("sidecars and retention", () => {
  it("unlinks a dropped file's sidecar with it, and the emptied partition", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords([...records(2, 10), ...records(1, 10, T0 + 2 * 86_400_000)]);
    await store.compact({ now: LATER });
    const result = await store.prune({ maxAgeMs: 86_400_000 }, { now: T0 + 2 * 86_400_000 });
    expect(result.filesDropped).toBe(2);
    const m = manifestOf(dir);
    expect(coldNames(dir)).toEqual(m.files.flatMap((f) => [f.name, sidecarName(f.name)]).sort());
    expect(existsSync(join(dir, "cold", "date=2026-10-01"))).toBe(false);
  });

  it("sweeps a sidecar no manifest entry names at open, and keeps the listed ones", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords(records(1, 10));
    await store.compact({ now: LATER });
    await store.close();
    const listed = coldNames(dir);
    const stray = join(dir, "cold", "date=2026-10-01", "g0000009999-0.idx");
    writeFileSync(stray, "left by a compaction killed before its commit");
    const again = await openStore({ dir });
    await again.close();
    expect(existsSync(stray)).toBe(false);
    expect(coldNames(dir)).toEqual(listed);
  });
});

/** A store whose cold files an older version (manifest v4, no sidecars) wrote. */
async function version4Store(recs: TraceRecord[]): Promise<string> {
  const { store, dir } = await tempStore();
  await store.insertRecords(recs);
  sidecarSettings.build = false;
  try {
    await store.compact({ now: LATER });
  } finally {
    sidecarSettings.build = true;
  }
  await store.close();
  const path = join(dir, "cold", "MANIFEST.json");
  const m = JSON.parse(readFileSync(path, "utf8"));
  writeFileSync(path, JSON.stringify({ ...m, version: 4 }));
  expect(coldNames(dir).every((n) => n.endsWith(".parquet"))).toBe(true);
  return dir;
}

describe("stores written before sidecars", () => {
  it("opens a version 4 manifest and reads its files, which have no sidecar until the upgrade", async () => {
    const recs = records(2, 20);
    const dir = await version4Store(recs);
    const cold = await ColdTier.open(join(dir, "cold"));
    for (const f of cold.files) expect(await cold.fileIndex(f)).toBeUndefined();
    expect(cold.records()).toBe(recs.length);
  });

  it("builds the missing sidecars with indexColdFiles, one manifest commit per file", async () => {
    const recs = records(3, 20);
    const dir = await version4Store(recs);
    const cold = await ColdTier.open(join(dir, "cold"));
    const before = cold.manifest.generation;
    const progress: number[] = [];
    const result = await indexColdFiles(cold, (done, total) => progress.push(done / total));
    expect(result).toEqual({ indexed: 3, damaged: 0 });
    expect(progress).toEqual([1 / 3, 2 / 3, 1]);
    expect(cold.manifest.generation).toBe(before + 3);
    expect(await idsByIndex(cold, "word7")).toEqual(idsWithWord(recs, "word7"));
    expect(manifestOf(dir).files.every((f) => f.index !== undefined)).toBe(true);
    expect(await indexColdFiles(cold)).toEqual({ indexed: 0, damaged: 0 }); // nothing left to do
  });

  it("builds them in the background after the open, without holding up reads", async () => {
    const recs = records(2, 20);
    const dir = await version4Store(recs);
    const { store } = await tempStore({ dir });
    expect((await store.query({ bodies: false })).length).toBe(recs.length);
    for (let i = 0; i < 100 && !manifestOf(dir).files.every((f) => f.index); i++)
      await new Promise((r) => setTimeout(r, 20));
    await store.close();
    expect(manifestOf(dir).files.every((f) => f.index !== undefined)).toBe(true);
  });
});

describe("verify and sidecars", () => {
  async function compacted(): Promise<{ dir: string; side: string }> {
    const { store, dir } = await tempStore();
    await store.insertRecords(records(1, 30));
    await store.compact({ now: LATER });
    await store.close();
    return { dir, side: join(dir, "cold", sidecarName(manifestOf(dir).files[0]!.name)) };
  }

  it("reports nothing of sound sidecars", async () => {
    const { dir } = await compacted();
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([]);
  });

  it("reports a corrupted sidecar, and --repair rewrites it", async () => {
    const { dir, side } = await compacted();
    const bytes = readFileSync(side);
    bytes[20]! ^= 0xff;
    writeFileSync(side, bytes);
    const report = await verifyStore(dir);
    expect(report.problems).toEqual([
      expect.objectContaining({
        where: `cold/${sidecarName(manifestOf(dir).files[0]!.name)}`,
        repairable: true,
      }),
    ]);
    expect(report.problems[0]!.what).toMatch(/damaged: its checksum/);
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired.problems.every((p) => p.repaired)).toBe(true);
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("reports a missing sidecar, and a searcher scans that file instead of trusting it", async () => {
    const { dir, side } = await compacted();
    const { unlinkSync } = await import("node:fs");
    unlinkSync(side);
    expect((await verifyStore(dir)).problems[0]!.what).toMatch(/is missing/);
    const cold = await ColdTier.open(join(dir, "cold"));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      expect(await cold.fileIndex(cold.files[0]!)).toBeUndefined();
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.join()).toMatch(/search sidecar .* is missing/);
  });

  it("builds the sidecars of an older version's files on --repair", async () => {
    const dir = await version4Store(records(1, 10));
    const report = await verifyStore(dir, { repair: true });
    expect(report.problems).toEqual([]);
    expect(manifestOf(dir).files.every((f) => f.index !== undefined)).toBe(true);
  });
});

describe("readRows", () => {
  it("returns exactly the rows asked for, in row order, as a whole-file read has them", async () => {
    const { store, dir } = await tempStore();
    await store.insertRecords(records(1, 2100));
    await store.compact({ now: LATER });
    await store.close();
    const cold = await ColdTier.open(join(dir, "cold"));
    const file = cold.files[0]!;
    const whole = await cold.fileRecords(file.name);
    const rows = [2099, 5, 1024, 1023, 7, 2048, 5, 1500];
    const want = [...new Set(rows)].sort((a, b) => a - b).map((r) => whole[r]);
    expect(await cold.readRows(file, rows)).toEqual(want);
    expect(await cold.readRows(file, [])).toEqual([]);
  });
});
