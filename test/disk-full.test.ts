/**
 * A store on a disk that fills up: a real 24 MiB tmpfs when this process may mount one (root, as on
 * the development box), filled by the store's own ingest and by a filler file. Where mounting fails
 * (CI without root), the same test runs against injected faults: every write of the WAL, the cold tier
 * and LevelDB fails with ENOSPC while "full" (test/support/fault-fs.ts), which covers the engine's
 * handling but not LevelDB's own behaviour on a real full disk. Nothing is skipped either way.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { installFaultFs } from "./support/fault-fs.js";

const DAY = 86_400_000;
const START = Date.UTC(2026, 9, 1);

/** Batch b: 20 records with incompressible bodies (about 110 KB in all), spread over two days. */
function batch(b: number): TraceRecord[] {
  return Array.from({ length: 20 }, (_, i) => ({
    kind: "span-open",
    spanId: `s-${b}-${i}`,
    name: "llm.request",
    timestamp: START + (b % 2) * DAY + b * 100 + i,
    extensionId: "disk-full",
    turnId: `turn-${b % 13}`,
    body: randomBytes(4000).toString("base64"),
  }));
}

interface Disk {
  dir: string;
  real: boolean;
  /** Leaves about `bytes` free (a real disk) or makes every write fail (injected). */
  fill(bytes: number): void;
  free(): void;
}

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) {
    try {
      execFileSync("umount", ["-l", m], { stdio: "ignore" });
      rmSync(m, { recursive: true, force: true });
    } catch {
      // left for the OS to clean up
    }
  }
});

function tmpfsDisk(): Disk | undefined {
  const mnt = mkdtempSync(join(tmpdir(), "tracetier-disk-full-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], { stdio: "ignore" });
  } catch {
    rmSync(mnt, { recursive: true, force: true });
    return undefined;
  }
  mounts.push(mnt);
  const filler = join(mnt, "filler");
  const dir = join(mnt, "store");
  mkdirSync(dir);
  return {
    dir,
    real: true,
    fill(bytes) {
      rmSync(filler, { force: true });
      const { bavail, bsize } = statfsSync(mnt);
      const size = Math.max(0, bavail * bsize - bytes);
      try {
        writeFileSync(filler, Buffer.alloc(size));
      } catch {
        // the filler took what there was: the disk is full
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
  };
}

function injectedDisk(): Disk {
  const fs = installFaultFs();
  const dir = mkdtempSync(join(tmpdir(), "tracetier-disk-full-"));
  mounts.push(dir);
  let budget = 0;
  return {
    dir,
    real: false,
    fill(bytes) {
      // a few writes succeed (the space left), then everything fails until freed
      budget = Math.max(1, Math.floor(bytes / 100_000));
      fs.inject({
        op: ["write", "leveldb.write", "leveldb.compact", "leveldb.open", "leveldb.reopen", "mkdir", "open"],
        nth: budget,
        times: Number.POSITIVE_INFINITY,
        kind: "ENOSPC",
      });
    },
    free() {
      fs.clear();
    },
  };
}

async function ingestUntilFull(store: TraceStore, from: number, acked: Set<number>): Promise<number> {
  for (let b = from; b < from + 400; b++) {
    try {
      await store.insertRecords(batch(b));
      acked.add(b);
    } catch (err) {
      expect(err).toMatchObject({ code: "ERR_DISK_FULL" });
      return b + 1;
    }
  }
  throw new Error("the disk never filled");
}

function ids(store: TraceStore): Promise<string[]> {
  return store.query({}).then((rs) => rs.map((r) => (r.kind === "span-open" ? r.spanId : "")).sort());
}

function expected(acked: Set<number>): string[] {
  return [...acked].flatMap((b) => Array.from({ length: 20 }, (_, i) => `s-${b}-${i}`)).sort();
}

async function expectExact(store: TraceStore, acked: Set<number>): Promise<void> {
  const got = await ids(store);
  expect(got).toEqual(expect.arrayContaining(expected(acked))); // nothing acknowledged is lost
  expect(new Set(got).size).toBe(got.length); // nor stored twice
  const s = await store.stats();
  expect(s.hotRecords + s.coldRecords).toBe(got.length);
}

describe("a full disk", () => {
  it("is an ordinary condition: coded errors, nothing lost, writes resume without a restart", async () => {
    const disk = tmpfsDisk() ?? injectedDisk();
    const acked = new Set<number>();
    let store = await openStore({ dir: disk.dir, walSegmentBytes: 1 << 20 });
    for (let b = 0; b < 10; b++) {
      await store.insertRecords(batch(b));
      acked.add(b);
    }

    // ingest fills the disk: ERR_DISK_FULL, not ERR_WAL_FAILED
    disk.fill(1_500_000);
    let next = await ingestUntilFull(store, 10, acked);
    // maintenance on the full disk fails coded, and leaves the counters exact
    const compacted = await store.compact({ now: START + 10 * DAY }).catch((e: unknown) => e);
    if (compacted instanceof Error) expect(compacted).toMatchObject({ code: "ERR_DISK_FULL" });
    await expect(store.insertRecords(batch(next++))).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    await expectExact(store, acked);

    // space comes back: the same instance takes writes and compacts
    disk.free();
    for (let i = 0; i < 3; i++, next++) {
      await store.insertRecords(batch(next));
      acked.add(next);
    }
    await store.compact({ now: START + 10 * DAY });
    await expectExact(store, acked);
    expect((await store.stats()).hotRecords).toBe(0);
    await store.close();

    // opening on a full disk: ERR_DISK_FULL, not LEVEL_DATABASE_NOT_OPEN
    disk.fill(0);
    await expect(openStore({ dir: disk.dir })).rejects.toMatchObject({ code: "ERR_DISK_FULL" });
    disk.free();
    store = await openStore({ dir: disk.dir });
    await expectExact(store, acked);
    await store.close();
  }, 60_000);
});
