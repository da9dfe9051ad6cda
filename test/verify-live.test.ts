/**
 * `verify` of an open store (verifyRunning: what the collector's admin endpoint runs): the same checks
 * as on a closed store, over a snapshot of the hot tier taken under the maintenance lock, so writes in
 * flight and maintenance never show as problems, and damage is still found. Read-only: `repair` is
 * refused. A close meanwhile ends it cleanly.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nodeFileSystem, setFs } from "../src/base/fs.js";
import type { TraceRecord, TraceStore } from "../src/index.js";
import { LIVE_NOTE, type VerifyReport, verifyStore } from "../src/maintenance/verify.js";
import { verifyRunning } from "../src/store.js";
import { P_CHUNK, P_TIME, prefixEnd } from "../tiers/hot/keys.js";
import { HotTier } from "../tiers/hot/tier.js";
import { SEGMENT_HEADER_BYTES } from "../wal/frame.js";
import { log, multiDayTurns, tempDir, tempStore } from "./support/fixtures.js";

const DAY = 86_400_000;
const START = Date.UTC(2026, 9, 1);

/** The store's hot tier and compactor (private: the tests watch and damage them). */
function internals(store: TraceStore): {
  hot: HotTier;
  compactor: { compact: (...args: unknown[]) => Promise<unknown> };
} {
  return store as unknown as ReturnType<typeof internals>;
}

/** A workload over four days, the first two compacted into the cold tier, the rest hot. */
async function busyStore(): Promise<{ store: TraceStore; dir: string }> {
  const made = await tempStore();
  for (const turn of multiDayTurns(4, 3, 24)) await made.store.insertRecords(turn);
  await made.store.compact({ now: START + 2 * DAY, olderThanMs: 0 });
  return made;
}

/** A batch of logs with bodies of their own (each chunked: over the inline limit). */
function bodies(n: number, k: number): TraceRecord[] {
  return Array.from({ length: n }, (_, i) =>
    log(`live ${k} ${i}`, START + 3 * DAY + k * 100 + i, {
      turnId: `live-${k}`,
      body: `batch ${k} record ${i} `.repeat(300),
    }),
  );
}

/** A key of the hot tier's keyspace `prefix` (the first one). */
async function firstKey(hot: HotTier, prefix: number): Promise<Buffer> {
  const p = Buffer.of(prefix);
  for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }, false)) return batch[0]![0];
  throw new Error(`no key under ${String.fromCharCode(prefix)}`);
}

const without = ({ walFrames: _, ...rest }: VerifyReport["checked"]) => rest;

describe("verify of an open store", () => {
  it("finds a clean open store clean, with the counts and problems of a verify after its close", async () => {
    const { store, dir } = await busyStore();
    const live = await verifyRunning(store);
    await store.close();
    const closed = await verifyStore(dir);
    expect(live.problems).toEqual([]);
    expect(live.problems).toEqual(closed.problems);
    expect(live.checked.coldFiles).toBeGreaterThan(0);
    expect(live.checked.chunks).toBeGreaterThan(0);
    expect(without(live.checked)).toEqual(without(closed.checked));
    expect(live.notes).toContain(LIVE_NOTE);
    expect(closed.notes).not.toContain(LIVE_NOTE);
  });

  it("reports no problem while inserts run and a compaction is asked for, and never overlaps the compaction", async () => {
    const { store, dir } = await busyStore();
    const { hot, compactor } = internals(store);
    const events: string[] = [];
    const snapshot = hot.snapshot.bind(hot);
    hot.snapshot = () => {
      const view = snapshot();
      const close = view.close.bind(view);
      events.push("verify start");
      view.close = () => {
        events.push("verify end");
        return close();
      };
      return view;
    };
    const compact = compactor.compact.bind(compactor);
    compactor.compact = async (...args) => {
      events.push("compact start");
      try {
        return await compact(...args);
      } finally {
        events.push("compact end");
      }
    };
    let stop = false;
    let batches = 0;
    const inserting = (async () => {
      while (!stop) await store.insertRecords(bodies(20, batches++));
    })();
    await store.insertRecords(bodies(20, 10_000)); // the loop is running
    const verified = verifyRunning(store);
    const compacted = store.compact({ now: START + 4 * DAY, olderThanMs: 0 });
    const report = await verified;
    const during = batches;
    const moved = await compacted;
    stop = true;
    await inserting;
    expect(report.problems).toEqual([]);
    expect(during).toBeGreaterThan(1); // inserts ran during the verify
    expect(moved.recordsMoved).toBeGreaterThan(0);
    expect(events).toEqual(["verify start", "verify end", "compact start", "compact end"]);
    // and the verify after it all, on the closed store, agrees
    await store.close();
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("finds a chunk a body lists that is not stored", async () => {
    const { store } = await busyStore();
    const { hot } = internals(store);
    const chunk = await firstKey(hot, P_CHUNK);
    await hot.write([{ type: "del", key: chunk }], true);
    const report = await verifyRunning(store);
    expect(report.problems).toContainEqual(
      expect.objectContaining({
        what: `lists chunk ${chunk.toString("hex", 1)} that is not stored`,
        repairable: false,
      }),
    );
  });

  it("finds a cold file whose bytes changed", async () => {
    const { store, dir } = await busyStore();
    const name = readdirSync(join(dir, "cold"), { recursive: true })
      .map(String)
      .find((n) => n.endsWith(".parquet"))!;
    const path = join(dir, "cold", name);
    const bytes = readFileSync(path);
    const at = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(path, bytes);
    const report = await verifyRunning(store);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ where: `cold/${name}`, what: expect.stringMatching(/^damaged: /) }),
    );
  });

  it("refuses repair, saying the store must be closed, and changes nothing", async () => {
    const { store } = await busyStore();
    const { hot } = internals(store);
    await hot.write([{ type: "del", key: await firstKey(hot, P_TIME) }], true);
    const before = await verifyRunning(store);
    expect(before.problems).toHaveLength(1);
    await expect(verifyRunning(store, { repair: true })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringMatching(/"repair" needs the store closed.*stop tracetier serve first/),
    });
    expect(await verifyRunning(store)).toEqual(before);
  });

  it("ends with ERR_CLOSED when the store closes during it, and the close completes", async () => {
    const { store } = await busyStore();
    const { hot } = internals(store);
    const snapshot = hot.snapshot.bind(hot);
    let taken!: () => void;
    const started = new Promise<void>((resolve) => {
      taken = resolve;
    });
    hot.snapshot = () => {
      taken();
      return snapshot();
    };
    const verified = verifyRunning(store);
    await started;
    await store.close();
    await expect(verified).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });

  it("ends with ERR_CLOSED once its abort signal fires (a collector shutting down), and the store stays open", async () => {
    const { store } = await tempStore();
    await store.insertRecords([log("one", Date.UTC(2026, 10, 1), { turnId: "t1" })]);
    const stop = new AbortController();
    stop.abort();
    await expect(verifyRunning(store, { signal: stop.signal })).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect((await verifyRunning(store)).problems).toEqual([]);
  });

  it("is refused with ERR_CLOSED on a closed store", async () => {
    const { store } = await tempStore();
    await store.close();
    await expect(verifyRunning(store)).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });
});

/** Runs `fn` with the WAL's reads (readFile under `dir`/wal) going through `read`. */
async function withWalReads<T>(
  dir: string,
  read: (path: string, real: () => Promise<Buffer>) => Promise<Buffer>,
  fn: () => Promise<T>,
): Promise<T> {
  const wal = join(dir, "wal");
  const restore = setFs({
    ...nodeFileSystem,
    readFile: (path) =>
      path.startsWith(wal) ? read(path, () => nodeFileSystem.readFile(path)) : nodeFileSystem.readFile(path),
  });
  try {
    return await fn();
  } finally {
    restore();
  }
}

describe("verify of an open store's WAL", () => {
  it("reads the WAL again when a checkpoint deletes a segment under the read", async () => {
    const { store, dir } = await busyStore();
    const expected = await verifyRunning(store);
    expect(expected.checked.walFrames).toBeGreaterThan(0);
    let vanished = 0;
    const report = await withWalReads(
      dir,
      async (path, real) => {
        if (vanished++ > 0) return real();
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
          code: "ENOENT",
        });
      },
      () => verifyRunning(store),
    );
    expect(vanished).toBeGreaterThan(1);
    expect(report.problems).toEqual([]);
    expect(report.checked.walFrames).toBe(expected.checked.walFrames);
  });

  it("calls a partial frame at the end of the newest segment a write in flight, not a problem", async () => {
    const { store, dir } = await busyStore();
    const newest = join(dir, "wal", readdirSync(join(dir, "wal")).sort().at(-1)!);
    const report = await withWalReads(
      dir,
      async (path, real) => {
        const bytes = await real();
        if (path !== newest) return bytes;
        return Buffer.concat([bytes, bytes.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + 6)]);
      },
      () => verifyRunning(store),
    );
    expect(report.problems).toEqual([]);
    expect(report.notes).toContainEqual(
      expect.stringMatching(
        /^wal\/.*: a frame being written at offset \d+ when it was read \(an append in flight\)$/,
      ),
    );
  });
});

describe("a snapshot view of the hot tier", () => {
  const key = Buffer.from("m-test");

  it("reads the tier as it was when taken, whatever is written after", async () => {
    const dir = tempDir();
    const hot = await HotTier.open(join(dir, "hot"), dir);
    try {
      await hot.write([{ type: "put", key, value: Buffer.from("before") }]);
      const view = hot.snapshot();
      await hot.write([
        { type: "put", key, value: Buffer.from("after") },
        { type: "put", key: Buffer.from("m-new"), value: Buffer.from("new") },
      ]);
      expect((await view.get(key))?.toString()).toBe("before");
      expect(view.getManySync([key, Buffer.from("m-new")]).map((v) => v?.toString())).toEqual([
        "before",
        undefined,
      ]);
      const keys: string[] = [];
      for await (const batch of view.entries({ gte: Buffer.from("m"), lt: Buffer.from("n") }))
        keys.push(...batch.map(([k]) => k.toString()));
      expect(keys).toEqual(["m-test"]);
      expect((await hot.get(key))?.toString()).toBe("after");
      await view.close();
    } finally {
      await hot.close();
    }
  });

  it("fails with ERR_IO saying the tier was reopened, rather than read the reopened database", async () => {
    const dir = tempDir();
    const hot = await HotTier.open(join(dir, "hot"), dir);
    try {
      await hot.write([{ type: "put", key, value: Buffer.from("before") }]);
      const view = hot.snapshot();
      await hot.reopen();
      await expect(view.get(key)).rejects.toMatchObject({ code: "ERR_IO", message: /reopened/ });
      expect(() => view.getManySync([key])).toThrow(/reopened/);
      await view.close();
    } finally {
      await hot.close();
    }
  });
});
