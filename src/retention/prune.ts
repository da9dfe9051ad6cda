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
import { readdir, rmdir, stat, unlink } from "node:fs/promises";
import { dayRange, partitionDir } from "../../tiers/cold/layout.js";
import type { ColdFile } from "../../tiers/cold/manifest.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import { convKey, idKey, recordKey, timeKey, turnFileKey } from "../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../tiers/hot/tier.js";
import type { HotRecord } from "../../tiers/hot/values.js";
import { diskBytes } from "../disk-usage.js";
import { fsyncDir } from "../durable-fs.js";
import type { WritePath } from "../write-path.js";
import type { BodyCollector } from "./gc.js";
import type { PruneResult, RetentionPolicy } from "./policy.js";

/** Hot records deleted per LevelDB write. */
const DELETE_BATCH = 5000;

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
    const hotBefore = await diskBytes(this.hotDir);
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
    const coldFreed = await this.finishDrops();
    if (policy.maxAgeMs !== undefined) recordsDeleted += await this.deleteHot(now - policy.maxAgeMs);
    const swept = await this.collector.collect({
      bodyCutoff: policy.maxBodyAgeMs === undefined ? undefined : now - policy.maxBodyAgeMs,
      maxStoredBytes: policy.maxTotalBodyBytes,
    });
    await this.hot.compactAll(); // deleted entries give their space back only when LevelDB rewrites them
    const hotFreed = Math.max(0, hotBefore - (await diskBytes(this.hotDir)));
    return {
      partitionsDropped: dropped.size,
      recordsDeleted,
      ...swept,
      bytesReclaimed: coldFreed + hotFreed,
    };
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

  /** Steps 2–4 for every file the manifest lists as dropped. Returns the bytes freed on disk. */
  async finishDrops(): Promise<number> {
    const dropped = this.cold.manifest.dropped;
    if (dropped.length === 0) return 0;
    for (const f of dropped) {
      const rows = await this.cold.rowKeys(f.name);
      if (rows) await this.writes.maintain((c) => ({ ops: this.indexDeletes(f, rows), counters: c }), false);
    }
    await this.writes.maintain((c) => ({ ops: [], counters: c }), true);
    await this.quiesceReads(); // a read that listed a dropped file before step 1 may still open it
    let freed = 0;
    for (const f of dropped) freed += await removeFile(this.cold.path(f.name));
    for (const date of new Set(dropped.map((f) => f.date)))
      freed += await removeIfEmpty(partitionDir(this.cold.dir, date));
    await fsyncDir(this.cold.dir);
    await this.cold.commit({
      ...this.cold.manifest,
      generation: this.cold.manifest.generation + 1,
      dropped: [],
    });
    return freed;
  }

  /**
   * The hot tier's entries for a dropped file's rows: turn → file, and id → key where the id still
   * points at this cold row (a record inserted again since, with the same id, has a new key and stays).
   */
  private indexDeletes(
    f: ColdFile,
    rows: { id: string; turnId: string; ts: number; seq: number }[],
  ): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const turn of new Set(rows.map((r) => r.turnId)))
      ops.push({ type: "del", key: turnFileKey(turn, f.name) });
    const ids = rows.map((r) => idKey(r.id));
    const current = this.hot.getManySync(ids);
    rows.forEach((r, i) => {
      if (current[i]?.equals(recordKey(r.turnId, r.ts, r.seq))) ops.push({ type: "del", key: ids[i]! });
    });
    return ops;
  }

  /** Deletes hot records with `timestamp < cutoff`, and their index entries. Returns how many. */
  private async deleteHot(cutoff: number): Promise<number> {
    let deleted = 0;
    let batch: HotRecord[] = [];
    const flush = async () => {
      const n = batch.length;
      const ops = batch.flatMap(deletesFor);
      batch = [];
      await this.writes.maintain((c) => ({ ops, counters: { ...c, hotRecords: c.hotRecords - n } }), false);
      deleted += n;
    };
    for await (const r of this.hot.byTime(undefined, cutoff, false)) {
      batch.push(r);
      if (batch.length >= DELETE_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    if (deleted > 0) await this.writes.maintain((c) => ({ ops: [], counters: c }), true);
    return deleted;
  }
}

function deletesFor(r: HotRecord): BatchOp[] {
  const { turnId, conversationId, timestamp } = r.record;
  const ops: BatchOp[] = [
    { type: "del", key: recordKey(turnId, timestamp, r.seq) },
    { type: "del", key: timeKey(timestamp, r.seq) },
    { type: "del", key: idKey(r.id) },
  ];
  if (conversationId !== undefined) ops.push({ type: "del", key: convKey(conversationId, timestamp, r.seq) });
  return ops;
}

/** Unlinks a file (already gone is fine: a crash after this step) and returns its size on disk. */
async function removeFile(path: string): Promise<number> {
  try {
    const { blocks } = await stat(path);
    await unlink(path);
    return blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

async function removeIfEmpty(dir: string): Promise<number> {
  try {
    if ((await readdir(dir)).length > 0) return 0;
    const { blocks } = await stat(dir);
    await rmdir(dir);
    return blocks * 512;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}
