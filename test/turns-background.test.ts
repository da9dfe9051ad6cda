/**
 * The turns list's background work (the collector's warm-up at start, the refresh after maintenance)
 * runs outside requests: maintenance that deletes files does not wait for it, and close() stops it.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { serveConfig } from "../src/collector/config.js";
import { runCollector } from "../src/collector/service.js";
import type { TraceRecord, TraceStore } from "../src/index.js";
import { Reader } from "../src/read/reader.js";
import { warmTurns } from "../src/store.js";
import type { ColdFile } from "../tiers/cold/manifest.js";
import { tempStore } from "./support/fixtures.js";

/** Cold files whose turns-list part is held back (their read waits for `gate`). */
const held = vi.hoisted(() => ({
  file: (_f: { maxTs: number }): boolean => false,
  gate: Promise.resolve(),
  release: () => {},
  entered: () => {},
}));

vi.mock("../src/read/cold-part.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/read/cold-part.js")>();
  return {
    ...real,
    coldFilePart: async (...args: Parameters<typeof real.coldFilePart>) => {
      if (held.file(args[1])) {
        held.entered();
        await held.gate;
      }
      return real.coldFilePart(...args);
    },
  };
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 9, 1);
const NOW = T0 + 2 * DAY;
const TURNS = 20;

const rec = (turnId: string, timestamp: number): TraceRecord => ({
  kind: "log",
  level: "info",
  msg: turnId,
  timestamp,
  extensionId: "a",
  turnId,
});

/**
 * A store, reopened, with an old turn in a file of its own and TURNS turns each held by a cold file
 * and by the hot tier (a late record): a warm-up recomputes each of those from its records.
 */
async function spreadStore(): Promise<TraceStore> {
  return (await tempStore({ dir: await spreadDir() })).store;
}

/** spreadStore's directory, the store closed. */
async function spreadDir(): Promise<string> {
  const { store, dir } = await tempStore();
  const at = (i: number) => T0 + 10 * HOUR + i * 60_000;
  await store.insertRecords([
    rec("old", T0 - 5 * DAY),
    ...Array.from({ length: TURNS }, (_, i) => rec(`t${i}`, at(i))),
  ]);
  await store.compact({ now: NOW, olderThanMs: DAY });
  await store.insertRecords(Array.from({ length: TURNS }, (_, i) => rec(`t${i}`, at(i) + 1000)));
  await store.close();
  return dir;
}

/** Holds every Reader.turnRecords call (a warm-up's recomputations) until `open()`. */
function gateTurnRecords(): { entered: Promise<void>; open: () => void; calls: () => number } {
  const original = Reader.prototype.turnRecords;
  let opened!: () => void;
  const gate = new Promise<void>((resolve) => {
    opened = resolve;
  });
  let entered!: () => void;
  const first = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const spy = vi.spyOn(Reader.prototype, "turnRecords").mockImplementation(async function (
    this: Reader,
    turnId: string,
  ) {
    entered();
    await gate;
    return original.call(this, turnId);
  });
  return { entered: first, open: opened, calls: () => spy.mock.calls.length };
}

afterEach(() => {
  vi.restoreAllMocks();
  held.file = () => false;
  held.entered = () => {};
  held.release(); // a failed test's held read, so that its store closes
});

describe("the turns list's background work", () => {
  it("does not hold up a prune that deletes files right after an open", { timeout: 20_000 }, async () => {
    const store = await spreadStore();
    const gate = gateTurnRecords();
    let warmed = false;
    const warm = warmTurns(store).then(() => {
      warmed = true;
    });
    await gate.entered;
    const pruned = await store.prune({ maxAgeMs: 3 * DAY }, { now: NOW });
    expect(pruned.filesDropped).toBe(1);
    expect(warmed).toBe(false);
    gate.open();
    await warm;
    const listed = (await store.turns({ limit: 100 })).turns.map((t) => t.turnId);
    expect(listed.sort()).toEqual(Array.from({ length: TURNS }, (_, i) => `t${i}`).sort());
  });

  it("ends a warm-up quietly when a prune deletes a file it was reading, and the list is then the remaining files'", {
    timeout: 20_000,
  }, async () => {
    const store = await spreadStore();
    const entered = new Promise<void>((resolve) => {
      held.entered = resolve;
    });
    held.gate = new Promise<void>((resolve) => {
      held.release = resolve;
    });
    held.file = (f) => f.maxTs < T0; // the old turn's file
    const warm = warmTurns(store);
    await entered;
    expect((await store.prune({ maxAgeMs: 3 * DAY }, { now: NOW })).filesDropped).toBe(1);
    held.release();
    await warm;
    const listed = (await store.turns({ limit: 100 })).turns.map((t) => t.turnId);
    expect(listed.sort()).toEqual(Array.from({ length: TURNS }, (_, i) => `t${i}`).sort());
  });

  it("stops a warm-up at its next turn when the store closes, which rejects with ERR_CLOSED", async () => {
    const store = await spreadStore();
    const gate = gateTurnRecords();
    const warm = warmTurns(store);
    await gate.entered;
    const closed = store.close();
    gate.open();
    await closed;
    await expect(warm).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(gate.calls()).toBe(1);
  });

  it("is not reported as a failure by the collector when its shutdown stops it", async () => {
    const dir = await spreadDir();
    const gate = gateTurnRecords();
    const lines: string[] = [];
    const flags = { dir, port: "0", "compact-schedule": "off", "prune-schedule": "off" };
    const running = await runCollector(serveConfig(flags, {}), (line) => lines.push(line));
    await gate.entered;
    const stopped = running.shutdown();
    gate.open();
    await stopped;
    await new Promise((resolve) => setImmediate(resolve)); // the warm-up's handler has run
    expect(gate.calls()).toBe(1);
    expect(lines.filter((l) => l.startsWith("turns list:"))).toEqual([]);
  });
});

describe("the first newest-first page after an open", () => {
  it("with only a `from` is answered once every unread file is older than it, not after every file", {
    timeout: 20_000,
  }, async () => {
    const store = await spreadStore();
    const from = T0 + 9 * HOUR;
    held.gate = new Promise<void>((resolve) => {
      held.release = resolve;
    });
    held.file = (f: Pick<ColdFile, "maxTs">) => f.maxTs < from; // the old turn's file: read last
    const early = await store.turns({ from, limit: 5 });
    held.release();
    await warmTurns(store);
    const finished = await store.turns({ from, limit: 5 });
    expect(early).toEqual(finished);
    expect(early.turns).toHaveLength(5);
    expect(early.nextCursor).toBeDefined();
  });
});
