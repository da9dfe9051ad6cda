/**
 * Retention: drops whole cold partitions by age and by size, deletes hot records past the age limit,
 * then evicts and collects bodies (gc.ts). Every step is crash-safe (docs/design.md has the table):
 *
 *   1. one manifest commit moves the partitions' files from `files` to `dropped`: from then on no read
 *      sees them, and a crash can never bring them back;
 *   2. their records' index entries in the hot tier (id → key, turn → file) are deleted, and synced;
 *   3. the files are unlinked and the emptied partition directories removed (directory fsynced);
 *   4. a manifest commit forgets them.
 * A crash after 1 leaves the files listed as dropped; `finishDrops` at open redoes 2–4 (step 2 skips a
 * file step 3 already removed: its index entries went before it did).
 */
import { stat } from "node:fs/promises";
import { dayRange, partitionDir } from "../../tiers/cold/layout.js";
import type { ColdFile } from "../../tiers/cold/manifest.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import {
  idKey,
  P_ID,
  P_RECORD,
  P_TURN_FILE,
  parseRecordKey,
  prefixEnd,
  recordKeySeq,
  turnFileKeyFile,
} from "../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../tiers/hot/tier.js";
import { diskBytes } from "../disk-usage.js";
import { fsyncDir } from "../durable-fs.js";
import { fsError, fsys } from "../fs.js";
import type { WritePath } from "../write-path.js";
import type { BodyCollector, HotExpiry } from "./gc.js";
import type { GcResult, PruneResult, RetentionPolicy } from "./policy.js";

/** Hot records deleted per LevelDB write. */
const DELETE_BATCH = 5000;
/** Index deletions per LevelDB write while dropped files are cleaned up. */
const OPS_PER_WRITE = 50_000;
/** Dropped files read at once (their reads overlap on the thread pool). */
const READ_AHEAD = 8;

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
      const dropped = await this.choosePartitions(policy, now);
      const files = this.cold.files.filter((f) => dropped.has(f.date));
      let recordsDeleted = files.reduce((n, f) => n + f.rows, 0);
      if (files.length > 0) {
        const gone = new Set(files);
        await this.cold.commit({
          ...this.cold.manifest,
          generation: this.cold.manifest.generation + 1,
          files: this.cold.files.filter((f) => !gone.has(f)),
          dropped: [...this.cold.manifest.dropped, ...files],
        });
      }
      const coldFreed = await this.finishDrops(new Set(files.map((f) => f.name)));
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
      return { result: { partitionsDropped: dropped.size, recordsDeleted, ...swept, coldFreed }, deleted };
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
   * Dates to drop: those whose whole day lies before the age cutoff, then the oldest others until the
   * cold tier's bytes on disk are at or under the cap (never a newer partition while an older stays).
   */
  private async choosePartitions(policy: RetentionPolicy, now: number): Promise<Set<string>> {
    const dates = this.cold.partitions();
    const drop = new Set<string>();
    if (policy.maxAgeMs !== undefined) {
      for (const d of dates) if (dayRange(d).end <= now - policy.maxAgeMs) drop.add(d);
    }
    if (policy.maxColdBytes === undefined) return drop;
    let total = await diskBytes(this.cold.dir, true);
    for (const d of dates) {
      if (!drop.has(d) && total <= policy.maxColdBytes) break;
      total -= await diskBytes(partitionDir(this.cold.dir, d), true);
      drop.add(d);
    }
    return drop;
  }

  /**
   * Steps 2–4 for every file the manifest lists as dropped. `fresh` names files this very prune
   * dropped: until their id entries go, an insert of one of their ids is a duplicate, so every entry
   * still points at the dropped row and goes without a check. Any other file (a crash's or a failed
   * run's leftover) may have had its entries deleted and an id inserted again since; an entry is then
   * deleted only if it still names the dropped row (by its sequence number).
   *
   * A dropped file that is damaged (not as its manifest entry recorded) must not stop its own removal:
   * its ids are read without the integrity check and each entry checked against its row's sequence
   * number, and its turns' id entries are also found by a scan (idDeletesByScan), which needs no byte
   * of the file. The turn → file entries go last, in the final synced write: while any id entry of a
   * dropped file is left (a crash between writes), the scan still knows the file's turns.
   */
  async finishDrops(fresh: ReadonlySet<string> = new Set()): Promise<number> {
    const dropped = this.cold.manifest.dropped;
    if (dropped.length === 0) return 0;
    const ops: BatchOp[] = [];
    const flush = async (sync: boolean) => {
      const part = ops.splice(0);
      await this.writes.maintain((c) => ({ ops: part, counters: c }), sync);
    };
    const damaged: ColdFile[] = [];
    for (let i = 0; i < dropped.length; i += READ_AHEAD) {
      const group = dropped.slice(i, i + READ_AHEAD);
      const found = await Promise.all(group.map((f) => this.cold.droppedRowIds(f.name, !fresh.has(f.name))));
      for (const [j, f] of group.entries()) {
        const ids = found[j];
        if (ids === undefined) continue; // removed by step 3 of an earlier run: its entries went first
        if (!ids.sound) damaged.push(f);
        if (ids.rows) ops.push(...(await this.idDeletes(ids.rows, !ids.sound || !fresh.has(f.name))));
      }
      if (ops.length >= OPS_PER_WRITE) await flush(false);
    }
    if (damaged.length > 0) ops.push(...(await this.idDeletesByScan(damaged)));
    ops.push(...(await this.turnFileDeletes(new Set(dropped.map((f) => f.name)))));
    await flush(true); // step 2 is durable before any file goes
    await this.quiesceReads(); // a read that listed a dropped file before step 1 may still open it
    let freed = 0;
    for (const f of dropped) freed += await removeFile(this.cold.path(f.name));
    for (const date of new Set(dropped.map((f) => f.date))) {
      freed += await removeIfEmpty(partitionDir(this.cold.dir, date));
    }
    await fsyncDir(this.cold.dir);
    await this.cold.commit({
      ...this.cold.manifest,
      generation: this.cold.manifest.generation + 1,
      dropped: [],
    });
    return freed;
  }

  /**
   * `finishDrops` at open: what a crash (or a failed prune) left is finished if it can be, but never
   * fails the open. The files stay listed as dropped (no read opens them) and the next prune, or the
   * next open, tries again; meanwhile an insert of one of their ids counts as a duplicate.
   */
  async finishDropsAtOpen(): Promise<void> {
    try {
      await this.finishDrops();
    } catch {
      // Left for the next prune or open (see above): the store is consistent without it.
    }
  }

  /** The turn → file entries that name any of `names` (one pass over that keyspace). */
  private async turnFileDeletes(names: ReadonlySet<string>): Promise<BatchOp[]> {
    const ops: BatchOp[] = [];
    const p = Buffer.of(P_TURN_FILE);
    for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false)) {
      for (const [key] of batch) if (names.has(turnFileKeyFile(key))) ops.push({ type: "del", key });
    }
    return ops;
  }

  /** Deletes of the rows' id entries; with `verify`, only of entries that still name these rows. */
  private async idDeletes(rows: { id: string; seq: number }[], verify: boolean): Promise<BatchOp[]> {
    const keys = rows.map((r) => idKey(r.id));
    if (!verify) return keys.map((key) => ({ type: "del", key }));
    // In key order, so that neighbouring lookups share LevelDB's blocks.
    const order = keys.map((_, i) => i).sort((a, b) => Buffer.compare(keys[a]!, keys[b]!));
    if (!this.hot.isOpen) await this.hot.opened(); // a reopen after a failed write (HotTier)
    const current = this.hot.getManySync(order.map((i) => keys[i]!));
    const ops: BatchOp[] = [];
    order.forEach((i, j) => {
      const pk = current[j];
      if (pk !== undefined && recordKeySeq(pk) === rows[i]!.seq) ops.push({ type: "del", key: keys[i]! });
    });
    return ops;
  }

  /**
   * The id entries of damaged dropped files, found without reading them. An id entry's value is its
   * record's primary key (turn, timestamp, seq), which a move to the cold tier deletes and the id entry
   * keeps naming. An entry belongs to a damaged file when its record is not in the hot tier, its turn has
   * a turn → file entry naming that file and its timestamp lies in the file's [minTs, maxTs]; it is kept
   * when a listed file could hold the same record (the same turn and a range that covers it), since
   * deleting a live record's id entry would let its id in again. What is kept names no record of a
   * listed file only in that rare overlap, which `verify --repair` removes once the overlap is gone.
   */
  private async idDeletesByScan(damaged: readonly ColdFile[]): Promise<BatchOp[]> {
    const live = new Map(this.cold.files.map((f) => [f.name, f]));
    const damagedOf = new Map<string, ColdFile[]>(); // turn → damaged files naming it
    const liveOf = new Map<string, ColdFile[]>(); // turn → live files naming it, for those turns
    const p = Buffer.of(P_TURN_FILE);
    const turnFiles = (values: boolean) => this.hot.entries({ gte: p, lt: prefixEnd(p) }, values);
    // Two passes, so that only the live entries of the damaged files' turns are held.
    for await (const batch of turnFiles(false)) {
      for (const [key] of batch) {
        const file = damaged.find((f) => f.name === turnFileKeyFile(key));
        if (file) push(damagedOf, turnFileKeyTurn(key), file);
      }
    }
    if (damagedOf.size === 0) return [];
    for await (const batch of turnFiles(false)) {
      for (const [key] of batch) {
        const file = live.get(turnFileKeyFile(key));
        const turn = file && turnFileKeyTurn(key);
        if (file && damagedOf.has(turn!)) push(liveOf, turn!, file);
      }
    }
    const covers = (files: ColdFile[] | undefined, ts: number) =>
      files?.some((f) => f.minTs <= ts && ts <= f.maxTs) ?? false;
    const ops: BatchOp[] = [];
    const p2 = Buffer.of(P_ID);
    for await (const batch of this.hot.entries({ gte: p2, lt: prefixEnd(p2) })) {
      const candidates = batch.filter(([, pk]) => {
        if (pk[0] !== P_RECORD) return false;
        const { turnId, ts } = parseRecordKey(pk);
        return covers(damagedOf.get(turnId), ts) && !covers(liveOf.get(turnId), ts);
      });
      if (candidates.length === 0) continue;
      if (!this.hot.isOpen) await this.hot.opened();
      const present = this.hot.getManySync(candidates.map(([, pk]) => pk));
      candidates.forEach(([key], i) => {
        if (present[i] === undefined) ops.push({ type: "del", key });
      });
    }
    return ops;
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

/** The turn a turn → file key names. */
function turnFileKeyTurn(key: Buffer): string {
  return key.toString("utf8", 5, 5 + key.readUInt32BE(1));
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
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

/** `stat` is not part of the fs seam (src/fs.ts); its errors are coded the way the seam codes them. */
async function coded<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fsError(what, err);
  }
}
