/**
 * Lifecycle and wiring: `openStore` takes the directory's lock (LevelDB's), replays the WAL into the
 * hot tier, starts a fresh WAL segment, and hands calls to the write path and the reader.
 *
 * Directory layout:  dir/hot/  LevelDB (records, indexes, bodies, counters)
 *                    dir/wal/  WAL segments (docs/format.md)
 *
 * WAL segments are released by checkpoints: a synced LevelDB write (which makes every earlier write
 * durable, LevelDB's own log being sequential) after which segments whose records are all applied are
 * deleted. That is the only way WAL data goes away, so an acknowledged record is always either in a
 * WAL segment or durably in the hot tier.
 */
import { mkdir, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ColdTier } from "../tiers/cold/tier.js";
import { HotTier } from "../tiers/hot/tier.js";
import { readWal } from "../wal/reader.js";
import { listSegments } from "../wal/segments.js";
import { WalWriter } from "../wal/writer.js";
import { decodeBatch } from "./batch.js";
import { DEFAULT_CHUNKING } from "./bodies/chunker.js";
import { BodyStore } from "./bodies/store.js";
import { type CompactOptions, Compactor, type CompactResult } from "./compaction.js";
import { renderEasyView } from "./easy-view.js";
import { ClosedError, InvalidOptionError } from "./errors.js";
import { Reader } from "./read.js";
import { countersOp, loadCounters } from "./state.js";
import type {
  ChunkingOptions,
  InsertResult,
  Query,
  StoredRecord,
  StoreOptions,
  StoreStats,
  TraceRecord,
  TurnOptions,
} from "./types.js";
import { WritePath } from "./write-path.js";

export interface TraceStore {
  /** Stores the records (idempotently, by id); resolves once they are durable and visible. */
  insertRecords(records: readonly TraceRecord[]): Promise<InsertResult>;
  /** The turn's records in (timestamp, insertion) order; `[]` for an unknown or empty id. */
  getTurn(turnId: string, opts?: TurnOptions): Promise<StoredRecord[]>;
  /** The record's body; `undefined` for an unknown record or one without a body. */
  getBody(recordId: string): Promise<string | undefined>;
  query(q: Query): Promise<StoredRecord[]>;
  easyView(turnId: string): Promise<string>;
  stats(): Promise<StoreStats>;
  /**
   * Moves hot records older than `now - olderThanMs` (default 24 h) into the cold tier's
   * date-partitioned Parquet files, and merges small files. One maintenance job runs at a time.
   */
  compact(opts?: CompactOptions): Promise<CompactResult>;
  /** Waits for writes in flight, makes everything acknowledged durable, and releases the directory. */
  close(): Promise<void>;
}

const DEFAULTS = {
  durability: "sync",
  syncIntervalMs: 100,
  walSegmentBytes: 32 * 1024 * 1024,
  chunkCacheBytes: 64 * 1024 * 1024,
} as const;

export async function openStore(options: StoreOptions): Promise<TraceStore> {
  const opts = checkOptions(options);
  const dir = resolve(opts.dir);
  await mkdir(join(dir, "wal"), { recursive: true });
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    return await Store.start(dir, hot, opts);
  } catch (err) {
    await hot.close();
    throw err;
  }
}

type CheckedOptions = Required<Omit<StoreOptions, "chunking">> & { chunking: ChunkingOptions };

class Store implements TraceStore {
  private readonly hot: HotTier;
  private readonly wal: WalWriter;
  private readonly writes: WritePath;
  private readonly reader: Reader;
  private readonly cold: ColdTier;
  private readonly compactor: Compactor;
  private maintenance: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private checkpointing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();

  private constructor(hot: HotTier, wal: WalWriter, writes: WritePath, reader: Reader, cold: ColdTier) {
    this.hot = hot;
    this.wal = wal;
    this.writes = writes;
    this.reader = reader;
    this.cold = cold;
    this.compactor = new Compactor(hot, cold, writes);
    writes.onApplied = () => this.maybeCheckpoint();
  }

  static async start(dir: string, hot: HotTier, opts: CheckedOptions): Promise<Store> {
    const walDir = join(dir, "wal");
    const bodies = new BodyStore(hot, opts.chunking, opts.chunkCacheBytes);
    const writes = new WritePath(hot, bodies, await loadCounters(hot));
    const log = await readWal(walDir);
    let lastSeq = 0;
    for (const payload of log.frames) {
      const batch = decodeBatch(payload);
      await writes.replay(batch);
      lastSeq = Math.max(lastSeq, batch.lastSeq);
    }
    // Everything replayed is made durable in the hot tier before the segments that held it go.
    await hot.write([countersOp(writes.counters)], true);
    for (const seg of await listSegments(walDir)) await unlink(seg.path);
    const wal = await WalWriter.create(
      {
        dir: walDir,
        durability: opts.durability,
        syncIntervalMs: opts.syncIntervalMs,
        segmentBytes: opts.walSegmentBytes,
      },
      log.lastSegmentNo + 1,
    );
    writes.attachWal(wal, lastSeq);
    try {
      // The hot tier is complete now; bring it up to the cold manifest (a crash may have left a step 3).
      const cold = await ColdTier.open(join(dir, "cold"));
      const store = new Store(hot, wal, writes, new Reader(hot, bodies, cold), cold);
      await store.compactor.recover();
      return store;
    } catch (err) {
      await wal.close();
      throw err;
    }
  }

  insertRecords(records: readonly TraceRecord[]): Promise<InsertResult> {
    return this.call(() => this.writes.insert(records));
  }

  getTurn(turnId: string, opts?: TurnOptions): Promise<StoredRecord[]> {
    return this.call(() => this.reader.getTurn(turnId, opts?.bodies !== false));
  }

  getBody(recordId: string): Promise<string | undefined> {
    return this.call(() => this.reader.getBody(recordId));
  }

  query(q: Query): Promise<StoredRecord[]> {
    return this.call(() => this.reader.query(q));
  }

  easyView(turnId: string): Promise<string> {
    return this.call(() => this.renderTurn(turnId));
  }

  private async renderTurn(turnId: string): Promise<string> {
    const records = await this.reader.turnRecords(turnId);
    const sizes = await this.reader.bodySizes(records);
    const thin = await this.reader.hydrate(records, false);
    return renderEasyView(
      thin.map((record, i) => {
        const hash = records[i]!.bodyHash;
        return { record, bodyBytes: hash ? sizes.get(Buffer.from(hash).toString("hex")) : undefined };
      }),
    );
  }

  stats(): Promise<StoreStats> {
    return this.call(async () => this.currentStats());
  }

  private currentStats(): StoreStats {
    const c = this.writes.counters;
    return {
      hotRecords: c.hotRecords,
      coldRecords: this.cold.records(),
      coldPartitions: this.cold.partitions().length,
      bodies: c.bodies,
      bodyBytesStored: c.bodyBytesStored,
      bodyBytesOriginal: c.bodyBytesOriginal,
      walBytes: this.wal.bytes(),
    };
  }

  compact(opts?: CompactOptions): Promise<CompactResult> {
    return this.call(() => this.exclusive(() => this.compactor.compact(opts)));
  }

  /** One maintenance job at a time (compaction now; retention with the next issue). */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(job);
    this.maintenance = run.catch(() => {});
    return run;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    try {
      // Calls accepted before close() finish first: their records are acknowledged and durable.
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      await this.writes.drain();
      await this.checkpointing;
      await this.wal.rotate().catch(() => {});
      await this.checkpoint().catch(() => {});
      await this.wal.close();
    } finally {
      await this.hot.close();
    }
  }

  /** Runs a public call unless the store is closing, and tracks it so close() can wait for it. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ClosedError());
    const run = fn();
    this.inflight.add(run);
    const forget = () => this.inflight.delete(run);
    run.then(forget, forget);
    return run;
  }

  /** After an apply: if a sealed WAL segment is fully applied, checkpoint and release it. */
  private maybeCheckpoint(): void {
    if (this.checkpointing || this.wal.releasableUpTo(this.writes.counters.appliedSeq) === 0) return;
    this.checkpointing = this.checkpoint()
      .catch(() => {}) // a failed checkpoint only keeps WAL segments longer; the next one retries
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /**
   * A synced write of the counters, in the same ordered chain as batches and compaction (a direct
   * write could land after a compaction's and put back counters read before it); then the WAL segments
   * it covers go.
   */
  private async checkpoint(): Promise<void> {
    let durableSeq = 0;
    await this.writes.maintain((c) => {
      durableSeq = c.appliedSeq;
      return { ops: [], counters: c };
    });
    await this.wal.release(durableSeq);
  }
}

function checkOptions(o: StoreOptions): CheckedOptions {
  if (typeof o !== "object" || o === null) throw new InvalidOptionError("options", "must be an object");
  if (typeof o.dir !== "string" || o.dir === "")
    throw new InvalidOptionError("dir", "must be a directory path");
  const durability = o.durability ?? DEFAULTS.durability;
  if (!["sync", "interval", "none"].includes(durability)) {
    throw new InvalidOptionError("durability", 'must be "sync", "interval" or "none"');
  }
  const syncIntervalMs = positive(o.syncIntervalMs ?? DEFAULTS.syncIntervalMs, "syncIntervalMs");
  const walSegmentBytes = positive(o.walSegmentBytes ?? DEFAULTS.walSegmentBytes, "walSegmentBytes");
  const chunkCacheBytes = o.chunkCacheBytes ?? DEFAULTS.chunkCacheBytes;
  if (!(Number.isSafeInteger(chunkCacheBytes) && chunkCacheBytes >= 0)) {
    throw new InvalidOptionError("chunkCacheBytes", "must be a whole number of bytes, 0 or more");
  }
  const chunking = { ...DEFAULT_CHUNKING, ...o.chunking };
  const { inlineMax, minSize, avgSize, maxSize } = chunking;
  if (!(minSize > 0 && minSize <= avgSize && avgSize <= maxSize && inlineMax >= 0)) {
    throw new InvalidOptionError("chunking", "needs 0 < minSize <= avgSize <= maxSize and inlineMax >= 0");
  }
  return { dir: o.dir, durability, syncIntervalMs, walSegmentBytes, chunkCacheBytes, chunking };
}

function positive(v: number, name: string): number {
  if (!(Number.isFinite(v) && v > 0)) throw new InvalidOptionError(name, "must be a positive number");
  return v;
}
