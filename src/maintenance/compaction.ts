/**
 * Compaction: moves hot records older than a cutoff into the cold tier, one Parquet file at a time,
 * and merges a partition's small files.
 *
 * One commit point per group of files (at most about COMMIT_ROWS records), in this order
 * (docs/design.md has the crash table):
 *   1. write each file under a temporary name, fsync, rename into place, fsync the directory (the
 *      file's bytes are encoded by a worker thread, tiers/cold/writer.ts; every file operation and
 *      commit stays on the main thread, in this order);
 *   2. commit a manifest generation that lists them (temp + fsync + rename + fsync the directory);
 *   3. one synced LevelDB batch: delete the moved records from the hot tier, every entry of theirs (the
 *      files carry their own lookup filters, tiers/cold/filters.ts), record the manifest generation as
 *      applied, and adjust the counters.
 * A crash before 2 leaves an unlisted file, removed at open. A crash between 2 and 3 leaves records in
 * both tiers: reads dedup by id, and `recover()` redoes step 3 from the files themselves at open.
 */
import { dirname } from "node:path";
import { dateOf, fileName, partitionDir, tempPath } from "../../tiers/cold/layout.js";
import type { ColdFile } from "../../tiers/cold/manifest.js";
import { type EncodedColdFile, unlinkColdFile, writeColdFile } from "../../tiers/cold/parquet.js";
import { sidecarSettings } from "../../tiers/cold/sidecar.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import { ColdEncoder, type EncodedFile, encodeRecords, packValues } from "../../tiers/cold/writer.js";
import { metaKey, parseRecordKey, recordKey, recordKeyTs } from "../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../tiers/hot/tier.js";
import { type HotRecord, recordDeletes } from "../../tiers/hot/values.js";
import { fsyncDir } from "../base/durable-fs.js";
import { CorruptStoreError, TracetierError } from "../base/errors.js";
import { fsys } from "../base/fs.js";
import { decodeStored, encode } from "../base/msgpack.js";
import type { WritePath } from "../write/path.js";

export interface CompactOptions {
  /** Records with `timestamp < now - olderThanMs` move. Default 24 hours. */
  olderThanMs?: number;
  /** The clock (ms since the epoch). Default `Date.now()`. */
  now?: number;
  /**
   * Called when the run holds the maintenance lock and starts (after any run in progress ended). If it
   * throws, the run does not start and the call rejects with its error.
   */
  onStart?: () => void;
  /** Called when the run has ended, done or failed, before the maintenance lock passes on. */
  onEnd?: () => void;
}

export interface CompactResult {
  recordsMoved: number;
  partitionsWritten: number;
  bytesWritten: number;
}

export const DEFAULT_COMPACT_AGE_MS = 24 * 60 * 60 * 1000;
/** A file holds at most this many records: compaction's memory is bounded by one file's rows. */
export const MAX_FILE_ROWS = 100_000;
/** A file under this many rows is small; more than MAX_SMALL_FILES of them in one hour are merged. */
export const SMALL_FILE_ROWS = 20_000;
export const MAX_SMALL_FILES = 4;
const HOUR_MS = 3_600_000;

function hourOf(ts: number): number {
  return Math.floor(ts / HOUR_MS);
}
/**
 * Files are committed (manifest + hot-tier batch) in groups of at least this many records: hourly files
 * can be small, and each commit costs fsyncs. The bound keeps compaction's memory below one full file
 * (grouping 100k records measured +9% rate for +60% peak RSS, decisions.md).
 */
export const COMMIT_ROWS = 20_000;

/**
 * Rows handed to the encoder thread and not yet written, before another file is handed over (so at most
 * this plus one file's rows are in flight): enough to keep the thread busy while
 * the main thread writes and commits, few enough to bound memory (a fixed number of rows in flight).
 */
export const ENCODE_AHEAD_ROWS = 20_000;

/** The state of one compaction (Compactor.compact). */
interface Run {
  encoder: ColdEncoder;
  result: CompactResult;
  /** Partitions that received files. */
  touched: Set<string>;
  /** Files written since the last commit, with their records: committed together (commitPending). */
  pending: { file: Omit<ColdFile, "generation">; records: HotRecord[] }[];
  pendingRows: number;
  /** Names of files written (or being written) and not yet committed: removed if compaction fails. */
  written: string[];
  /** The landing of the last file handed to the encoder (each file's lands after the one before). */
  landing: Promise<void>;
  /** The landings the loop has not waited for yet, oldest first. */
  landings: Promise<void>[];
  /** Rows handed to the encoder and not yet written. */
  inFlightRows: number;
  /** Partition directories made durable in this run. */
  dirs: Set<string>;
}

/**
 * A moved record as step 3 sees it: its turn, timestamp and sequence from its key, its id and
 * conversation from the encoder thread (which decoded it). The rest of the record is in its cold
 * file; step 3 (applyMove) reads only these fields, and the main thread never decodes the values.
 */
function movedRecord(key: Buffer, id: string, conversationId: string | null): HotRecord {
  const { turnId, ts, seq } = parseRecordKey(key);
  const record: Partial<HotRecord["record"]> = { timestamp: ts };
  if (turnId !== "") record.turnId = turnId;
  if (conversationId !== null) record.conversationId = conversationId;
  return { id, seq, record: record as HotRecord["record"], bodyHash: null };
}

export const COLD_GEN_KEY = metaKey("cold");

export class Compactor {
  private readonly hot: HotTier;
  private readonly cold: ColdTier;
  private readonly writes: WritePath;
  private appliedGen = 0;
  /**
   * Files committed to the manifest (step 2) whose step 3 failed (a full disk): their records are still
   * in the hot tier and counted there, so `stats()` leaves them out of the cold count until `recover()`
   * lands step 3 (by name: retention may drop such a file meanwhile).
   */
  private readonly unapplied = new Set<string>();
  private deletedSinceRewrite = 0;
  private readonly quiesceReads: () => Promise<void>;

  constructor(hot: HotTier, cold: ColdTier, writes: WritePath, quiesceReads: () => Promise<void>) {
    this.hot = hot;
    this.cold = cold;
    this.writes = writes;
    this.quiesceReads = quiesceReads;
  }

  /** Brings the hot tier up to the manifest: redoes step 3 for files a crash left unapplied. */
  async recover(): Promise<void> {
    const raw = await this.hot.get(COLD_GEN_KEY);
    this.appliedGen = raw === undefined ? 0 : appliedGeneration(raw);
    if (this.cold.manifest.generation <= this.appliedGen) return;
    // In generation order, each marked applied as it lands, so a crash during recovery resumes it. A
    // generation's files land in one batch: marking it applied after only some of them would leave the
    // others' step 3 undone for good (their generation no longer counts as pending).
    const pending = new Map<number, ColdFile[]>();
    for (const f of this.cold.files) {
      if (f.generation > this.appliedGen)
        pending.set(f.generation, [...(pending.get(f.generation) ?? []), f]);
    }
    for (const generation of [...pending.keys()].sort((a, b) => a - b)) {
      const moves: HotRecord[] = [];
      for (const f of pending.get(generation)!) moves.push(...((await this.pendingRecords(f)) ?? []));
      await this.applyMove(moves, true, generation);
    }
    if (this.cold.manifest.generation > this.appliedGen)
      await this.markApplied([], 0, this.cold.manifest.generation);
    this.unapplied.clear();
  }

  /**
   * A pending file's records, or `undefined` when it is damaged (ERR_CORRUPT_STORE). A damaged pending
   * file must not fail the open: its step 3 is skipped and it stays listed, so that reads over its range
   * and `verify` keep reporting the damage. Nothing readable is lost by skipping it: a pending file is
   * either a compaction's, whose step 3 (the one batch that deletes its records from the hot tier and
   * marks its generation applied) never landed, so every record of it is still in the hot tier, readable
   * and counted there, and a later compaction moves them again; or a merge's, whose records were read
   * from the files it replaced, which the open's sweep has already deleted as unlisted, so that it is
   * their only copy and its damage loses them whatever recovery does. Applying what could be decoded of
   * it instead would index rows that a damaged file cannot vouch for.
   */
  private async pendingRecords(f: ColdFile): Promise<HotRecord[] | undefined> {
    try {
      return await this.cold.fileRecords(f.name);
    } catch (err) {
      if (err instanceof TracetierError && err.code === "ERR_CORRUPT_STORE") return undefined;
      throw err;
    }
  }

  /** Rows the cold tier lists that are still counted as hot (step 3 of their move has not landed). */
  unappliedRows(): number {
    return this.cold.files.reduce((n, f) => n + (this.unapplied.has(f.name) ? f.rows : 0), 0);
  }

  async compact(opts: CompactOptions = {}): Promise<CompactResult> {
    if (this.cold.manifest.generation > this.appliedGen) await this.recover(); // an earlier step 3 failed
    const cutoff = (opts.now ?? Date.now()) - (opts.olderThanMs ?? DEFAULT_COMPACT_AGE_MS);
    await this.hot.flushMemtable(); // the moved records' deletes must meet their values (HotTier)
    const run: Run = {
      encoder: new ColdEncoder(),
      result: { recordsMoved: 0, partitionsWritten: 0, bytesWritten: 0 },
      touched: new Set(),
      pending: [],
      pendingRows: 0,
      written: [],
      landing: Promise.resolve(),
      landings: [],
      inFlightRows: 0,
      dirs: new Set(),
    };
    try {
      await this.moveOlder(run, cutoff);
    } catch (err) {
      await run.landing.catch(() => {}); // the files it is writing are among `written`
      await this.removeUncommitted(run.written);
      throw err;
    } finally {
      await run.encoder.close();
    }
    run.result.partitionsWritten = run.touched.size;
    for (const d of run.touched) await this.mergeSmallFiles(d);
    await this.dropTombstones(run.result.recordsMoved);
    return run.result;
  }

  /**
   * Moves the records before `cutoff` to cold files. The time index yields records in timestamp order,
   * so an hour's records arrive together. A file holds one UTC hour at most: rows sorted by turnId
   * spread every hour over every row group, so only files that are time slices let a time-range read
   * skip anything (docs/decisions.md).
   *
   * Three stages overlap: this loop reads a file's values and hands them to the encoder thread, which
   * encodes them while this thread decodes them (step 3 needs the records); a chain lands the files in
   * order as their bytes come back (written, then committed in groups), while the loop reads on. Before
   * it hands over a file, the loop waits for the chain while more than ENCODE_AHEAD_ROWS rows are in
   * flight, so memory is a fixed number of rows whatever the store's size.
   */
  private async moveOlder(run: Run, cutoff: number): Promise<void> {
    let keys: Buffer[] = [];
    let values: Buffer[] = [];
    let hour: number | undefined;
    const cut = async () => {
      if (values.length === 0) return;
      while (run.inFlightRows > ENCODE_AHEAD_ROWS) await run.landings.shift();
      this.encodeFile(run, keys, values);
      keys = [];
      values = [];
    };
    for await (const page of this.hot.valuesByTime(cutoff)) {
      for (const [i, key] of page.keys.entries()) {
        const h = hourOf(recordKeyTs(key));
        if (h !== hour || values.length >= MAX_FILE_ROWS) await cut();
        hour = h;
        keys.push(key);
        values.push(page.values[i]!);
      }
    }
    await cut();
    await run.landing;
    await this.commitPending(run);
  }

  /**
   * Hands one file's values to the encoder and chains the file's landing after the previous one's. A
   * failed landing fails every later one (the chain), and the loop sees it at its next wait or at the
   * end. Only the keys stay on this thread: the values cross in one transferred buffer.
   */
  private encodeFile(run: Run, keys: Buffer[], values: Buffer[]): void {
    const valueName = (i: number) => `the hot record value under key ${keys[i]!.toString("hex")}`;
    const encoded = run.encoder.encode(packValues(values), `for ${values.length} records`, valueName);
    encoded.catch(() => {}); // awaited by landFile; a failure before then must not go unhandled
    run.inFlightRows += keys.length;
    run.landing = run.landing.then(() => this.landFile(run, keys, encoded));
    run.landing.catch(() => {}); // awaited by the loop
    run.landings.push(run.landing);
  }

  /** Step 1 for a file whose bytes are coming, then its group committed when full. */
  private async landFile(run: Run, keys: Buffer[], encoded: Promise<EncodedFile>): Promise<void> {
    const date = dateOf(recordKeyTs(keys[0]!));
    const name = fileName(date, this.cold.manifest.generation + 1, run.pending.length);
    run.written.push(name);
    const { bytes, turns, index, ids, conversationIds } = await encoded;
    const records = keys.map((k, i) => movedRecord(k, ids[i]!, conversationIds[i]!));
    const file = await this.writeFile(run, date, name, { bytes, turns, index }, records);
    run.inFlightRows -= records.length;
    run.pending.push({ file, records });
    run.pendingRows += records.length;
    run.result.recordsMoved += records.length;
    run.result.bytesWritten += file.bytes;
    run.touched.add(date);
    if (run.pendingRows >= COMMIT_ROWS) await this.commitPending(run);
  }

  /**
   * Steps 2 and 3 for the files written since the last commit (one manifest generation, one LevelDB
   * batch), which bounds memory to a group of at least COMMIT_ROWS records.
   */
  private async commitPending(run: Run): Promise<void> {
    const { pending } = run;
    if (pending.length === 0) return;
    const generation = this.cold.manifest.generation + 1;
    const files = pending.map((p) => p.file);
    try {
      await this.cold.apply({ add: files });
    } finally {
      // Listed, even by a commit that failed after its rename (ColdTier.commit): step 3 is pending.
      for (const f of files) if (this.cold.has(f.name)) this.unapplied.add(f.name);
    }
    await this.applyMove(
      pending.flatMap((p) => p.records),
      false,
      generation,
    );
    for (const f of files) this.unapplied.delete(f.name);
    run.pending = [];
    run.pendingRows = 0;
    run.written = run.written.filter((n) => !files.some((f) => f.name === n));
  }

  /** Step 1: a new file in its partition, complete under its final name (not yet in the manifest). */
  private async writeFile(
    run: Run,
    date: string,
    name: string,
    encoded: EncodedColdFile,
    records: HotRecord[],
  ): Promise<Omit<ColdFile, "generation">> {
    if (!run.dirs.has(date)) {
      // once a run: the partition's directory entry is durable before any manifest lists a file in it
      await fsys.mkdir(partitionDir(this.cold.dir, date));
      await fsyncDir(this.cold.dir);
      run.dirs.add(date);
    }
    const written = await writeColdFile(tempPath(this.cold.dir, name), this.cold.path(name), encoded);
    let minTs = Number.POSITIVE_INFINITY;
    let maxTs = Number.NEGATIVE_INFINITY;
    for (const r of records) {
      minTs = Math.min(minTs, r.record.timestamp);
      maxTs = Math.max(maxTs, r.record.timestamp);
    }
    return { name, date, rows: records.length, ...written, minTs, maxTs };
  }

  /**
   * After a failure: deletes, best effort, files written under their final names that no manifest
   * lists (the commit never came). The open's sweep would remove them too, but until then they hold
   * the space a full disk needs, and `verify` reports them. A file the manifest lists (a commit that
   * failed after its rename) stays.
   */
  private async removeUncommitted(names: readonly string[]): Promise<void> {
    if (!this.cold.settled) return; // the disk's manifest may list them: the open's sweep decides
    const gone = names.filter((n) => !this.cold.has(n));
    for (const name of gone) await unlinkColdFile(this.cold.path(name)).catch(() => {});
    if (gone.length > 0) await fsyncDir(this.cold.dir).catch(() => {});
  }

  /**
   * Moved records leave deleted entries that slow scans (HotTier.compactAll). Rewriting the hot tier
   * costs time in proportion to its size, so it runs once the entries deleted since the last rewrite
   * outnumber the live hot records: after bulk moves at once, after many small ones in time.
   */
  private async dropTombstones(moved: number): Promise<void> {
    this.deletedSinceRewrite += moved;
    if (this.deletedSinceRewrite === 0 || this.deletedSinceRewrite < this.writes.counters.hotRecords) return;
    await this.hot.compactAll();
    this.deletedSinceRewrite = 0;
  }

  /**
   * Step 3: the records leave the hot tier, every entry of theirs. At recovery the records may already
   * be gone (a merge's file, or a step 3 that landed): only present ones count.
   */
  private async applyMove(records: HotRecord[], checkPresence: boolean, generation: number): Promise<void> {
    const keys = records.map((r) => recordKey(r.record.turnId, r.record.timestamp, r.seq));
    const present = checkPresence ? await this.hot.getMany(keys) : keys;
    const ops: BatchOp[] = [];
    let moved = 0;
    records.forEach((r, i) => {
      if (present[i] === undefined) return;
      moved++;
      ops.push(...recordDeletes(r));
    });
    await this.markApplied(ops, moved, generation);
  }

  private async markApplied(ops: BatchOp[], moved: number, generation: number): Promise<void> {
    await this.writes.maintain((c) => ({
      ops: [...ops, { type: "put", key: COLD_GEN_KEY, value: encode(generation) }],
      counters: { ...c, hotRecords: c.hotRecords - moved },
    }));
    this.appliedGen = generation;
  }

  /** Merges each hour's small files in a partition, when there are too many of them. */
  private async mergeSmallFiles(date: string): Promise<void> {
    const byHour = new Map<number, ColdFile[]>();
    for (const f of this.cold.files) {
      if (f.date !== date || f.rows >= SMALL_FILE_ROWS || hourOf(f.minTs) !== hourOf(f.maxTs)) continue;
      byHour.set(hourOf(f.minTs), [...(byHour.get(hourOf(f.minTs)) ?? []), f]);
    }
    for (const small of byHour.values()) if (small.length > MAX_SMALL_FILES) await this.merge(date, small);
  }

  /**
   * The files of a merge that read back whole, with their records. A damaged file (ERR_CORRUPT_STORE:
   * its checksum, size or pages) stays where it is, listed: reads of its turns and `verify` keep
   * reporting it, and merging what could be read of it would hide the damage. The others still merge,
   * so one damaged file does not fail every later compaction.
   */
  private async readSound(files: ColdFile[]): Promise<{ small: ColdFile[]; records: HotRecord[] }> {
    const small: ColdFile[] = [];
    const records: HotRecord[] = [];
    for (const f of files) {
      try {
        records.push(...(await this.cold.fileRecords(f.name)));
        small.push(f);
      } catch (err) {
        if (!(err instanceof TracetierError && err.code === "ERR_CORRUPT_STORE")) throw err;
      }
    }
    return { small, records };
  }

  /**
   * Rewrites each file an older version wrote (no lookup filters in it or its manifest entry) as a new
   * file that has them, one commit each: the upgrade to manifest version 4 (src/maintenance/upgrade.ts). A file
   * that cannot be read back whole stays as it is (a candidate for every lookup, and reported damaged).
   */
  async addFilters(): Promise<number> {
    let rewritten = 0;
    for (const f of this.cold.files.filter((x) => x.turns === undefined)) {
      if (await this.merge(f.date, [f], 1)) rewritten++;
    }
    return rewritten;
  }

  /**
   * Merges files of one partition and hour into one (at least `min` of them must read back whole),
   * with the same commit discipline, then deletes them. Returns whether it did.
   */
  private async merge(date: string, candidates: ColdFile[], min = 2): Promise<boolean> {
    const { small, records } = await this.readSound(candidates);
    if (small.length < min) return false;
    const generation = this.cold.manifest.generation + 1;
    const name = fileName(date, generation, 0);
    const encoded = encodeRecords(records, sidecarSettings.build); // with its search sidecar
    const written = await writeColdFile(tempPath(this.cold.dir, name), this.cold.path(name), encoded).catch(
      async (err: unknown) => {
        await this.removeUncommitted([name]); // renamed into place before a later step failed
        throw err;
      },
    );
    const merged: ColdFile = {
      name,
      date,
      rows: records.length,
      ...written,
      minTs: Math.min(...small.map((f) => f.minTs)),
      maxTs: Math.max(...small.map((f) => f.maxTs)),
      generation,
    };
    const gone = new Set(small.map((f) => f.name));
    try {
      await this.cold.apply({ add: [merged], remove: small });
    } catch (err) {
      await this.removeUncommitted([name]);
      throw err;
    }
    await this.markApplied([], 0, generation); // nothing of a merge is in the hot tier

    await this.quiesceReads(); // a read that listed a replaced file before the commit may still open it
    for (const old of gone) await unlinkColdFile(this.cold.path(old));
    await fsyncDir(dirname(this.cold.path(name)));
    return true;
  }
}

/** The cold generation the hot tier has applied, as stored under `COLD_GEN_KEY`. */
export function appliedGeneration(raw: Uint8Array): number {
  const gen = decodeStored(raw, "the applied cold generation (m·cold)");
  if (typeof gen !== "number" || !Number.isSafeInteger(gen) || gen < 0) {
    throw new CorruptStoreError(`the applied cold generation (m·cold) is not a generation: ${String(gen)}`);
  }
  return gen;
}
