/**
 * The hot tier: one LevelDB (classic-level) under `dir/hot/`. It is written only by applying WAL
 * frames, without sync: the WAL is what makes a record durable, and a synced checkpoint here is what
 * lets WAL segments go (see src/store.ts).
 */
import { readdir, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { CorruptStoreError, DiskFullError, IoError, LockedError, TracetierError } from "../../src/errors.js";
import { fsys, type NativeOp } from "../../src/fs.js";
import { groupPrefix, idKey, P_RECORD, P_TIME, prefixEnd, recordKeyTs, tsRange } from "./keys.js";
import { bodyHashOf, decodeRecordValue, type HotRecord } from "./values.js";

export type BatchOp = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

export interface KeyRange {
  gte: Uint8Array;
  lt: Uint8Array;
}

type Db = ClassicLevel<Buffer, Buffer>;

/** Free space kept beyond the log's size before the hot tier is reopened (a new log, MANIFEST, LOCK). */
const REOPEN_HEADROOM = 1 << 20;
/** Keys per getMany when an index scan resolves primary keys. */
const LOOKUP_BATCH = 2048;
/** Values per fetch of a range scan. */
const SCAN_BATCH = 1000;

export class HotTier {
  private db: Db;
  private failed: TracetierError | undefined;
  /** Reopens the tier after a failure, in the write path's order (set by the write path). */
  reopenHook: (() => Promise<void>) | undefined;
  private readonly path: string;
  private readonly dir: string;

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
   * starts a new one. Reads that run meanwhile fail (the write path re-applies what it had not applied).
   */
  async reopen(): Promise<void> {
    await this.checkRoomToReopen();
    await this.db.close().catch(() => {});
    this.db = await openDb(this.path, this.dir);
    this.failed = undefined;
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
    for (const name of await readdir(this.path)) {
      if (name.endsWith(".log"))
        logBytes += (await stat(join(this.path, name)).catch(() => ({ size: 0 }))).size;
    }
    const { bavail, bsize } = await statfs(this.path);
    const free = bavail * bsize;
    if (free < logBytes + REOPEN_HEADROOM) {
      throw new DiskFullError(
        `reopening the hot tier ${this.path} needs about ${logBytes + REOPEN_HEADROOM} bytes free, ${free} are`,
        Object.assign(new Error("ENOSPC: not enough free space to reopen the hot tier"), { code: "ENOSPC" }),
      );
    }
  }

  getMany(keys: Uint8Array[]): Promise<(Buffer | undefined)[]> {
    return this.db.getMany(keys.map(asBuffer));
  }

  get(key: Uint8Array): Promise<Buffer | undefined> {
    return this.db.get(asBuffer(key));
  }

  /**
   * Point reads on the calling thread. A read of a turn's bodies is a handful of lookups that LevelDB
   * serves from its cache or the page cache in microseconds; an async hop through the thread pool
   * costs more than that and, on a busy 2-core machine, is what set the p99 (docs/decisions.md).
   */
  getManySync(keys: Uint8Array[]): (Buffer | undefined)[] {
    return keys.map((k) => this.db.getSync(asBuffer(k)));
  }

  /**
   * Applies ops atomically; `sync` also makes every earlier write durable (LevelDB's log is sequential).
   * A chained batch, not an array batch: abstract-level clones and re-validates every op of an array
   * batch in JS, which cost 7× more for a compaction's deletes (docs/decisions.md).
   */
  write(ops: BatchOp[], sync = false): Promise<void> {
    return this.mutate("writing to the hot tier", "leveldb.write", () => {
      const batch = this.db.batch();
      for (const op of ops) {
        if (op.type === "put") batch.put(asBuffer(op.key), asBuffer(op.value));
        else batch.del(asBuffer(op.key));
      }
      return batch.write({ sync });
    });
  }

  /** A turn's records in (timestamp, seq) order, optionally bounded in time. */
  async *turn(turnId: string, from?: number, to?: number, reverse = false): AsyncGenerator<HotRecord> {
    const range = tsRange(groupPrefix(P_RECORD, turnId), from, to);
    yield* this.scan({ ...range, reverse });
  }

  /**
   * Values of a key range, fetched `SCAN_BATCH` at a time. A turn fits in one fetch, so a read costs one
   * trip to LevelDB's thread; the iterator's close is not waited for (the database waits for it on close).
   */
  private async *scan(range: KeyRange & { reverse: boolean }): AsyncGenerator<HotRecord> {
    const it = this.db.values({ gte: asBuffer(range.gte), lt: asBuffer(range.lt), reverse: range.reverse });
    try {
      for (;;) {
        const values = await it.nextv(SCAN_BATCH);
        if (values.length === 0) return;
        for (const v of values) yield decodeRecordValue(v);
      }
    } finally {
      it.close().catch(() => {});
    }
  }

  /**
   * Records through a secondary index (time or conversation) whose values are primary keys: index
   * entries are fetched LOOKUP_BATCH at a time and resolved with one getMany per batch.
   */
  async *viaIndex(range: KeyRange, reverse: boolean): AsyncGenerator<HotRecord> {
    // classic-level stops a fetch at highWaterMarkBytes (16 KiB by default: about 300 index entries);
    // 1 MiB lets a fetch return the LOOKUP_BATCH entries asked for.
    const it = this.db.values({
      gte: asBuffer(range.gte),
      lt: asBuffer(range.lt),
      reverse,
      highWaterMarkBytes: 1 << 20,
    });
    // The next batch is fetched while the caller consumes this one (LevelDB works on its own thread).
    const fetch = async () => {
      const pks = await it.nextv(LOOKUP_BATCH);
      return pks.length === 0 ? undefined : { pks, values: await this.db.getMany(pks) };
    };
    try {
      let next = fetch();
      for (;;) {
        const got = await next;
        if (got === undefined) return;
        next = fetch();
        for (const [i, v] of got.values.entries())
          if (v !== undefined) yield decodeRecordValue(v, got.pks[i]);
      }
    } finally {
      it.close().catch(() => {});
    }
  }

  /** Records in (timestamp, seq) order across all turns. */
  byTime(from: number | undefined, to: number | undefined, reverse: boolean): AsyncGenerator<HotRecord> {
    return this.viaIndex(tsRange(Buffer.of(P_TIME), from, to), reverse);
  }

  /**
   * The record with this id if the hot tier holds it; otherwise its primary key when the id is known
   * (the id index outlives a record's move to the cold tier, and the key says where to look there).
   */
  byId(id: string): { record: HotRecord } | { coldKey: Buffer } | undefined {
    const pk = this.db.getSync(idKey(id));
    if (pk === undefined) return undefined;
    const value = this.db.getSync(pk);
    return value === undefined ? { coldKey: pk } : { record: decodeRecordValue(value, pk) };
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
  async *entries(range: KeyRange, values = true): AsyncGenerator<[Buffer, Buffer][]> {
    const it = this.db.iterator({
      gte: asBuffer(range.gte),
      lt: asBuffer(range.lt),
      values,
      highWaterMarkBytes: 1 << 20,
    });
    try {
      for (;;) {
        const batch = (await it.nextv(SCAN_BATCH)) as [Buffer, Buffer][];
        if (batch.length === 0) return;
        yield batch;
      }
    } finally {
      it.close().catch(() => {});
    }
  }

  /** Visits `(body hash, timestamp)` of every hot record that has a body, without decoding records. */
  async bodyRefs(visit: (hash: Uint8Array, ts: number) => void): Promise<void> {
    const p = Buffer.of(P_RECORD);
    for await (const batch of this.entries({ gte: p, lt: prefixEnd(p) })) {
      for (const [key, value] of batch) {
        const hash = bodyHashOf(value, key);
        if (hash) visit(hash, recordKeyTs(key));
      }
    }
  }

  /** Names (the key suffixes) under a key prefix, e.g. a turn's cold files. */
  async suffixes(prefix: Buffer): Promise<string[]> {
    const keys = await this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }).all();
    return keys.map((k) => k.toString("utf8", prefix.length));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

async function openDb(path: string, dir: string): Promise<Db> {
  let db: Db | undefined;
  try {
    fsys.native("leveldb.open", path); // before the instance exists: abstract-level opens it on its own
    db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
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

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
