/**
 * The cold tier answers lookups from its own filters: which files a getTurn or a re-insert opens is
 * observable by damaging every other file (a file's first read in an open store checks it whole, so a
 * damaged file that is touched fails the call with ERR_CORRUPT_STORE naming it).
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type StoredRecord, stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import type { ColdTier } from "../tiers/cold/tier.js";
import { log, tempDir, tempStore } from "./support/fixtures.js";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 9, 1);
/** 24 turns, each in its own UTC hour over three days (one cold file each), 5 records a turn. */
const TURNS = Array.from({ length: 24 }, (_, t) =>
  Array.from({ length: 5 }, (_, i) =>
    log(`turn ${t} step ${i}`, START + t * 3 * HOUR + i * 1000, {
      turnId: `turn-${t}`,
      body: `body ${t} ${i}`,
    }),
  ),
);

interface ColdStore {
  dir: string;
  /** Each turn's records as read back, and the cold file that holds it. */
  turns: Map<string, { records: StoredRecord[]; file: string }>;
  files: string[];
}

async function coldStore(): Promise<ColdStore> {
  const dir = tempDir();
  const store = await openStore({ dir });
  await store.insertRecords(TURNS.flat());
  await store.compact({ now: START + 10 * 24 * HOUR });
  const turns = new Map<string, { records: StoredRecord[]; file: string }>();
  const files = manifestFiles(dir);
  for (const t of TURNS) {
    const records = await store.getTurn(t[0]!.turnId!);
    const file = files.find((f) => f.minTs <= t[0]!.timestamp && t[0]!.timestamp <= f.maxTs)!.name;
    turns.set(t[0]!.turnId!, { records, file });
  }
  expect((await store.stats()).hotRecords).toBe(0);
  await store.close();
  return { dir, turns, files: files.map((f) => f.name) };
}

function manifestFiles(dir: string): { name: string; minTs: number; maxTs: number }[] {
  return JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")).files;
}

/** A copy of the store in which every cold file but `keep` is damaged (one byte flipped). */
function damagedCopy(s: ColdStore, keep: string[]): string {
  const dir = tempDir();
  cpSync(s.dir, dir, { recursive: true });
  for (const f of s.files) {
    if (keep.includes(f)) continue;
    const path = join(dir, "cold", f);
    const buf = readFileSync(path);
    buf[buf.length >> 1]! ^= 0xff;
    writeFileSync(path, buf);
  }
  return dir;
}

describe("cold lookups by the tier's own filters", () => {
  it("a getTurn opens only the files that hold the turn", async () => {
    const s = await coldStore();
    expect(s.files).toHaveLength(24);
    for (const t of ["turn-0", "turn-7", "turn-23"]) {
      const { records, file } = s.turns.get(t)!;
      const store = await openStore({ dir: damagedCopy(s, [file]) });
      expect(await store.getTurn(t)).toEqual(records);
      // The damage is real: a turn of another file fails, naming that file.
      await expect(store.getTurn(t === "turn-0" ? "turn-1" : "turn-0")).rejects.toMatchObject({
        code: "ERR_CORRUPT_STORE",
      });
      await store.close();
    }
  });

  it("a getTurn of a turn no file holds opens no file at all", async () => {
    const s = await coldStore();
    const store = await openStore({ dir: damagedCopy(s, []) });
    for (let i = 0; i < 50; i++) expect(await store.getTurn(`absent-${i}`)).toEqual([]);
    await store.close();
  });

  it("a re-insert of a cold record asks only the files of its hour, and is a duplicate", async () => {
    const s = await coldStore();
    const { file } = s.turns.get("turn-5")!;
    const store = await openStore({ dir: damagedCopy(s, [file]) });
    expect(await store.insertRecords(TURNS[5]!)).toEqual({ inserted: 0, duplicates: 5 });
    // A new record in an hour no file covers is inserted without opening any file.
    const late: TraceRecord = log("late", START + 2 * HOUR + 5, { turnId: "turn-late" });
    expect(await store.insertRecords([late])).toEqual({ inserted: 1, duplicates: 0 });
    await store.close();
  });

  it("a cold record's body is found by its id alone", async () => {
    const s = await coldStore();
    const store = await openStore({ dir: s.dir });
    for (const t of TURNS.slice(0, 6)) {
      for (const r of t) expect(await store.getBody(stableId(r))).toBe(r.body);
    }
    expect(await store.getBody("0123456789abcdef")).toBeUndefined();
    await store.close();
  });

  it("stats report the memory the filters hold, and it grows with the files read", async () => {
    const s = await coldStore();
    const store = await openStore({ dir: s.dir });
    const atOpen = (await store.stats()).coldFilterBytes;
    expect(atOpen).toBeGreaterThanOrEqual(24 * 8); // every file's turn filter, 64 bits at least
    await store.getBody(stableId(TURNS[0]![0]!)); // reads record-id filters from footers
    expect((await store.stats()).coldFilterBytes).toBeGreaterThan(atOpen);
    await store.close();
  });
});

describe("cold lookups racing a merge", () => {
  const H = Date.UTC(2026, 9, 5, 10);
  const rec = (k: number) => log(`small ${k}`, H + k, { turnId: `t-${k}`, body: `body of small ${k}` });

  /**
   * A store with four small files in one hour (the fifth compaction merges them), and a cold tier whose
   * turnRecords, the first time it is asked about `file`, waits until a commit has unlisted it: the
   * lookup then reads a file that a merge replaced after the lookup chose it.
   */
  async function racing(): Promise<{ store: TraceStore; file: string }> {
    const { store, dir } = await tempStore();
    for (let k = 0; k < 4; k++) {
      await store.insertRecords([rec(k)]);
      await store.compact({ now: H + HOUR * 2, olderThanMs: 0 });
    }
    const file = manifestFiles(dir).find((f) => f.minTs === H)!.name;
    const cold = (store as unknown as { cold: ColdTier }).cold;
    const turnRecords = cold.turnRecords.bind(cold);
    let gated = false;
    cold.turnRecords = async (turnId, names) => {
      if (names === undefined) return turnRecords(turnId); // a read: every file that may hold the turn
      const list = [...names];
      if (!gated && list.includes(file)) {
        gated = true;
        while (cold.has(file)) await new Promise((r) => setTimeout(r, 2));
      }
      return turnRecords(turnId, list);
    };
    return { store, file };
  }

  it("a re-insert whose file a merge replaces meanwhile is still a duplicate", async () => {
    const { store } = await racing();
    await store.insertRecords([rec(4)]); // before: inserts stage one at a time, and the next one waits
    const insert = store.insertRecords([rec(0)]);
    const compaction = store.compact({ now: H + HOUR * 2, olderThanMs: 0 }); // the fifth file: a merge
    expect(await insert).toEqual({ inserted: 0, duplicates: 1 });
    await compaction;
    expect(await store.query({ turnId: "t-0" })).toHaveLength(1);
    expect((await store.stats()).coldRecords).toBe(5);
  });

  it("a getBody whose file a merge replaces meanwhile still finds the body", async () => {
    const { store } = await racing();
    const body = store.getBody(stableId(rec(0)));
    await store.insertRecords([rec(4)]);
    await store.compact({ now: H + HOUR * 2, olderThanMs: 0 });
    expect(await body).toBe(rec(0).body);
  });
});
