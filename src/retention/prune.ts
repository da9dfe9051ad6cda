/**
 * Retention: drops whole cold hours by age and by size, deletes hot records past the age limit, then
 * evicts and collects bodies (gc.ts). Dropping cold files costs O(files), nothing per record: the
 * files carry their own lookup filters and the hot tier keeps nothing of theirs. Crash-safe in order:
 *
 *   1. one manifest commit leaves the files out: from then on no read sees them, and a crash can
 *      never bring them back (the open's sweep removes files no manifest lists);
 *   2. once the reads that listed them before 1 are done, the files are unlinked, each with its search
 *      sidecar (`.idx`), and emptied partition directories removed (directories fsynced).
 * A manifest written by an older version may still list files as `dropped` (its clean-up then also
 * deleted their hot index entries): the upgrade at open deletes those entries, `finishDrops` the files.
 */
import { stat } from "node:fs/promises";
import { partitionDir } from "../../tiers/cold/layout.js";
import type { ColdFile } from "../../tiers/cold/manifest.js";
import { sidecarPath } from "../../tiers/cold/parquet.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { diskBytes } from "../base/disk-usage.js";
import { fsyncDir } from "../base/durable-fs.js";
import { fsError, fsys } from "../base/fs.js";
import type { WritePath } from "../write/path.js";
import type { BodyCollector, HotExpiry } from "./gc.js";
import type { GcResult, PruneResult, RetentionPolicy } from "./policy.js";

/** Hot records deleted per LevelDB write. */
const DELETE_BATCH = 5000;
const HOUR_MS = 3_600_000;
const UNLINKS_AT_ONCE = 16;

export class Pruner {
  private readonly hot: HotTier;
  private readonly cold: ColdTier;
  private readonly writes: WritePath;
  private readonly collector: BodyCollector;
  private readonly quiesceReads: () => Promise<void>;
  private readonly hotDir: string;

  constructor(
    hot: HotTier,
    cold: ColdTier,
    writes: WritePath,
    collector: BodyCollector,
    quiesceReads: () => Promise<void>,
    hotDir: string,
  ) {
    this.hot = hot;
    this.cold = cold;
    this.writes = writes;
    this.collector = collector;
    this.quiesceReads = quiesceReads;
    this.hotDir = hotDir;
  }

  async prune(policy: RetentionPolicy, now: number): Promise<PruneResult> {
    const clock = stopwatch();
    const timings = { dropMs: 0, hotMs: 0, bodiesMs: 0, reclaimMs: 0 };
    const { result, freed } = await this.reclaiming(async () => {
      const files = await this.chooseFiles(policy, now);
      let recordsDeleted = files.reduce((n, f) => n + f.rows, 0);
      const datesBefore = new Set(this.cold.partitions());
      if (files.length > 0) await this.cold.apply({ remove: files });
      const coldFreed = (await this.removeFiles(files)) + (await this.finishDrops());
      const after = new Set(this.cold.partitions());
      const dropped = [...datesBefore].filter((d) => !after.has(d));
      timings.dropMs = clock();
      const hot = { deleted: 0 };
      const expire =
        policy.maxAgeMs === undefined
          ? undefined
          : this.hotExpiry(now - policy.maxAgeMs, hot, () => (timings.hotMs = clock()));
      const swept = await this.collector.collect(
        {
          bodyCutoff: policy.maxBodyAgeMs === undefined ? undefined : now - policy.maxBodyAgeMs,
          maxStoredBytes: policy.maxTotalBodyBytes,
        },
        expire,
      );
      recordsDeleted += hot.deleted;
      timings.bodiesMs = clock();
      const deleted = recordsDeleted + swept.bodiesDeleted + swept.chunksDeleted;
      const result = {
        partitionsDropped: dropped.length,
        filesDropped: files.length,
        recordsDeleted,
        ...swept,
        coldFreed,
      };
      return { result, deleted };
    });
    timings.reclaimMs = clock();
    const { coldFreed, ...counts } = result;
    return { ...counts, bytesReclaimed: coldFreed + freed, timings };
  }

  /** Body GC alone (`store.gc()`), with the hot tier's space given back. */
  async gc(): Promise<GcResult> {
    const { result, freed } = await this.reclaiming(async () => {
      const swept = await this.collector.collect();
      return { result: swept, deleted: swept.bodiesDeleted + swept.chunksDeleted };
    });
    return {
      bodiesDeleted: result.bodiesDeleted,
      chunksDeleted: result.chunksDeleted,
      bytesReclaimed: freed,
    };
  }

  /**
   * Runs `work`, then, if it deleted anything, rewrites the hot tier so that the deleted entries give
   * their space back; `freed` is how much `du` of hot/ fell by. The memtable is flushed first: a value
   * and its delete flushed together can land in one table at the deepest level and stay (HotTier).
   */
  private async reclaiming<T>(
    work: () => Promise<{ result: T; deleted: number }>,
  ): Promise<{ result: T; freed: number }> {
    await this.hot.flushMemtable();
    const before = await diskBytes(this.hotDir);
    const { result, deleted } = await work();
    if (deleted > 0) await this.hot.compactAll();
    return { result, freed: Math.max(0, before - (await diskBytes(this.hotDir))) };
  }

  /**
   * Files to drop: those whose UTC hour has ended by the age cutoff (a file holds one hour at most),
   * then the oldest hours' files until the cold tier's bytes on disk are at or under the cap (never a
   * newer hour while an older one stays).
   */
  private async chooseFiles(policy: RetentionPolicy, now: number): Promise<ColdFile[]> {
    const byHour = new Map<number, ColdFile[]>();
    for (const f of this.cold.files) push(byHour, hourOf(f.maxTs), f);
    const hours = [...byHour.keys()].sort((a, b) => a - b);
    const drop: ColdFile[] = [];
    let kept = 0;
    if (policy.maxAgeMs !== undefined) {
      const cutoff = now - policy.maxAgeMs;
      for (; kept < hours.length && (hours[kept]! + 1) * HOUR_MS <= cutoff; kept++)
        drop.push(...byHour.get(hours[kept]!)!);
    }
    if (policy.maxColdBytes === undefined) return drop;
    let total = await diskBytes(this.cold.dir, true);
    for (const f of drop) total -= await allocatedWithSidecar(this.cold.path(f.name));
    for (; kept < hours.length && total > policy.maxColdBytes; kept++) {
      for (const f of byHour.get(hours[kept]!)!) {
        total -= await allocatedWithSidecar(this.cold.path(f.name));
        drop.push(f);
      }
    }
    return drop;
  }

  /**
   * Step 2: unlinks files the manifest no longer lists, once no read that listed them before the
   * commit can still open them, and the partition directories that leaves empty. Returns the bytes
   * the file system got back.
   */
  private async removeFiles(files: readonly ColdFile[]): Promise<number> {
    if (files.length === 0) return 0;
    await this.quiesceReads();
    let freed = 0;
    // Unlinks overlap on the thread pool (a month of hourly files is 720 of them).
    for (let i = 0; i < files.length; i += UNLINKS_AT_ONCE) {
      const sizes = files.slice(i, i + UNLINKS_AT_ONCE).map((f) => removeWithSidecar(this.cold.path(f.name)));
      // All settled before a failure is thrown: nothing of a prune may still run once it has returned.
      for (const r of await Promise.allSettled(sizes)) {
        if (r.status === "rejected") throw r.reason;
        freed += r.value;
      }
    }
    for (const date of new Set(files.map((f) => f.date))) {
      freed += await removeIfEmpty(partitionDir(this.cold.dir, date));
    }
    // Not needed for safety (a file that comes back after a power loss is unlisted: the open sweeps it),
    // but the space should be back for good once a prune returns.
    await fsyncDir(this.cold.dir);
    return freed;
  }

  /**
   * Files an older version's manifest still lists as dropped (a clean-up it had not finished): the
   * upgrade at open has deleted their hot index entries, so they go like any dropped file, and a
   * commit forgets them.
   */
  async finishDrops(): Promise<number> {
    const dropped = this.cold.manifest.dropped;
    if (dropped.length === 0) return 0;
    const freed = await this.removeFiles(dropped);
    await this.cold.apply({ clearDropped: true });
    return freed;
  }

  /**
   * `finishDrops` at open: never fails the open. The files stay listed as dropped (no read opens
   * them) and the next prune, or the next open, tries again.
   */
  async finishDropsAtOpen(): Promise<void> {
    try {
      await this.finishDrops();
    } catch {
      // Left for the next prune or open (see above): the store is consistent without it.
    }
  }

  /**
   * Deletes hot records with `timestamp < cutoff`, and their index entries, in the GC's pass over the
   * hot records (HotExpiry); `count.deleted` says how many. Each write deletes whole records, unsynced;
   * once the pass is over one synced write makes them durable. A crash in between leaves a prefix of the
   * writes (LevelDB's log is sequential): some old records gone, every other one whole, and the next
   * prune deletes the rest.
   */
  private hotExpiry(cutoff: number, count: { deleted: number }, done: () => void): HotExpiry {
    return {
      cutoff,
      batch: DELETE_BATCH,
      apply: async (ops, records) => {
        await this.writes.maintain(
          (c) => ({ ops, counters: { ...c, hotRecords: c.hotRecords - records } }),
          false,
        );
        count.deleted += records;
      },
      marked: async () => {
        if (count.deleted > 0) await this.writes.maintain((c) => ({ ops: [], counters: c }), true);
        done();
      },
    };
  }
}

/** Each call returns the ms since the previous one. */
function stopwatch(): () => number {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - last;
    last = now;
    return Math.round(ms * 10) / 10;
  };
}

function hourOf(ts: number): number {
  return Math.floor(ts / HOUR_MS);
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
}

/** The bytes a file holds on disk (0 when it is gone). */
async function allocated(path: string): Promise<number> {
  try {
    return (await coded(`reading the size of ${path}`, () => stat(path))).blocks * 512;
  } catch (err) {
    ignoreMissing(err);
    return 0;
  }
}

function push<K, T>(map: Map<K, T[]>, key: K, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The bytes a cold file and its search sidecar hold on disk. */
async function allocatedWithSidecar(path: string): Promise<number> {
  return (await allocated(path)) + (await allocated(sidecarPath(path)));
}

/**
 * Unlinks a cold file, then its search sidecar (none, for a file an older version wrote); returns the
 * bytes they held. A crash in between leaves an unlisted sidecar: the open's sweep removes it.
 */
async function removeWithSidecar(path: string): Promise<number> {
  return (await removeFile(path)) + (await removeFile(sidecarPath(path)));
}

/** Unlinks a file (already gone is fine: a crash after this step) and returns its size on disk. */
async function removeFile(path: string): Promise<number> {
  try {
    const { blocks } = await coded(`reading the size of ${path}`, () => stat(path));
    await fsys.unlink(path);
    return blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

async function removeIfEmpty(dir: string): Promise<number> {
  try {
    if ((await fsys.readdir(dir)).length > 0) return 0;
    const { blocks } = await coded(`reading the size of ${dir}`, () => stat(dir));
    await fsys.rmdir(dir);
    return blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/** `stat` is not part of the fs seam (src/base/fs.ts); its errors are coded the way the seam codes them. */
async function coded<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fsError(what, err);
  }
}
