/**
 * The in-place upgrade of a store written by release 1 (test/fixtures/store-r1: hot records, cold files
 * with a merge and a drop, bodies), before the cold tier owned its indexes.
 */
import { cpSync, readFileSync, watch } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type StoredRecord, stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { tempDir } from "./support/fixtures.js";
import { inspectHot } from "./support/inspect.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const FIXTURE = new URL("./fixtures/store-r1/", import.meta.url);
const expected = JSON.parse(readFileSync(new URL("expected.json", FIXTURE), "utf8")) as {
  stats: { hotRecords: number; coldRecords: number; bodies: number };
  turns: Record<string, StoredRecord[]>;
};

/** A copy of the fixture store to open (the fixture itself is never opened). */
function copy(): string {
  const dir = tempDir();
  cpSync(new URL("store", FIXTURE), dir, { recursive: true });
  return dir;
}

const manifestOf = (dir: string) =>
  JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    version: number;
    generation: number;
    files: { name: string; turns?: string }[];
    dropped: unknown[];
  };

async function expectReadsAsRelease1(store: TraceStore): Promise<void> {
  for (const [turnId, records] of Object.entries(expected.turns)) {
    expect(await store.getTurn(turnId), turnId).toEqual(records);
    for (const r of records) if (r.body !== undefined) expect(await store.getBody(r.id)).toBe(r.body);
  }
  const stats = await store.stats();
  expect(stats.hotRecords).toBe(expected.stats.hotRecords);
  expect(stats.coldRecords).toBe(expected.stats.coldRecords);
  expect(stats.bodies).toBe(expected.stats.bodies);
}

describe("upgrading a store written by release 1", () => {
  it("reads every turn and body as release 1 did, after the upgrade", async () => {
    const dir = copy();
    const store = await openStore({ dir });
    await expectReadsAsRelease1(store);
    await store.close();
  });

  it("leaves no hot entry of a cold record, and every cold file with its filters in a version 4 manifest", async () => {
    const dir = copy();
    const before = await inspectHot(dir);
    expect(before.keys.f, "the fixture has turn → file entries").toBeGreaterThan(0);
    expect(before.ids).toBe(expected.stats.hotRecords + expected.stats.coldRecords);
    await (await openStore({ dir })).close();
    const after = await inspectHot(dir);
    expect(after.keys.f).toBeUndefined();
    expect(after.ids).toBe(expected.stats.hotRecords);
    const m = manifestOf(dir);
    expect(m.version).toBe(5);
    expect(m.dropped).toEqual([]);
    for (const f of m.files) expect(f.turns, f.name).toEqual(expect.any(String));
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("upgrades once: a second open rewrites nothing", async () => {
    const dir = copy();
    await (await openStore({ dir })).close();
    const generation = manifestOf(dir).generation;
    await (await openStore({ dir })).close();
    expect(manifestOf(dir).generation).toBe(generation);
  });

  it("keeps inserts idempotent across tiers: the release's cold records inserted again are duplicates", async () => {
    const dir = copy();
    const store = await openStore({ dir });
    const all = Object.values(expected.turns).flat();
    // The fixture's script gave some records an explicit `body: undefined`, which JSON drops and the
    // stable id counts: put it back where the id says so.
    const again = all.map(({ id, bodyEvicted: _, ...r }) =>
      stableId(r) === id ? r : ({ ...r, body: undefined } as TraceRecord),
    );
    expect(again.map((r) => stableId(r))).toEqual(all.map((r) => r.id));
    expect(await store.insertRecords(again)).toEqual({ inserted: 0, duplicates: again.length });
    await expectReadsAsRelease1(store);
    await store.close();
  });

  it("survives a kill at any point of the upgrade: the next open finishes it and reads the same", async () => {
    // Round 0 kills as the open starts; round k > 0 the instant the k-th manifest commit of the
    // upgrade (one per rewritten file) is renamed into place, i.e. with some files rewritten and some
    // not: the state must be one the next open finishes.
    let midway = 0;
    for (let round = 0; round < 5; round++) {
      const dir = copy();
      const legacy = manifestOf(dir).files.length;
      const commits = watchCommits(join(dir, "cold"));
      const child = startChild(["open-close", dir]);
      await waitForLine(child, (l) => l === "opening", 30_000);
      if (round > 0) await commits.reached(round);
      child.kill("SIGKILL");
      await exited(child);
      commits.close();
      const withFilters = manifestOf(dir).files.filter((f) => f.turns !== undefined).length;
      if (withFilters > 0 && withFilters < legacy) midway++;
      const store = await openStore({ dir });
      await expectReadsAsRelease1(store);
      await store.close();
      expect((await verifyStore(dir)).problems, `round ${round}`).toEqual([]);
    }
    expect(midway, "rounds killed with some files rewritten and some not").toBeGreaterThan(0);
  });
});

/** Counts the cold manifest's commits (renames into place) under `coldDir`, as inotify reports them. */
function watchCommits(coldDir: string): { reached: (n: number) => Promise<void>; close: () => void } {
  let seen = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const watcher = watch(coldDir, (_event, name) => {
    if (name !== "MANIFEST.json") return;
    seen++;
    for (const w of waiters.filter((x) => seen >= x.n)) w.resolve();
  });
  return {
    reached: (n) =>
      new Promise((resolve, reject) => {
        if (seen >= n) return resolve();
        waiters.push({ n, resolve });
        setTimeout(() => reject(new Error(`the upgrade made fewer than ${n} commits`)), 30_000).unref();
      }),
    close: () => watcher.close(),
  };
}
