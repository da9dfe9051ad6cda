/**
 * How a store gets its chunk index when it has none (a layout 3 store, written before the search index)
 * or a damaged one: the upgrade at open (maps at once, postings in the background, `complete` false
 * until they are written), `reindex`, and `verify` / `verify --repair`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../src/bodies/store.js";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { reindex } from "../src/maintenance/reindex.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { type ChunkIndex, chunkIndexSettings } from "../src/search/chunks/index.js";
import { termOf, tokenize } from "../src/search/text.js";
import { sidecarSettings } from "../tiers/cold/sidecar.js";
import { P_DOC_BODY, P_SEGMENT } from "../tiers/hot/keys.js";
import { span, tempDir } from "./support/fixtures.js";
import { withHot } from "./support/inspect.js";

const SMALL_CHUNKS = { inlineMax: 48, minSize: 64, avgSize: 128, maxSize: 256 };
const WORDS = ["zephyr", "quartz", "jovial", "café", "naïve", "漢字", "wobble", "fjord"];

function records(n: number, from = 0): TraceRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const body = Array.from(
      { length: 30 + i },
      (_, j) => `${WORDS[(i + j * 3) % WORDS.length]}${(i * 17 + j) % 101}`,
    ).join(" ");
    return span({
      spanId: `s-${i}`,
      name: "llm.request",
      timestamp: 1_700_000_000_000 + i,
      extensionId: "test",
      turnId: `turn-${i % 4}`,
      body: i % 5 === 0 ? `tiny ${i}` : body,
    });
  });
}

function indexOf(store: TraceStore): ChunkIndex {
  return (store as unknown as { chunkIndex: ChunkIndex }).chunkIndex;
}

/** Every word of each record's body leads, through docsOf → bodiesOf, to that body (its SHA-256 prefix). */
async function expectAllFound(store: TraceStore, recs: TraceRecord[]): Promise<void> {
  const index = indexOf(store);
  await index.caughtUp();
  for (const r of recs) {
    const name = sha256(Buffer.from(r.body!, "utf8")).subarray(0, 8);
    for (const w of new Set(tokenize(r.body!))) {
      const bodies = await index.bodiesOf(await index.docsOf(termOf(w)));
      expect(
        bodies.some((b) => b.equals(name)),
        `"${w}" of record ${r.timestamp}`,
      ).toBe(true);
    }
  }
}

/** Makes a store look as layout 3 left it: no search keys, `m·layout` 3. */
async function asLayout3(dir: string): Promise<void> {
  await withHot(dir, async (db) => {
    for (const prefix of [P_SEGMENT, P_DOC_BODY])
      for await (const key of db.keys({ gte: Buffer.of(prefix), lt: Buffer.of(prefix + 1) }))
        await db.del(key);
    await db.del(Buffer.from("mindex"));
    await db.put(Buffer.from("mlayout"), Buffer.of(0x03)); // msgpack 3
  });
}

async function untilComplete(index: ChunkIndex): Promise<void> {
  for (let i = 0; i < 200 && !index.complete; i++) await new Promise((r) => setTimeout(r, 25));
}

describe("a store without a chunk index", () => {
  it("is upgraded from layout 3 at open: incomplete until the background build is written, then every word is found", async () => {
    const dir = tempDir();
    const first = records(20);
    let store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await store.insertRecords(first);
    await store.close();
    await asLayout3(dir);
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const index = indexOf(store);
    const later = records(5, 100);
    await store.insertRecords(later); // indexed as usual while the build runs
    await untilComplete(index);
    expect(index.complete).toBe(true);
    await expectAllFound(store, [...first, ...later]);
    await store.close();
    await withHot(dir, async (db) => expect(await db.get(Buffer.from("mlayout"))).toEqual(Buffer.of(0x04)));
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("says incomplete after a close that stopped the background build, and finishes at the next open", async () => {
    const dir = tempDir();
    const first = records(20);
    let store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await store.insertRecords(first);
    await store.close();
    await asLayout3(dir);
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    expect(indexOf(store).complete).toBe(false);
    await store.close(); // the build stops at its next step
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await untilComplete(indexOf(store));
    await expectAllFound(store, first);
    await store.close();
  });

  it("is rebuilt by reindex after its keys are lost", async () => {
    const dir = tempDir();
    const recs = records(15);
    let store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await store.insertRecords(recs);
    await store.close();
    await withHot(dir, async (db) => {
      for await (const key of db.keys({ gte: Buffer.of(P_SEGMENT), lt: Buffer.of(P_SEGMENT + 1) }))
        await db.del(key);
    });
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    const phases = new Set<string>();
    await reindex(store, (phase) => phases.add(phase));
    expect([...phases].sort()).toEqual(["bodies", "chunks"]);
    expect(indexOf(store).complete).toBe(true);
    await expectAllFound(store, recs);
    await store.close();
  });
});

describe("a store written with the index off (benchmarks)", () => {
  it("is incomplete, and the next open with the index builds it whole", async () => {
    const dir = tempDir();
    const recs = records(12);
    chunkIndexSettings.mode = "off";
    let store: TraceStore;
    try {
      store = await openStore({ dir, chunking: SMALL_CHUNKS });
      expect(indexOf(store).complete).toBe(false);
      await store.insertRecords(recs);
      await store.close();
    } finally {
      chunkIndexSettings.mode = "worker";
    }
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await untilComplete(indexOf(store));
    expect(indexOf(store).complete).toBe(true);
    await expectAllFound(store, recs);
    await store.close();
  });
});

describe("verify on the chunk index", () => {
  it("reports a lost q key and a damaged segment, and --repair rebuilds the index", async () => {
    const dir = tempDir();
    const recs = records(15);
    let store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await store.insertRecords(recs);
    await store.close();
    expect((await verifyStore(dir)).problems).toEqual([]);
    await withHot(dir, async (db) => {
      for await (const key of db.keys({
        gte: Buffer.of(P_DOC_BODY),
        lt: Buffer.of(P_DOC_BODY + 1),
        limit: 1,
      }))
        await db.del(key);
      for await (const key of db.keys({
        gte: Buffer.of(P_SEGMENT, 0, 0, 0, 0, 1),
        lt: Buffer.of(P_SEGMENT + 1),
        limit: 1,
      }))
        await db.put(key, Buffer.of(1, 0xff, 0xff)); // a block that does not inflate
    });
    const found = await verifyStore(dir);
    const where = found.problems.map((p) => p.where).join("\n");
    expect(where).toMatch(/hot q-key/);
    expect(where).toMatch(/chunk index segment/);
    expect(found.problems.every((p) => p.repairable)).toBe(true);
    const repaired = await verifyStore(dir, { repair: true });
    expect(repaired.problems.filter((p) => !p.repaired)).toEqual([]);
    expect((await verifyStore(dir)).problems).toEqual([]);
    store = await openStore({ dir, chunking: SMALL_CHUNKS });
    await expectAllFound(store, recs);
    await store.close();
  });
});

describe("reindex and cold files written before their search index", () => {
  it("waits for the cold files written before sidecars to get theirs, and says how many", async () => {
    const dir = tempDir();
    const t0 = Date.UTC(2026, 9, 1);
    const records: TraceRecord[] = Array.from({ length: 6 }, (_, h) => ({
      kind: "log",
      level: "info",
      msg: `kittiwake number${h}`,
      timestamp: t0 + h * 3_600_000,
      extensionId: "x",
    }));
    let store = await openStore({ dir });
    await store.insertRecords(records);
    sidecarSettings.build = false; // as a version before sidecars wrote them
    try {
      await store.compact({ now: t0 + 10 * 3_600_000, olderThanMs: 0 });
    } finally {
      sidecarSettings.build = true;
    }
    await store.close();
    const manifest = () =>
      JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
        files: { index?: unknown }[];
      };
    expect(manifest().files.filter((f) => f.index === undefined)).toHaveLength(6);
    store = await openStore({ dir });
    const { coldFilesIndexed } = await reindex(store);
    expect(coldFilesIndexed).toBe(6);
    expect(manifest().files.every((f) => f.index !== undefined)).toBe(true);
    expect((await store.search("number3")).hits.map((h) => h.timestamp)).toEqual([t0 + 3 * 3_600_000]);
    await store.close();
  });
});
