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
import { join, resolve } from "node:path";
import { type IndexColdFilesResult, indexColdFiles } from "../tiers/cold/sidecars.js";
import { ColdTier } from "../tiers/cold/tier.js";
import { HotTier } from "../tiers/hot/tier.js";
import { readWal } from "../wal/reader.js";
import { listSegments } from "../wal/segments.js";
import { WalWriter } from "../wal/writer.js";
import { ClosedError, InvalidOptionError } from "./base/errors.js";
import { fsError, fsys } from "./base/fs.js";
import { DEFAULT_CHUNKING } from "./bodies/chunker.js";
import { BodyStore } from "./bodies/store.js";
import { type CompactOptions, Compactor, type CompactResult } from "./maintenance/compaction.js";
import {
  type MaintenanceJobs,
  type MaintenanceOptions,
  type MaintenanceSchedule,
  scheduleMaintenance,
} from "./maintenance/schedule.js";
import { upgrade } from "./maintenance/upgrade.js";
import { liveRepairRefused, type VerifyReport, verifyOpen } from "./maintenance/verify.js";
import { renderEasyView } from "./read/easy-view.js";
import { type HotSince, hotSince } from "./read/hot-since.js";
import { Reader } from "./read/reader.js";
import { requestDiff } from "./read/request-diff.js";
import { TurnLister } from "./read/turns.js";
import type { Prepared } from "./records/prepare.js";
import { BodyCollector } from "./retention/gc.js";
import {
  checkPolicy,
  type GcOptions,
  type GcResult,
  type PruneOptions,
  type PruneResult,
  type RetentionPolicy,
} from "./retention/policy.js";
import { Pruner } from "./retention/prune.js";
import { ChunkIndex } from "./search/chunks/index.js";
import { HotRecordIndex } from "./search/hot-records.js";
import { search } from "./search/search.js";
import type {
  ChunkingOptions,
  InsertResult,
  Query,
  RequestDiff,
  SearchOptions,
  SearchResult,
  StoredRecord,
  StoreOptions,
  StoreStats,
  TraceRecord,
  TurnOptions,
  TurnsPage,
  TurnsQuery,
  UsageQuery,
  UsageReport,
} from "./types.js";
import { countersOp, loadCounters } from "./write/counters.js";
import { type AppliedRecord, WritePath } from "./write/path.js";

export interface TraceStore {
  /** Stores the records (idempotently, by id); resolves once they are durable and visible. */
  insertRecords(records: readonly TraceRecord[]): Promise<InsertResult>;
  /** The turn's records in (timestamp, insertion) order; `[]` for an unknown or empty id. */
  getTurn(turnId: string, opts?: TurnOptions): Promise<StoredRecord[]>;
  /** The record's body; `undefined` for an unknown record or one without a body. */
  getBody(recordId: string): Promise<string | undefined>;
  query(q: Query): Promise<StoredRecord[]>;
  /**
   * Turns summed over every record they have in both tiers, newest first by default, a page at a time
   * (pass a page's `nextCursor` as `cursor` for the next one).
   */
  turns(q?: TurnsQuery): Promise<TurnsPage>;
  /** LLM token usage by UTC day (of each call's start) and model, over both tiers. */
  usage(q?: UsageQuery): Promise<UsageReport>;
  /**
   * Records whose bodies, log messages, span names or attribute values match the query (words,
   * "phrases", -exclusions, name:, model:, attr.KEY:), newest first; exact (docs/search.md).
   */
  search(q: string, opts?: SearchOptions): Promise<SearchResult>;
  easyView(turnId: string): Promise<string>;
  /**
   * What the record's body (an LLM request) changed since the previous request of its conversation (a
   * record of the same kind with a body, before it); `undefined` for an unknown record or one without a
   * body.
   */
  requestDiff(recordId: string): Promise<RequestDiff | undefined>;
  stats(): Promise<StoreStats>;
  /**
   * Moves hot records older than `now - olderThanMs` (default 24 h) into the cold tier's
   * date-partitioned Parquet files, and merges small files. One maintenance job runs at a time.
   */
  compact(opts?: CompactOptions): Promise<CompactResult>;
  /**
   * Applies a retention policy: drops whole cold partitions by age and size, deletes hot records past
   * `maxAgeMs`, evicts bodies by the payload clock and the body cap (their records stay, marked
   * `bodyEvicted`), then collects bodies no record refers to.
   */
  prune(policy: RetentionPolicy, opts?: PruneOptions): Promise<PruneResult>;
  /** Deletes bodies and chunks that no record refers to; safe while inserts run. */
  gc(opts?: GcOptions): Promise<GcResult>;
  /** Runs compaction and prune on cron schedules until `stop()` or `close()`. */
  startMaintenance(schedule: MaintenanceSchedule, options?: MaintenanceOptions): MaintenanceJobs;
  /** Waits for writes in flight, makes everything acknowledged durable, and releases the directory. */
  close(): Promise<void>;
}

/** The store's entry for prepared records; not reachable from the public API (src/index.ts). */
const INSERT_PREPARED = Symbol("insertPrepared");
/** The store's entry for warming the turns list; not reachable from the public API either. */
const WARM_TURNS = Symbol("warmTurns");
const WARM_SEARCH = Symbol("warmSearch");
/** The store's own files, for `tracetier dump` through a running collector; not public either. */
const INSPECT = Symbol("inspect");

const VERIFY = Symbol("verify");
/** The store's entries for `tracetier tail` (followRecords, hotRecordsSince below). */
const FOLLOW = Symbol("follow");
const HOT_SINCE = Symbol("hotSince");

const DEFAULTS = {
  durability: "sync",
  syncIntervalMs: 100,
  walSegmentBytes: 32 * 1024 * 1024,
  chunkCacheBytes: 64 * 1024 * 1024,
} as const;

export async function openStore(options: StoreOptions): Promise<TraceStore> {
  const opts = checkOptions(options);
  const dir = resolve(opts.dir);
  await fsys.mkdir(join(dir, "wal"));
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    return await Store.start(dir, hot, opts);
  } catch (err) {
    await hot.close();
    // What the seam does not see (the cold tier's directory listing and sweep) is coded here.
    throw isErrno(err) ? fsError(`opening the store in ${dir}`, err) : err;
  }
}

function isErrno(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

type CheckedOptions = Required<Omit<StoreOptions, "chunking">> & { chunking: ChunkingOptions };

class Store implements TraceStore {
  private readonly dir: string;
  private readonly hot: HotTier;
  private readonly wal: WalWriter;
  private readonly writes: WritePath;
  private readonly reader: Reader;
  private readonly lister: TurnLister;
  private readonly cold: ColdTier;
  private readonly compactor: Compactor;
  private maintenance: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private checkpointing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly reads = new Set<Promise<unknown>>();
  /** The turns list's background work (inBackground). */
  private readonly background = new Set<Promise<unknown>>();
  private readonly collector: BodyCollector;
  private readonly pruner: Pruner;
  private readonly jobs = new Set<MaintenanceJobs>();
  /** The hot records' texts, indexed in memory (built at the first search). */
  private readonly hotText: HotRecordIndex;
  /** The bodies' index (src/search/chunks/index.ts): each stored chunk once. */
  readonly chunkIndex: ChunkIndex;

  private constructor(
    dir: string,
    hot: HotTier,
    wal: WalWriter,
    writes: WritePath,
    bodies: BodyStore,
    cold: ColdTier,
    chunkIndex: ChunkIndex,
  ) {
    this.dir = dir;
    this.hot = hot;
    this.chunkIndex = chunkIndex;
    // A sealed WAL segment that waits only on the index gets a flush, then the checkpoint releases it.
    chunkIndex.onFlushed = () => this.maybeCheckpoint();
    this.wal = wal;
    this.writes = writes;
    this.reader = new Reader(hot, bodies, cold);
    this.lister = new TurnLister(hot, cold, this.reader);
    this.cold = cold;
    this.hotText = new HotRecordIndex(hot);
    const quiesce = () => this.quiesceReads();
    this.compactor = new Compactor(hot, cold, writes, quiesce);
    this.collector = new BodyCollector(hot, cold, bodies, writes, quiesce);
    this.pruner = new Pruner(hot, cold, writes, this.collector, quiesce, join(dir, "hot"));
    writes.onApplied = () => this.maybeCheckpoint();
    // A tracked read: maintenance unlinks a file only once the reads that may still open it are done.
    writes.coldIds = (keys) => track(this.reads, cold.existingIds(keys));
  }

  static async start(dir: string, hot: HotTier, opts: CheckedOptions): Promise<Store> {
    const walDir = join(dir, "wal");
    const bodies = await BodyStore.open(hot, opts.chunking, opts.chunkCacheBytes);
    const writes = new WritePath(hot, bodies, await loadCounters(hot));
    const chunkIndex = await ChunkIndex.open(
      hot,
      bodies.dictionaries,
      bodies.minChunkBytes,
      writes.counters.appliedSeq,
    );
    chunkIndex.attach((build, sync) => writes.maintain(build, sync));
    writes.indexer = chunkIndex;
    const log = await readWal(walDir);
    let lastSeq: number;
    try {
      lastSeq = await writes.replay(log);
      // The batches replayed (and those applied but not indexed before a crash) are indexed, and
      // written with indexedSeq, before the WAL segments that held them go.
      await chunkIndex.flush();
    } catch (err) {
      await chunkIndex.close().catch(() => {});
      throw err;
    }
    // Everything replayed is made durable in the hot tier before the segments that held it go.
    await hot.write([countersOp(writes.counters)], true);
    for (const seg of await listSegments(walDir)) await fsys.unlink(seg.path);
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
      const store = new Store(dir, hot, wal, writes, bodies, cold, chunkIndex);
      await store.compactor.recover();
      await upgrade(hot, writes, store.compactor, chunkIndex); // a store an older version wrote, once
      await store.pruner.finishDropsAtOpen(); // an older version's drop, left half cleaned up
      store.indexColdFilesInBackground(); // cold files an older version wrote get search sidecars
      chunkIndex.buildInBackground(); // an upgraded store's postings (docs/search.md)
      return store;
    } catch (err) {
      await chunkIndex.close().catch(() => {});
      await wal.close();
      throw err;
    }
  }

  insertRecords(records: readonly TraceRecord[]): Promise<InsertResult> {
    return this.call(() => this.writes.insert(records));
  }

  /** Keyed by a module-private symbol: records stored this way skip validation (see insertPrepared). */
  [INSERT_PREPARED](prepared: Prepared[]): Promise<InsertResult> {
    return this.call(() => this.writes.insertPrepared(prepared));
  }

  getTurn(turnId: string, opts?: TurnOptions): Promise<StoredRecord[]> {
    return this.read(() => this.reader.getTurn(turnId, opts?.bodies));
  }

  getBody(recordId: string): Promise<string | undefined> {
    return this.read(() => this.reader.getBody(recordId));
  }

  query(q: Query): Promise<StoredRecord[]> {
    return this.read(() => this.reader.query(q));
  }

  turns(q: TurnsQuery = {}): Promise<TurnsPage> {
    return this.read(() => this.lister.turns(q));
  }

  usage(q: UsageQuery = {}): Promise<UsageReport> {
    return this.read(() => this.lister.usage(q));
  }

  search(q: string, opts?: SearchOptions): Promise<SearchResult> {
    const deps = {
      hot: this.hot,
      cold: this.cold,
      reader: this.reader,
      chunks: this.chunkIndex,
      hotText: this.hotText,
    };
    return this.read(() => search(deps, q, opts));
  }

  /** See `warmSearch` below. */
  [WARM_SEARCH](): Promise<void> {
    return this.inBackground(() => this.hotText.ready());
  }

  /** See `inspectStore` below. */
  [INSPECT](): StoreInspection {
    return { dir: this.dir, hot: this.hot, read: (fn) => this.read(fn) };
  }

  /**
   * See `verifyRunning` below. Under the maintenance lock (after a job in progress, before the next),
   * then tracked as a read (a file it reads is not unlinked under it) once the lock is held: a read that
   * waited for the lock would deadlock a job that quiesces reads under it. A close ends it (ERR_CLOSED).
   */
  [VERIFY](hooks: RunHooks, signal?: AbortSignal): Promise<VerifyReport> {
    return this.call(() => this.exclusive(() => track(this.reads, this.verifyHeld(signal)), hooks));
  }

  private async verifyHeld(signal: AbortSignal | undefined): Promise<VerifyReport> {
    const stopped = () => this.closing !== undefined || signal?.aborted === true;
    if (stopped()) throw new ClosedError();
    // a LevelDB batch is atomic: any moment is one with no write half applied (records, bodies, the
    // search index's keys and the counters of a batch land in one), if the tier is not being reopened
    while (!this.hot.isOpen) await this.hot.opened();
    const view = this.hot.snapshot();
    try {
      return await verifyOpen(this.dir, view, { stopped });
    } finally {
      await view.close();
    }
  }

  private readonly followers = new Set<(records: readonly AppliedRecord[]) => void>();

  /** See `followRecords` below. */
  [FOLLOW](listener: (records: readonly AppliedRecord[]) => void): Following {
    this.followers.add(listener);
    this.writes.onRecords ??= (records) => {
      for (const f of this.followers) {
        try {
          f(records);
        } catch {
          // one follower's failure is not the write path's, nor another follower's
        }
      }
    };
    return { upTo: this.writes.toldUpTo, stop: () => this.followers.delete(listener) };
  }

  /** See `hotRecordsSince` below. */
  [HOT_SINCE](after: number, upTo: number, limit: number, signal?: AbortSignal): Promise<HotSince> {
    return this.read(() => hotSince(this.hot, after, upTo, limit, signal));
  }

  /** See `warmTurns` below. */
  [WARM_TURNS](): Promise<void> {
    return this.inBackground(() => this.lister.warm());
  }

  easyView(turnId: string): Promise<string> {
    return this.read(() => this.renderTurn(turnId));
  }

  requestDiff(recordId: string): Promise<RequestDiff | undefined> {
    const turnsBefore = (conversationId: string, to: number, limit: number) =>
      this.lister.turnIds({ conversationId, to, limit });
    return this.read(() => requestDiff(this.reader, turnsBefore, recordId));
  }

  private async renderTurn(turnId: string): Promise<string> {
    const records = await this.reader.sized(await this.reader.turnRecords(turnId));
    return renderEasyView(
      records.map(({ bodyBytes, bodyEvicted, ...record }) => ({
        record: record as StoredRecord,
        bodyBytes,
        bodyEvicted,
      })),
    );
  }

  stats(): Promise<StoreStats> {
    return this.call(async () => this.currentStats());
  }

  private currentStats(): StoreStats {
    const c = this.writes.counters;
    return {
      hotRecords: c.hotRecords,
      // Files whose move step 3 has not landed yet (a full disk) hold records still counted as hot.
      coldRecords: this.cold.records() - this.compactor.unappliedRows(),
      coldPartitions: this.cold.partitions().length,
      bodies: c.bodies,
      bodyBytesStored: c.bodyBytesStored,
      bodyBytesOriginal: c.bodyBytesOriginal,
      walBytes: this.wal.bytes(),
      coldBytes: this.cold.files.reduce((n, f) => n + f.bytes, 0),
      coldFilterBytes: this.cold.filterBytes(),
      walSyncs: this.wal.stats.syncs,
      walSyncMs: this.wal.stats.syncMs,
    };
  }

  compact(opts?: CompactOptions): Promise<CompactResult> {
    return this.call(() => this.exclusive(() => this.compactor.compact(opts), opts)).finally(() =>
      this.refreshTurns(),
    );
  }

  prune(policy: RetentionPolicy, opts: PruneOptions = {}): Promise<PruneResult> {
    return this.call(async () => {
      checkPolicy(policy, opts);
      return this.exclusive(() => this.pruner.prune(policy, opts.now ?? Date.now()), opts);
    }).finally(() => this.refreshTurns());
  }

  /** The turns list's index follows the cold tier in the background (a failure waits for a request). */
  private refreshTurns(): void {
    if (this.closing) return;
    this.inBackground(() => this.lister.refresh()).catch(() => {});
  }

  /**
   * Background work of the turns list (a warm-up, a refresh): not a read, so maintenance does not wait
   * for it before it deletes files (a warm-up of a month takes seconds). It reads only what the
   * current manifest lists and stops quietly once the manifest changes (turns.ts), so a file deleted
   * under it costs it nothing; a request that waits for its work is a read, and is waited for.
   * close() stops it at its next step and waits for that.
   */
  private inBackground<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ClosedError());
    return track(this.background, fn());
  }

  /**
   * Search sidecars for the cold files an older version wrote (tiers/cold/sidecars.ts), one manifest
   * commit per file under the maintenance lock (held for that commit only), each file read as a tracked
   * read; close() stops it between files and waits for it. Until a file has its sidecar, searches scan it.
   */
  private indexColdFilesInBackground(): void {
    if (this.cold.files.every((f) => f.index !== undefined)) return;
    const run = this.inBackground(() =>
      indexColdFiles(this.cold, (done, total) => this.coldIndexProgress?.(done, total), {
        exclusive: (job) => this.exclusive(job),
        read: (fn) => track(this.reads, fn()),
        stopped: () => this.closing !== undefined,
      }),
    );
    this.coldIndexing = run.then(
      (result) => {
        this.refreshTurns();
        return result;
      },
      () => undefined, // an I/O error: the next open tries again, searches scan the file meanwhile
    );
  }

  /** The background sidecar upgrade (undefined when none ran), for `tracetier reindex` to wait on. */
  coldIndexing: Promise<IndexColdFilesResult | undefined> = Promise.resolve(undefined);
  /** Told each file the background sidecar upgrade finishes. */
  coldIndexProgress: ((done: number, total: number) => void) | undefined;

  gc(opts: GcOptions = {}): Promise<GcResult> {
    return this.call(() => this.exclusive(() => this.pruner.gc(), opts));
  }

  startMaintenance(schedule: MaintenanceSchedule, options?: MaintenanceOptions): MaintenanceJobs {
    if (this.closing) throw new ClosedError();
    const jobs = scheduleMaintenance(this, schedule, options);
    this.jobs.add(jobs);
    return {
      stop: async () => {
        await jobs.stop();
        this.jobs.delete(jobs);
      },
    };
  }

  /**
   * One maintenance job at a time: compaction, prune and GC share this lock, first come first served.
   * `hooks` are told when `job` holds it and when it has ended, before the next job may start (a
   * caller's report of waiting and running, and of runs that never overlap).
   */
  private exclusive<T>(job: () => Promise<T>, hooks: RunHooks = {}): Promise<T> {
    const run = this.maintenance.then(async () => {
      hooks.onStart?.(); // throwing here cancels the job before it starts: the call rejects with it
      try {
        return await job();
      } finally {
        endHook(hooks.onEnd);
      }
    });
    this.maintenance = run.catch(() => {});
    return run;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.lister.close(); // a warm-up stops at its next file
    this.hotText.close();
    try {
      for (const jobs of this.jobs) await jobs.stop(); // no new runs; a run in progress finishes
      // Calls accepted before close() finish first: their records are acknowledged and durable.
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      await this.writes.drain();
      await this.chunkIndex.close().catch(() => {}); // what it has not written is in the WAL still
      await this.checkpointing;
      await this.wal.rotate().catch(() => {});
      await this.checkpoint().catch(() => {});
      await this.wal.close();
    } finally {
      await Promise.allSettled([...this.background]); // stopped by lister.close() at their next step
      await this.hot.close();
    }
  }

  /** A read call: tracked so that retention can wait for reads that may still see what it deletes. */
  private read<T>(fn: () => Promise<T>): Promise<T> {
    return track(this.reads, this.call(fn));
  }

  /** Resolves once every read in flight now has finished (later reads are not waited for). */
  private async quiesceReads(): Promise<void> {
    await Promise.allSettled([...this.reads]);
  }

  /** Runs a public call unless the store is closing, and tracks it so close() can wait for it. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ClosedError());
    return track(this.inflight, fn());
  }

  /**
   * After an apply or an index flush: if a sealed WAL segment is fully applied and indexed, checkpoint
   * and release it; if it waits only on the index, flush the index (which calls this again).
   */
  private maybeCheckpoint(): void {
    const applied = this.writes.counters.appliedSeq;
    if (this.checkpointing || this.wal.releasableUpTo(applied) === 0) return;
    if (this.wal.releasableUpTo(Math.min(applied, this.chunkIndex.indexedSeq)) === 0) {
      this.chunkIndex.requestFlush();
      return;
    }
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
      // The index's flushes are earlier writes in the same order: this synced one makes them durable.
      durableSeq = Math.min(c.appliedSeq, this.chunkIndex.indexedSeq);
      return { ops: [], counters: c };
    });
    await this.wal.release(durableSeq);
  }
}

/**
 * Internal (`tracetier ingest`, not exported from src/index.ts): stores records that were validated
 * and prepared (src/records/prepare.ts) elsewhere, on a reader thread, exactly as insertRecords stores
 * its own once it has prepared them. The caller answers for the validation.
 */
export function insertPrepared(store: TraceStore, prepared: Prepared[]): Promise<InsertResult> {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[INSERT_PREPARED](prepared);
}

/**
 * Internal (the collector calls it at start, in the background): computes what `turns` and `usage`
 * keep in memory (every cold file's part of the turns list), so that the first request after an open
 * does not pay for it. A close stops it between files (it then rejects with ERR_CLOSED).
 */
export function warmTurns(store: TraceStore): Promise<void> {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[WARM_TURNS]();
}

/**
 * Internal (the collector calls it at start, in the background): reads the hot records into the search's
 * in-memory index of their texts, so that the first search does not pay for it.
 */
export function warmSearch(store: TraceStore): Promise<void> {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[WARM_SEARCH]();
}

/** What `inspectStore` gives: the directory, the open hot tier, and a tracked read. */
export interface StoreInspection {
  dir: string;
  hot: HotTier;
  /** Runs `fn` as a read: maintenance unlinks no file until it is done. */
  read<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The open store's files and hot tier, for the collector's dump endpoints (`tracetier dump` while
 * `serve` holds the store): read-only use, inside `read`.
 */
export function inspectStore(store: TraceStore): StoreInspection {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[INSPECT]();
}

/**
 * Internal (the collector's `POST /v1/admin/verify`): `verify` of this open store, read-only, as
 * src/maintenance/verify.ts verifyOpen describes: it waits for a maintenance job in progress, and the
 * next waits for it. `repair` is refused (ERR_INVALID_OPTION): it needs the store closed. A close()
 * meanwhile ends it with ERR_CLOSED.
 */
export function verifyRunning(
  store: TraceStore,
  opts: { repair?: boolean; signal?: AbortSignal } & RunHooks = {},
): Promise<VerifyReport> {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  if (opts.repair === true) return Promise.reject(liveRepairRefused());
  return store[VERIFY](opts, opts.signal);
}

/** A caller's `onEnd` that throws must not turn a finished job into a failed one, nor fail a failed one anew. */
function endHook(onEnd: (() => void) | undefined): void {
  try {
    onEnd?.();
  } catch (err) {
    process.emitWarning(`tracetier maintenance onEnd threw: ${String(err)}`, "MaintenanceWarning");
  }
}

/** A maintenance run's start and end, as CompactOptions, PruneOptions and GcOptions give them. */
type RunHooks = Pick<GcOptions, "onStart" | "onEnd">;

/** A follower's subscription (`followRecords`). */
export interface Following {
  /** Every record acknowledged with a sequence number above this is told to the listener, once. */
  upTo: number;
  stop(): void;
}

/**
 * Internal (the collector's `GET /v1/tail`): tells `listener`, synchronously and in sequence order, the
 * records of each batch once it is in the hot tier (before its callers are answered), each record once;
 * duplicates are never told (they get no sequence number). A record's value decodes (tiers/hot/values.ts
 * `decodeRecordValue`) to the record `query({ bodies: false })` returns. `upTo` is the cursor "now".
 * A listener that throws loses nothing for the store or the other listeners.
 */
export function followRecords(
  store: TraceStore,
  listener: (records: readonly AppliedRecord[]) => void,
): Following {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[FOLLOW](listener);
}

/**
 * Internal (`GET /v1/tail` after a restart): the hot tier's records with `after < seq <= upTo`, the
 * newest `limit` of them (undecoded), and the sequence numbers it lacks (src/read/hot-since.ts). A
 * tracked read; `signal` stops it (rejecting with its reason) when the client has left.
 */
export function hotRecordsSince(
  store: TraceStore,
  after: number,
  upTo: number,
  limit: number,
  signal?: AbortSignal,
): Promise<HotSince> {
  if (!(store instanceof Store)) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return store[HOT_SINCE](after, upTo, limit, signal);
}

/** Keeps `run` in `set` while it is pending. */
function track<T>(set: Set<Promise<unknown>>, run: Promise<T>): Promise<T> {
  set.add(run);
  const forget = () => set.delete(run);
  run.then(forget, forget);
  return run;
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
