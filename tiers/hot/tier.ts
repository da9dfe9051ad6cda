/**
 * The hot tier: one LevelDB (classic-level) under `dir/hot/`. It is written only by applying WAL
 * frames, without sync: the WAL is what makes a record durable, and a synced checkpoint here is what
 * lets WAL segments go (see src/store.ts).
 */
import { stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { ByteLru } from "../../src/base/byte-lru.js";
import {
  CorruptStoreError,
  DiskFullError,
  IoError,
  LockedError,
  TracetierError,
} from "../../src/base/errors.js";
import { fsError, fsys, type NativeOp } from "../../src/base/fs.js";
import {
  groupPrefix,
  idKey,
  P_CONV,
  P_RECORD,
  P_TIME,
  prefixEnd,
  recordKey,
  recordKeySeq,
  recordKeyTs,
  tsRange,
} from "./keys.js";
import { type IndexFields, indexFields } from "./value-scan.js";
import { bodyHashOf, decodeRecordValue, deletesByKey, type HotRecord } from "./values.js";

export type BatchOp = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

/** A record key a write puts or deletes, as the turns list is told of it (HotTier.watchRecords). */
export interface TurnWrite {
  turnId: string;
  put: boolean;
  seq: number;
  /** The record key itself (not to be changed). */
  key: Buffer;
  /** A put's record value (not to be changed). */
  value?: Buffer;
}

export type RecordWatcher = (writes: readonly TurnWrite[] | undefined) => void;

/** Records to delete during a pass over the hot records (`bodyRefs`). */
export interface Expiry {
  /** Records with `timestamp < cutoff` are deleted. */
  cutoff: number;
  /** About this many records' deletes are handed to `apply` at a time. */
  batch: number;
  apply(ops: BatchOp[], records: number): Promise<void>;
}

export interface KeyRange {
  gte: Uint8Array;
  lt: Uint8Array;
}

/**
 * The reads `verify` makes of the hot tier (src/maintenance/verify.ts and the checks it calls): the tier
 * itself (a closed store's, opened by verify) or a view of it pinned to one snapshot (HotTier.snapshot,
 * for a store that is open), so the checks do not care which.
 */
export interface HotReader {
  get(key: Uint8Array): Promise<Buffer | undefined>;
  getMany(keys: Uint8Array[]): Promise<(Buffer | undefined)[]>;
  getManySync(keys: Uint8Array[]): (Buffer | undefined)[];
  /** Every entry of a key range, a batch at a time; values are left out when `values` is false. */
  entries(range: KeyRange, values?: boolean): AsyncGenerator<[Buffer, Buffer][]>;
}

/**
 * An iterator's range: a key range, or what is left of it after the last entry already returned. (No
 * key is ever present with an undefined value: abstract-level would take it for a bound.)
 */
type Bounds = ({ gte: Buffer } | { gt: Buffer }) & { lt: Buffer };

/** What `resumable` needs of a classic-level iterator. */
interface Batches<T> {
  nextv(size: number): Promise<T[]>;
  close(): Promise<void>;
}

type Db = ClassicLevel<Buffer, Buffer>;

/** Free space kept beyond the log's size before the hot tier is reopened (a new log, MANIFEST, LOCK). */
const REOPEN_HEADROOM = 1 << 20;
/** Keys per getMany when an index scan resolves primary keys. */
const LOOKUP_BATCH = 2048;
/** Values per fetch of a range scan. */
const SCAN_BATCH = 1000;
/**
 * Bytes of record values the turn cache keeps (`turnRecords`): at about 5–7 KB a turn (agent and
 * diverse profiles, measured), the last thousand-odd turns read.
 */
const TURN_CACHE_BYTES = 8 << 20;
/**
 * What a cached value costs beyond its bytes: classic-level copies each value into a Buffer of its own
 * (a JS object, an ArrayBuffer, its backing store). Measured: 100,000 Buffers of 250 bytes took 489
 * bytes of RSS each (109 of them JS heap). A record's value is a few hundred bytes, so the bound counts it.
 */
const BUFFER_OVERHEAD = 256;

export class HotTier implements HotReader {
  private db: Db;
  private failed: TracetierError | undefined;
  /** Set while the database is closed for a reopen (`reopen`): reads wait for it. */
  private reopening: Promise<void> | undefined;
  /** Set when a reopen closed the database and could not open it again: reads fail with it, coded. */
  private closedBy: TracetierError | undefined;
  /** Counts the times the database was closed for a reopen: an iterator of an older epoch was closed. */
  private epoch = 0;
  /** Reopens the tier after a failure, in the write path's order (set by the write path). */
  reopenHook: (() => Promise<void>) | undefined;
  private readonly path: string;
  private readonly dir: string;
  /**
   * The record values of recently read turns, by the turn's key prefix (latin1). A read of a cached
   * turn makes no trip to LevelDB's thread, which is what a steady getTurn's slowest reads waited on
   * (bench/tail-probe.ts). Every write drops the turns it touches, and counts in `recordWrites`.
   */
  private readonly turns = new ByteLru<Buffer[]>(TURN_CACHE_BYTES, (vs) =>
    vs.reduce((n, v) => n + v.length + BUFFER_OVERHEAD, 0),
  );
  /** Bumped when a write that touches record keys starts and when it ends (see `turnRecords`). */
  private recordWrites = 0;

  private constructor(db: Db, path: string, dir: string) {
    this.db = db;
    this.path = path;
    this.dir = dir;
  }

  /** Every failure to open comes out coded: locked, disk full, corrupt, or another I/O error. */
  static async open(path: string, dir: string): Promise<HotTier> {
    return new HotTier(await openDb(path, dir), path, dir);
  }

  /**
   * Closes and opens the database again. LevelDB keeps a failed background write (a flush or
   * compaction that hit ENOSPC) as a permanent error: every later write fails until it is reopened.
   * And after a failed log write its log may end in a partial record: a later record appended after it
   * would be dropped with it at LevelDB's recovery (the reader skips the rest of a corrupt block), so
   * nothing more may be written to that log. Reopening replays the log up to the partial record and
   * starts a new one. Reads that start meanwhile wait for it (`opened`), and reads in progress resume
   * on the new database (`resumable`); if it cannot be opened they fail with its coded error.
   */
  async reopen(): Promise<void> {
    await this.checkRoomToReopen();
    this.epoch++;
    // swap() closes the database synchronously up to its first await: the gate is set before any read
    // can run against the closing database
    const run = this.swap();
    this.reopening = run;
    try {
      await run;
    } finally {
      this.reopening = undefined;
    }
  }

  private async swap(): Promise<void> {
    this.forgetTurns();
    await this.db.close().catch(() => {});
    try {
      this.db = await openDb(this.path, this.dir);
    } catch (err) {
      this.closedBy =
        err instanceof TracetierError ? err : levelError(`reopening the hot tier ${this.path}`, err);
      throw this.closedBy;
    }
    this.closedBy = undefined;
    this.failed = undefined;
  }

  /**
   * False while the database is closed for a reopen, or stays closed after a failed one. Checked before
   * every read (the common case pays this check, no promise); a caller about to read synchronously
   * awaits `opened()` first when it is false.
   */
  get isOpen(): boolean {
    return this.reopening === undefined && this.closedBy === undefined;
  }

  /** Resolves once the database is open (a reopen may start again while a reader waits); rejects, coded, if it could not be reopened. */
  async opened(): Promise<void> {
    while (!this.isOpen) {
      if (this.closedBy) throw this.closedBy;
      await this.reopening;
    }
  }

  /** True when the database was closed for a reopen after `epoch` (or is closed now). */
  private reopenedSince(epoch: number): boolean {
    return this.epoch !== epoch || this.reopening !== undefined || this.closedBy !== undefined;
  }

  /**
   * A failed read: retried once the database is open again when a reopen closed it under the read
   * (classic-level's uncoded LEVEL_DATABASE_NOT_OPEN), otherwise coded with what was read.
   */
  private async readFailed<T>(
    epoch: number,
    err: unknown,
    what: string,
    retry: () => Promise<T>,
  ): Promise<T> {
    if (!this.reopenedSince(epoch)) throw levelError(what, err);
    await this.opened();
    return retry();
  }

  /** A synchronous read cannot wait: while the database is closed for a reopen it fails, coded. */
  private notOpenSync(key: Uint8Array): never {
    if (this.closedBy) throw this.closedBy;
    throw new IoError(
      this.reading(key),
      new Error("the hot tier is being reopened (a synchronous read must await opened() first)"),
    );
  }

  /** The failed write or compaction that makes every later one fail until `reopen()` (see there). */
  get failure(): TracetierError | undefined {
    return this.failed;
  }

  /**
   * Runs a LevelDB write or compaction, unless an earlier one failed; a failure is coded and kept.
   * Writes go through the write path, which reopens the tier first; a compaction (maintenance calls it
   * directly) asks the `reopenHook`, which the write path sets to do it in its order.
   */
  private async mutate(what: string, op: NativeOp, run: () => Promise<void>): Promise<void> {
    if (this.failed && op === "leveldb.compact") await this.reopenHook?.();
    if (this.failed) throw this.failed;
    try {
      fsys.native(op, this.path);
      await run();
    } catch (err) {
      this.failed = levelError(`${what} ${this.path}`, err);
      throw this.failed;
    }
  }

  /**
   * Opening replays LevelDB's log into a new table, which takes about the log's size on disk. Without
   * that much free space the open would fail with the database already closed, and reads with it: the
   * open database (still readable) is kept until there is room.
   */
  private async checkRoomToReopen(): Promise<void> {
    fsys.native("leveldb.reopen", this.path);
    let logBytes = 0;
    for (const name of await fsys.readdir(this.path)) {
      // a log LevelDB deleted since the listing takes no room; any other failure is coded by the seam
      if (name.endsWith(".log")) logBytes += (await sizeOf(join(this.path, name))) ?? 0;
    }
    const free = await freeBytes(this.path);
    if (free < logBytes + REOPEN_HEADROOM) {
      throw new DiskFullError(
        `reopening the hot tier ${this.path} needs about ${logBytes + REOPEN_HEADROOM} bytes free, ${free} are`,
        Object.assign(new Error("ENOSPC: not enough free space to reopen the hot tier"), { code: "ENOSPC" }),
      );
    }
  }

  getMany(keys: Uint8Array[]): Promise<(Buffer | undefined)[]> {
    if (!this.isOpen) return this.opened().then(() => this.getMany(keys));
    const epoch = this.epoch;
    return this.db
      .getMany(keys.map(asBuffer))
      .catch((err: unknown) =>
        this.readFailed(epoch, err, `reading ${keys.length} keys of the hot tier ${this.path}`, () =>
          this.getMany(keys),
        ),
      );
  }

  get(key: Uint8Array): Promise<Buffer | undefined> {
    if (!this.isOpen) return this.opened().then(() => this.get(key));
    const epoch = this.epoch;
    return this.db
      .get(asBuffer(key))
      .catch((err: unknown) => this.readFailed(epoch, err, this.reading(key), () => this.get(key)));
  }

  /**
   * Point reads on the calling thread. A read of a turn's bodies is a handful of lookups that LevelDB
   * serves from its cache or the page cache in microseconds; an async hop through the thread pool
   * costs more than that and, on a busy 2-core machine, is what set the p99 (docs/decisions.md).
   */
  getManySync(keys: Uint8Array[]): (Buffer | undefined)[] {
    return keys.map((k) => this.getSync(k));
  }

  private getSync(key: Uint8Array): Buffer | undefined {
    if (!this.isOpen) this.notOpenSync(key);
    try {
      return this.db.getSync(asBuffer(key));
    } catch (err) {
      throw levelError(this.reading(key), err);
    }
  }

  /** What a failed read of `key` was doing, for its error (built only on failure). */
  private reading(key: Uint8Array): string {
    return `reading key ${hexKey(key)} of the hot tier ${this.path}`;
  }

  /**
   * Applies ops atomically; `sync` also makes every earlier write durable (LevelDB's log is sequential).
   * A chained batch, not an array batch: abstract-level clones and re-validates every op of an array
   * batch in JS, which cost 7× more for a compaction's deletes (docs/decisions.md).
   */
  write(ops: BatchOp[], sync = false): Promise<void> {
    const touched = recordWrites(ops);
    if (touched.length > 0) this.dropTurns(touched);
    const written = this.mutate("writing to the hot tier", "leveldb.write", () => {
      const batch = this.db.batch();
      for (const op of ops) {
        if (op.type === "put") batch.put(asBuffer(op.key), asBuffer(op.value));
        else batch.del(asBuffer(op.key));
      }
      return batch.write({ sync });
    });
    // Again once it is applied (or failed): a read that began in between may have cached either side.
    if (touched.length === 0) return written;
    return written.finally(() => this.dropTurns(touched));
  }

  /** Drops from the turn cache the turns a write touches, counts the write, and tells the watcher. */
  private dropTurns(touched: readonly RecordWrite[]): void {
    if (!this.turns.empty) for (const w of touched) this.turns.delete(w.tag);
    this.recordWrites++;
    for (const watch of this.watchers) watch(touched);
  }

  /**
   * Tells `watch` the record keys a write puts or deletes (their turns and seqs, a put's value), when
   * the write starts and again when it has ended (as the turn cache is dropped), and `undefined` at a
   * reopen (any record may differ): the turns list (src/read/turns-hot.ts) and the search index of hot
   * records (src/search/hot-records.ts) keep up to date with it. Returns the function that stops it.
   */
  watchRecords(watch: RecordWatcher): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }

  private readonly watchers = new Set<RecordWatcher>();

  /** Empties the turn cache (the database is being closed for a reopen). */
  private forgetTurns(): void {
    this.turns.clear();
    for (const watch of this.watchers) watch(undefined);
    this.recordWrites++;
  }

  /**
   * All of a turn's records in (timestamp, seq) order, from the turn cache when it holds them (no trip
   * to LevelDB's thread), else read with `turn` and kept there. A read is kept only if no write touched
   * any record between its start and its end: LevelDB may have given it either side of that write.
   * Values, not decoded records, are kept: each caller gets records of its own to change.
   */
  async turnRecords(turnId: string): Promise<HotRecord[]> {
    const head = groupPrefix(P_RECORD, turnId);
    const tag = head.toString("latin1");
    const cached = this.turns.get(tag);
    if (cached !== undefined && this.isOpen) return cached.map((v) => decodeRecordValue(v));
    const writes = this.recordWrites;
    const values: Buffer[] = [];
    for await (const page of this.turnPages(head, undefined, undefined, false)) values.push(...page);
    if (writes === this.recordWrites) this.turns.set(tag, values);
    return values.map((v) => decodeRecordValue(v));
  }

  /**
   * A turn's records in (timestamp, seq) order, optionally bounded in time: values of the turn's key
   * range, fetched `SCAN_BATCH` at a time. A turn fits in one fetch, so a read costs one trip to
   * LevelDB's thread.
   */
  async *turn(turnId: string, from?: number, to?: number, reverse = false): AsyncGenerator<HotRecord> {
    const pages = this.turnPages(groupPrefix(P_RECORD, turnId), from, to, reverse);
    for await (const values of pages) for (const v of values) yield decodeRecordValue(v);
  }

  /** The values of a turn's records (its key prefix `head`), a fetch at a time. */
  private turnPages(
    head: Buffer,
    from: number | undefined,
    to: number | undefined,
    reverse: boolean,
  ): AsyncGenerator<Buffer[]> {
    return this.resumable(
      tsRange(head, from, to),
      reverse,
      SCAN_BATCH,
      // 1 MiB: classic-level stops a fetch at 16 KiB by default, and a turn of heavy records (agent
      // turns measured up to 12 KB) would take a second trip to LevelDB's thread
      (b) => this.db.values({ ...b, reverse, highWaterMarkBytes: 1 << 20 }),
      (v) => {
        // only when resuming after a reopen: the record's key, rebuilt from the record
        const r = decodeRecordValue(v);
        return recordKey(r.record.turnId, r.record.timestamp, r.seq);
      },
    );
  }

  /**
   * Entries of a key range, `size` at a time, from iterators `open` makes. The iterator's close is not
   * waited for (the database waits for it on close). A reopen closes the iterator under the read: the
   * read goes on, once the database is open again, after the last entry it returned (`keyOf` gives its
   * key); if the database cannot be opened again it fails with that coded error. Any other failure is
   * coded (ERR_IO, or ERR_CORRUPT_STORE for LevelDB's corruption) with the range.
   */
  private async *resumable<T>(
    range: KeyRange,
    reverse: boolean,
    size: number,
    open: (bounds: Bounds) => Batches<T>,
    keyOf: (last: T) => Buffer,
  ): AsyncGenerator<T[]> {
    let bounds: Bounds = { gte: asBuffer(range.gte), lt: asBuffer(range.lt) };
    let last: T | undefined;
    for (;;) {
      if (!this.isOpen) await this.opened();
      const epoch = this.epoch;
      const it = this.openIterator(open, bounds);
      try {
        for (;;) {
          let batch: T[];
          try {
            batch = await it.nextv(size);
          } catch (err) {
            if (!this.reopenedSince(epoch))
              throw levelError(`reading ${describeRange(bounds)} of the hot tier ${this.path}`, err);
            break; // closed by a reopen: resume below
          }
          if (batch.length === 0) return;
          last = batch[batch.length - 1];
          yield batch;
        }
      } finally {
        it.close().catch(() => {});
      }
      if (last !== undefined)
        bounds = reverse ? { ...bounds, lt: keyOf(last) } : { gt: keyOf(last), lt: bounds.lt };
    }
  }

  private openIterator<T>(open: (bounds: Bounds) => Batches<T>, bounds: Bounds): Batches<T> {
    try {
      return open(bounds);
    } catch (err) {
      throw levelError(`reading ${describeRange(bounds)} of the hot tier ${this.path}`, err);
    }
  }

  /**
   * Records through a secondary index (time or conversation: `head | ts | seq` -> primary key) whose
   * values are primary keys: index entries are fetched LOOKUP_BATCH at a time and resolved with one
   * getMany per batch.
   */
  private async *viaIndex(
    head: Buffer,
    from: number | undefined,
    to: number | undefined,
    reverse: boolean,
  ): AsyncGenerator<HotRecord> {
    for await (const { keys, values } of this.indexPages(head, from, to, reverse))
      for (const [i, v] of values.entries()) yield decodeRecordValue(v, keys[i]);
  }

  /**
   * The record values an index range points at, undecoded, with their primary keys, a batch of index
   * entries at a time. A key whose record is gone is left out.
   */
  private async *indexPages(
    head: Buffer,
    from: number | undefined,
    to: number | undefined,
    reverse: boolean,
  ): AsyncGenerator<{ keys: Buffer[]; values: Buffer[] }> {
    const pages = this.resumable(
      tsRange(head, from, to),
      reverse,
      LOOKUP_BATCH,
      // classic-level stops a fetch at highWaterMarkBytes (16 KiB by default: about 300 index entries);
      // 1 MiB lets a fetch return the LOOKUP_BATCH entries asked for.
      (b) => this.db.values({ ...b, reverse, highWaterMarkBytes: 1 << 20 }),
      // a primary key ends with the record's ts | seq, as its index key does
      (pk) => Buffer.concat([head, pk.subarray(pk.length - 16)]),
    );
    // The next batch is fetched while the caller consumes this one (LevelDB works on its own thread).
    const fetch = async () => {
      const page = await pages.next();
      if (page.done) return undefined;
      return { pks: page.value, values: await this.getMany(page.value) };
    };
    let next = fetch();
    try {
      for (;;) {
        const got = await next;
        if (got === undefined) return;
        next = fetch();
        const keys: Buffer[] = [];
        const values: Buffer[] = [];
        got.values.forEach((v, i) => {
          if (v === undefined) return;
          keys.push(got.pks[i]!);
          values.push(v);
        });
        yield { keys, values };
      }
    } finally {
      // a caller that stops early leaves a fetch in flight: its outcome no longer matters
      next.catch(() => {});
      pages.return(undefined).catch(() => {});
    }
  }

  /**
   * The values of the records before `to` in (timestamp, seq) order, undecoded, with their primary
   * keys, a batch at a time: compaction decodes them once on its own thread and hands the bytes on.
   */
  valuesByTime(to: number): AsyncGenerator<{ keys: Buffer[]; values: Buffer[] }> {
    return this.indexPages(Buffer.of(P_TIME), undefined, to, false);
  }

  /** Records in (timestamp, seq) order across all turns. */
  byTime(from: number | undefined, to: number | undefined, reverse: boolean): AsyncGenerator<HotRecord> {
    return this.viaIndex(Buffer.of(P_TIME), from, to, reverse);
  }

  /** A conversation's records in (timestamp, seq) order. */
  byConversation(
    conversationId: string,
    from: number | undefined,
    to: number | undefined,
    reverse: boolean,
  ): AsyncGenerator<HotRecord> {
    return this.viaIndex(groupPrefix(P_CONV, conversationId), from, to, reverse);
  }

  /**
   * The record with this id if the hot tier holds it. (An id entry whose record is gone is a store
   * from before the cold tier owned its indexes, still upgrading: the cold tier answers for it.)
   */
  byId(id: string): HotRecord | undefined {
    const pk = this.getSync(idKey(id));
    if (pk === undefined) return undefined;
    if (!isRecordKey(pk)) {
      throw new CorruptStoreError(
        `the id index entry of record ${id} holds ${pk.toString("hex")}, not a record key`,
      );
    }
    const value = this.getSync(pk);
    return value === undefined ? undefined : decodeRecordValue(value, pk);
  }

  /**
   * Writes the memtable out to a table file. Maintenance calls it before it deletes: LevelDB drops a
   * deleted value only when a compaction merges the delete with an older file holding it, and never
   * rewrites the deepest level that holds data. A value and its delete flushed together land in one
   * table, which LevelDB may place at that deepest level, and would then stay on disk (measured: 3 MB of
   * evicted bodies kept). Flushed first, the values sit in their own table and the deletes reach them.
   */
  async flushMemtable(): Promise<void> {
    await this.compactRange(Buffer.of(0x00), Buffer.of(0x00, 0x00)); // an empty range: the flush alone
  }

  /**
   * Rewrites the database without its deleted entries. LevelDB skips tombstones inside its iterator
   * before a range bound is checked, so a scan that starts among many (the time index after a month of
   * records went cold) walks every one up to the next live key: 140 ms a read, measured. A narrower
   * range does not do it: LevelDB's CompactRange leaves the deepest level with files in the range as it
   * is, and that is where the tombstones sat (docs/decisions.md).
   */
  async compactAll(): Promise<void> {
    await this.compactRange(Buffer.of(0x00), Buffer.alloc(4, 0xff));
  }

  private compactRange(start: Buffer, end: Buffer): Promise<void> {
    return this.mutate("compacting the hot tier", "leveldb.compact", () => this.db.compactRange(start, end));
  }

  /**
   * Every entry of a key range, `SCAN_BATCH` at a time (the GC and retention walk whole keyspaces).
   * Values are left out unless asked for.
   */
  entries(range: KeyRange, values = true): AsyncGenerator<[Buffer, Buffer][]> {
    return this.resumable(
      range,
      false,
      SCAN_BATCH,
      (b) => this.db.iterator({ ...b, values, highWaterMarkBytes: 1 << 20 }) as Batches<[Buffer, Buffer]>,
      ([key]) => key,
    );
  }

  /**
   * Visits `(body hash, timestamp)` of every hot record that has a body, without decoding records. With
   * `expire`, the records older than its cutoff are deleted instead of visited, in the same pass: each
   * call of `expire.apply` gets the deletes of whole records (the record and its time, id and
   * conversation entries, read from its value without a decode: value-scan.ts), so a write of one never
   * leaves a record half deleted; the pass waits for it before it goes on.
   */
  async bodyRefs(visit: (hash: Uint8Array, ts: number) => void, expire?: Expiry): Promise<void> {
    const p = Buffer.of(P_RECORD);
    let ops: BatchOp[] = [];
    let records = 0;
    for await (const batch of this.entries({ gte: p, lt: prefixEnd(p) })) {
      for (const [key, value] of batch) {
        const ts = recordKeyTs(key);
        if (expire !== undefined && ts < expire.cutoff) {
          pushRecordDeletes(ops, key, value);
          records++;
          continue;
        }
        const hash = bodyHashOf(value, key);
        if (hash) visit(hash, ts);
      }
      if (expire !== undefined && records >= expire.batch) {
        await expire.apply(ops, records);
        [ops, records] = [[], 0];
      }
    }
    if (expire !== undefined && records > 0) await expire.apply(ops, records);
  }

  /** Names (the key suffixes) under a key prefix, e.g. a turn's cold files. */
  async suffixes(prefix: Buffer): Promise<string[]> {
    const names: string[] = [];
    for await (const batch of this.entries({ gte: prefix, lt: prefixEnd(prefix) }, false))
      for (const [key] of batch) names.push(key.toString("utf8", prefix.length));
    return names;
  }

  /**
   * A read-only view of the database as it is now (a LevelDB snapshot): nothing written later is seen,
   * so several scans see every keyspace at one moment, each batch (atomic) wholly or not at all. Taken
   * synchronously, so no write lands between the caller's decision and the snapshot. The caller awaits
   * `opened()` first (a tier being reopened has no database to pin) and closes the view when done. If the
   * tier is reopened meanwhile (its ENOSPC recovery closes the database, and the snapshot with it), the
   * view fails with ERR_IO saying so: it never reads the new database, which the snapshot does not pin.
   */
  snapshot(): HotSnapshot {
    if (!this.isOpen)
      throw (
        this.closedBy ??
        new IoError(
          `taking a snapshot of the hot tier ${this.path}`,
          new Error("it is being reopened: await opened() first"),
        )
      );
    const epoch = this.epoch;
    return new HotSnapshot(this.db, this.path, () => this.reopenedSince(epoch));
  }

  /** Closes the database (the one a reopen in progress is opening, once it is open). */
  async close(): Promise<void> {
    await this.reopening?.catch(() => {});
    await this.db.close().catch((err: unknown) => {
      throw levelError(`closing the hot tier ${this.path}`, err);
    });
  }
}

/** A view of the hot tier pinned to one snapshot of its database (HotTier.snapshot). */
export class HotSnapshot implements HotReader {
  private readonly db: Db;
  private readonly snap: ReturnType<Db["snapshot"]>;
  private readonly path: string;
  /** True once the tier was reopened (or is being) since the snapshot: the database it pins is closed. */
  private readonly reopened: () => boolean;
  private closed = false;

  constructor(db: Db, path: string, reopened: () => boolean) {
    this.db = db;
    this.path = path;
    this.reopened = reopened;
    this.snap = db.snapshot();
  }

  async get(key: Uint8Array): Promise<Buffer | undefined> {
    this.check();
    return this.db
      .get(asBuffer(key), { snapshot: this.snap })
      .catch((err: unknown) => Promise.reject(this.failed(`reading key ${hexKey(key)}`, err)));
  }

  async getMany(keys: Uint8Array[]): Promise<(Buffer | undefined)[]> {
    this.check();
    return this.db
      .getMany(keys.map(asBuffer), { snapshot: this.snap })
      .catch((err: unknown) => Promise.reject(this.failed(`reading ${keys.length} keys`, err)));
  }

  getManySync(keys: Uint8Array[]): (Buffer | undefined)[] {
    this.check();
    return keys.map((k) => {
      try {
        return this.db.getSync(asBuffer(k), { snapshot: this.snap });
      } catch (err) {
        throw this.failed(`reading key ${hexKey(k)}`, err);
      }
    });
  }

  async *entries(range: KeyRange, values = true): AsyncGenerator<[Buffer, Buffer][]> {
    const bounds: Bounds = { gte: asBuffer(range.gte), lt: asBuffer(range.lt) };
    this.check();
    const it = this.db.iterator({ ...bounds, values, snapshot: this.snap, highWaterMarkBytes: 1 << 20 });
    try {
      for (;;) {
        let batch: [Buffer, Buffer][];
        try {
          batch = (await it.nextv(SCAN_BATCH)) as [Buffer, Buffer][];
        } catch (err) {
          throw this.failed(`reading ${describeRange(bounds)}`, err);
        }
        if (batch.length === 0) return;
        yield batch;
        this.check();
      }
    } finally {
      it.close().catch(() => {});
    }
  }

  /** Releases the snapshot (LevelDB keeps what it pins until then). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.snap.close().catch(() => {}); // closed already with its database (a reopen, a close)
  }

  private check(): void {
    if (this.closed)
      throw new IoError(`reading a snapshot of the hot tier ${this.path}`, new Error("the view is closed"));
    if (this.reopened()) throw this.gone();
  }

  /** A failed read, coded: the clear error when a reopen closed the database under it. */
  private failed(what: string, err: unknown): TracetierError {
    if (this.reopened()) return this.gone();
    return levelError(`${what} of a snapshot of the hot tier ${this.path}`, err);
  }

  private gone(): TracetierError {
    return new IoError(
      `reading a snapshot of the hot tier ${this.path}`,
      new Error(
        "the hot tier was reopened since the snapshot was taken (its recovery from a failed write), which closed the snapshot: run it again",
      ),
    );
  }
}

/** The deletes of a hot record (its primary key `pk`, its value) and of its index entries. */
function pushRecordDeletes(ops: BatchOp[], pk: Buffer, value: Buffer): void {
  const { id, conversation } = indexFields(value) ?? decodedIndexFields(value, pk);
  deletesByKey(pk, id, conversation, ops);
}

/** What `indexFields` reads, from a full decode (which reports a damaged value, coded). */
function decodedIndexFields(value: Buffer, pk: Buffer): IndexFields {
  const { id, record } = decodeRecordValue(value, pk);
  const c = record.conversationId;
  return { id, conversation: c === undefined ? undefined : Buffer.from(c, "utf8") };
}

/** A record key a write touches, with its turn cache tag: worked out once per write, used twice. */
interface RecordWrite extends TurnWrite {
  /** The turn's key prefix, as the turn cache keys it (latin1). */
  tag: string;
}

/** The ops of a write that put or delete record keys (most of a write's ops: one list per batch). */
function recordWrites(ops: readonly BatchOp[]): RecordWrite[] {
  const out: RecordWrite[] = [];
  for (const op of ops) {
    if (op.key[0] !== P_RECORD) continue;
    const key = asBuffer(op.key);
    const len = key.readUInt32BE(1);
    out.push({
      tag: key.toString("latin1", 0, 5 + len),
      turnId: key.toString("utf8", 5, 5 + len),
      put: op.type === "put",
      seq: recordKeySeq(key),
      key,
      value: op.type === "put" ? asBuffer(op.value) : undefined,
    });
  }
  return out;
}

/** A file's size; `undefined` when it is gone. Other failures come out coded, with the path. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return undefined;
    throw fsError(`reading the size of ${path}`, err);
  }
}

/** Bytes free to an unprivileged writer on the file system holding `path`, or a coded error. */
async function freeBytes(path: string): Promise<number> {
  try {
    const { bavail, bsize } = await statfs(path);
    return bavail * bsize;
  } catch (err) {
    throw fsError(`reading the free space of ${path}`, err);
  }
}

/** How the hot tier's LevelDB is opened (the benchmark's floor opens it the same way). */
export const HOT_DB_OPTIONS = { keyEncoding: "buffer", valueEncoding: "buffer" } as const;

async function openDb(path: string, dir: string): Promise<Db> {
  let db: Db | undefined;
  try {
    fsys.native("leveldb.open", path); // before the instance exists: abstract-level opens it on its own
    db = new ClassicLevel<Buffer, Buffer>(path, HOT_DB_OPTIONS);
    await db.open();
  } catch (err) {
    await db?.close().catch(() => {});
    const coded = levelError(`opening the hot tier ${path}`, err);
    // A full disk first: creating the LOCK file can fail with ENOSPC, and its message names "lock".
    if (!(coded instanceof DiskFullError) && isLockError(err)) throw new LockedError(dir, err);
    throw coded;
  }
  return db;
}

/**
 * A LevelDB error, coded. classic-level reports the OS error only as text (`IO error: …/000005.ldb: No
 * space left on device`), on the error or, for a failed open (LEVEL_DATABASE_NOT_OPEN), on its cause.
 */
function levelError(what: string, err: unknown): TracetierError {
  if (err instanceof TracetierError) return err;
  const chain = causes(err);
  if (chain.some((e) => isDiskFullText(e))) return new DiskFullError(what, err);
  if (chain.some((e) => (e as { code?: unknown }).code === "LEVEL_CORRUPTION")) {
    return new CorruptStoreError(`${what} failed: the database is corrupt`, { cause: err });
  }
  return new IoError(what, err);
}

function causes(err: unknown): object[] {
  const out: object[] = [];
  for (
    let e = err;
    typeof e === "object" && e !== null && out.length < 8;
    e = (e as { cause?: unknown }).cause
  ) {
    out.push(e);
  }
  return out;
}

function isDiskFullText(e: object): boolean {
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (code === "ENOSPC" || code === "EDQUOT") return true;
  return typeof message === "string" && /No space left on device|Disk quota exceeded/i.test(message);
}

function isLockError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string; message?: string } } | undefined;
  if (e?.code === "LEVEL_LOCKED" || e?.cause?.code === "LEVEL_LOCKED") return true;
  return /lock/i.test(e?.cause?.message ?? "");
}

/** A Buffer view of `u` (no copy): LevelDB's buffer encoding, and Buffer's methods, want one. */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** `r | u32 len | turnId | ts | seq` exactly (what parseRecordKey reads). */
function isRecordKey(key: Buffer): boolean {
  return key.length >= 21 && key[0] === P_RECORD && key.readUInt32BE(1) === key.length - 21;
}

/** A key for an error message: printable keyspace byte, then hex. */
function hexKey(key: Uint8Array): string {
  const b = asBuffer(key);
  return `${String.fromCharCode(b[0] ?? 0x3f)}|${b.subarray(1).toString("hex")}`;
}

function describeRange(b: Bounds): string {
  const from = "gte" in b ? `[${hexKey(b.gte)}` : `(${hexKey(b.gt)}`;
  return `the key range ${from}, ${hexKey(b.lt)})`;
}
