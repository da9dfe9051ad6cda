/**
 * `verify`: checks a store against itself, without changing it unless asked to repair: a closed store
 * (verifyStore), or an open one, read-only (verifyOpen, below).
 *
 *   WAL       every frame's checksum (a torn tail is noted, not a problem)
 *   cold      the manifest's shape; the manifest against the files on disk; each file's size and checksum
 *             against its manifest entry; every column of every row group decoded, and the row count;
 *             each file's lookup filters against its rows: the turn filter (its manifest entry) holds
 *             every row's turn, the record-id filter (its footer) every row's id
 *   hot       the layout (`m·layout`); every record's time, id and conversation entries; every index
 *             entry's record; every record's body (stored, or marked evicted), hot and cold; every
 *             chunk a body lists; the counters against what is stored
 *
 * Layout 2 (the cold tier owns its lookup filters): the hot tier holds entries of hot records only, so
 * a turn → file entry (`f`) or an id entry whose record is not hot is a problem (the id entry would make
 * a re-insert of that id a duplicate). Layout 1 (no `m·layout`: an older version wrote the store) has
 * both for its cold records; they are counted, not judged, and pending: the upgrade at open deletes
 * them (src/maintenance/upgrade.ts). So are files without filters (the upgrade rewrites them with filters) and
 * files an older manifest lists as dropped (Pruner.finishDrops at open removes them).
 *
 * A store as a kill left it holds what recovery at the next open finishes: WAL frames not yet applied
 * (replay), files no manifest lists (ColdTier's sweep: an unfinished write, a merge's replaced files, a
 * drop's files not yet unlinked), records in both tiers with the manifest generation above the applied
 * one (Compactor.recover redoes compaction's step 3). Those are reported as `pending`, not as problems,
 * and only when the open would really get to them (a WAL or counters problem stops it first; a file
 * recovery must read that cannot be read stops it midway; an unknown layout stops it before the
 * upgrade): anything else of the same shape stays a problem.
 *
 * `repair` fixes what is safe to fix: files under cold/ that no manifest lists (when the open would not),
 * index entries whose record is gone (and, in layout 2, turn → file entries), missing index entries of
 * a record, and counters; it adds the checksum of each sound cold file an older version listed without
 * one; and a file whose filters miss rows is rewritten with correct ones, the way the upgrade rewrites
 * a file without filters: repair removes the turn filter from its manifest entry, and the open it then
 * runs rewrites the file (Compactor.addFilters). It never deletes a record or a body. It leaves pending
 * items to the store's own recovery, which it runs by opening and closing the store (then verifies
 * again): recovery knows more than verify, and one implementation of it is one to trust.
 *
 * A decode error anywhere (a hot value's msgpack, the manifest's JSON, a Parquet page) is a reported
 * problem, not a failure of verify.
 *
 * An open store (`tracetier verify` while `tracetier serve` holds it: the collector runs verifyOpen
 * through src/store.ts verifyRunning) is verified by the same checks, over what a kill at one moment
 * would have left. The run holds the store's maintenance lock throughout (it waits for a compaction,
 * prune or GC in progress, and the next waits for it), so the cold tier is what its manifest lists and
 * stays so. The hot tier is read through one LevelDB snapshot taken under that lock (HotTier.snapshot):
 * a batch is atomic and carries its records, bodies, search-index keys and counters together, so the
 * snapshot holds each batch wholly or not at all, as a kill would. The WAL is read live: a partial
 * frame at the end of the newest segment is an append in flight (a note), frames above the snapshot's
 * applied sequence are batches the store is applying (pending), and a segment a checkpoint deletes
 * under the read was applied (the WAL is read again). What verify calls pending on a killed store is
 * then in flight, or a leftover the store finishes by itself (a note says so). No repair: it writes,
 * as the store does, so `--repair` needs the store closed (ERR_INVALID_OPTION). The run is a tracked
 * read (no file it reads is unlinked under it); a close ends it at its next file or hot-tier batch
 * with ERR_CLOSED.
 */
import { existsSync, type Stats } from "node:fs";
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { checksumOf } from "../../tiers/cold/checksum.js";
import { BloomFilter, idHash, textHash } from "../../tiers/cold/filter.js";
import { MANIFEST_NAME } from "../../tiers/cold/layout.js";
import { type ColdFile, commitManifest, loadManifest, type Manifest } from "../../tiers/cold/manifest.js";
import { decodeAll, integrityProblem, readParquetInfo } from "../../tiers/cold/parquet.js";
import { fromRow } from "../../tiers/cold/schema.js";
import { sidecarName } from "../../tiers/cold/sidecar.js";
import { buildSidecarOfFile, sidecarMismatch, writeSidecar } from "../../tiers/cold/sidecars.js";
import {
  hashKey,
  P_BODY,
  P_CHUNK,
  P_CONV,
  P_DICT,
  P_EVICTED,
  P_ID,
  P_RECORD,
  P_TIME,
  P_TURN_FILE,
  prefixEnd,
  recordKey,
} from "../../tiers/hot/keys.js";
import { type BatchOp, type HotReader, HotTier, type KeyRange } from "../../tiers/hot/tier.js";
import { bodyHashOf, decodeRecordValue, recordPuts } from "../../tiers/hot/values.js";
import { inspectWal, type SegmentReport } from "../../wal/reader.js";
import { fsyncDir } from "../base/durable-fs.js";
import { ClosedError, CorruptStoreError, InvalidOptionError } from "../base/errors.js";
import { fsError } from "../base/fs.js";
import { type Dictionary, storedDictionary } from "../bodies/codec.js";
import { decodeDictionary } from "../bodies/dictionary.js";
import { decodeManifest } from "../bodies/manifest.js";
import { checkChunkIndex } from "../search/chunks/verify.js";
import { openStore } from "../store.js";
import { decodeBatch } from "../write/batch.js";
import { type Counters, countersOp, loadCounters } from "../write/counters.js";
import { appliedGeneration, COLD_GEN_KEY } from "./compaction.js";
import { reindex } from "./reindex.js";
import { HOT_LAYOUT, hotLayout, LAYOUT_HOT_ONLY } from "./upgrade.js";

export interface Problem {
  /** Where: a WAL segment and offset, a cold file, a hot-tier key. */
  where: string;
  what: string;
  /** Whether `repair` fixes it, and (after a repair) whether it did. */
  repairable: boolean;
  repaired?: boolean;
}

/** Something an unclean shutdown left that recovery at the next open finishes: not a problem. */
export interface Pending {
  where: string;
  what: string;
}

export interface VerifyReport {
  problems: Problem[];
  notes: string[];
  /** What the next open finishes by itself (a kill's leftovers); empty after a clean close. */
  pending: Pending[];
  checked: {
    walFrames: number;
    coldFiles: number;
    coldRows: number;
    hotRecords: number;
    bodies: number;
    chunks: number;
  };
}

export async function verifyStore(dir: string, opts: { repair?: boolean } = {}): Promise<VerifyReport> {
  const first = await verifyPass(dir, opts.repair === true);
  const { report, rewrites } = first;
  if (
    opts.repair !== true ||
    (report.pending.length === 0 && rewrites.length === 0 && first.reindex.length === 0)
  )
    return report;
  return finishByOpening(dir, first);
}

/** The note of a verify of an open store: which path it took, and what its pending items are. */
export const LIVE_NOTE =
  "verified while the store is open (a snapshot of its hot tier, under its maintenance lock): pending items are in flight, or leftovers the store finishes by itself (at the latest at its next open)";

/** Why an open store is not repaired (verifyOpen, and src/store.ts verifyRunning before it waits for the lock). */
export function liveRepairRefused(): InvalidOptionError {
  return new InvalidOptionError(
    "repair",
    "needs the store closed (verify --repair writes to it, as the running store does): stop tracetier serve first",
  );
}

/**
 * `verify` of an open store (src/store.ts verifyRunning: the collector's admin endpoint): read-only, the
 * same checks and report as verifyStore's. The caller holds the store's maintenance lock for the whole
 * run (no compaction, prune, GC or sidecar commit changes the cold tier meanwhile), and gives `hot`, a
 * snapshot of the hot tier taken under that lock (HotTier.snapshot): together they are the store as a
 * kill at that moment would have left it, which verify already tells apart (pending, not problems).
 * `stopped` is checked between files and hot-tier batches: once true (the store is closing), the run
 * ends with ERR_CLOSED.
 */
export async function verifyOpen(
  dir: string,
  hot: HotReader,
  opts: { repair?: boolean; stopped?: () => boolean } = {},
): Promise<VerifyReport> {
  if (opts.repair === true) throw liveRepairRefused();
  const stopped = opts.stopped ?? (() => false);
  const check = () => {
    if (stopped()) throw new ClosedError();
  };
  const { report } = await inspect({ dir, hot: stopping(hot, check), live: { check } });
  report.notes.push(LIVE_NOTE);
  return report;
}

/** `hot`, whose every read and batch first runs `check` (which throws to stop the run). */
function stopping(hot: HotReader, check: () => void): HotReader {
  return {
    get: async (key) => {
      check();
      return hot.get(key);
    },
    getMany: async (keys) => {
      check();
      return hot.getMany(keys);
    },
    getManySync: (keys) => {
      check();
      return hot.getManySync(keys);
    },
    async *entries(range, values) {
      for await (const batch of hot.entries(range, values)) {
        check();
        yield batch;
      }
    },
  };
}

/**
 * `--repair` with pending items, or files to rewrite: runs the store's own recovery and upgrade (an
 * open and a close: WAL replay, the cold tier's sweep, Compactor.recover, the upgrade, which rewrites
 * files without filters, Pruner.finishDrops) rather than imitate it, then verifies and repairs again.
 * A file to rewrite is repaired when the second pass no longer finds it (it was rewritten under a new
 * name). If the open fails, the items stay pending, the files unrewritten, and the failure is noted.
 */
async function finishByOpening(dir: string, pass: Pass): Promise<VerifyReport> {
  const { report: first, rewrites, reindex: rebuilds } = pass;
  try {
    const store = await openStore({ dir });
    try {
      if (rebuilds.length > 0) await reindex(store); // the search index, rebuilt from the data
    } finally {
      await store.close();
    }
  } catch (err) {
    first.notes.push(
      `opening the store to finish what an unclean shutdown left failed (${(err as Error).message}): those items stay pending${rewrites.length > 0 ? ", and the files whose filters miss rows are not rewritten (their turn filters are removed from the manifest: every turn lookup reads them)" : ""}`,
    );
    return first;
  }
  const { report: after } = await verifyPass(dir, true);
  const seen = new Set([...after.problems, ...after.pending].map((p) => p.where));
  for (const p of [...rewrites, ...rebuilds]) if (!seen.has(p.where)) p.repaired = true;
  const finished = first.pending.length;
  return {
    ...after,
    // a file the open did not rewrite (it retries at every open) stays a problem
    problems: [
      ...first.problems.filter((p) => p.repaired || rewrites.includes(p) || rebuilds.includes(p)),
      ...after.problems,
    ],
    notes: [
      ...(finished > 0
        ? [
            `opened and closed the store: its recovery finished ${finished} pending item(s) an unclean shutdown or an older version left`,
          ]
        : []),
      ...(rewrites.length > 0
        ? [
            `opened and closed the store: it rewrote ${rewrites.filter((p) => p.repaired).length} of ${rewrites.length} cold file(s) whose filters missed rows`,
          ]
        : []),
      ...(rebuilds.length > 0 ? ["opened the store and rebuilt its search index (tracetier reindex)"] : []),
      ...pass.did,
      ...after.notes,
    ],
  };
}

/** Whether the next open gets to each recovery step, and what verify needs to know of what they do. */
interface Recovery {
  /** The open gets past WAL replay (so the cold tier's sweep removes unlisted files). */
  opens: boolean;
  /** Compactor.recover runs (manifest generation above the applied one): it redoes compaction's step 3
   * for the files above the applied generation, and records the manifest's generation applied. */
  recovers: boolean;
  appliedGen: number;
  /** The hot tier's layout (1, 2 or 3); undefined when `m·layout` is neither (the open stops at it). */
  layout: number | undefined;
  /** The open gets to the upgrade and Pruner.finishDrops: it opens, recover does not stop it (a file
   * above the applied generation that cannot be read), and the layout is known. Settled once the cold
   * files are read. */
  upgrades: boolean;
}

/** A pass's report, the files whose filters miss rows (repaired by an open) and what repair did. */
interface Pass {
  report: VerifyReport;
  rewrites: Problem[];
  /** Problems of the search index: repaired by rebuilding it (src/maintenance/reindex.ts). */
  reindex: Problem[];
  did: string[];
}

async function verifyPass(dir: string, repairing: boolean): Promise<Pass> {
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    const found = await inspect({ dir, hot });
    const { report } = found;
    if (!repairing) return { report, rewrites: [], reindex: found.reindexing, did: [] };
    const coldDir = join(dir, "cold");
    const { cold, manifest } = found;
    const rewrites = cold?.rewrites ?? [];
    const did: string[] = [];
    await repair(
      hot,
      coldDir,
      cold?.orphans ?? [],
      found.fixes,
      report,
      new Set([...rewrites, ...found.reindexing]),
    );
    const indexed = manifest && (await repairSidecars(coldDir, manifest, found.sidecars, report, did));
    if (indexed && cold && (cold.checksums.size > 0 || rewrites.length > 0))
      did.push(...(await rewriteManifest(coldDir, indexed, cold.checksums, new Set(cold.rewriteNames))));
    report.notes.push(...did);
    return { report, rewrites, reindex: found.reindexing, did };
  } finally {
    await hot.close();
  }
}

/**
 * What a pass reads: the store's directory, its hot tier (opened by verify, or a snapshot view of an
 * open store's), and, for an open store, when to stop.
 */
interface Source {
  dir: string;
  hot: HotReader;
  /** Set when the store is open (verifyOpen). */
  live?: {
    /** Throws ERR_CLOSED once the store is closing: checked between files and hot-tier batches. */
    check(): void;
  };
}

/** What a pass found, and what repair needs of it. */
interface Findings {
  report: VerifyReport;
  manifest: Manifest | undefined;
  cold: ColdFindings | undefined;
  /** Files whose search sidecar repair builds. */
  sidecars: string[];
  /** Index and counter fixes (one batch). */
  fixes: BatchOp[];
  /** Problems of the search index: repaired by rebuilding it. */
  reindexing: Problem[];
}

/** Every check, changing nothing. */
async function inspect(src: Source): Promise<Findings> {
  const { dir, hot, live } = src;
  const report: VerifyReport = {
    problems: [],
    notes: [],
    pending: [],
    checked: { walFrames: 0, coldFiles: 0, coldRows: 0, hotRecords: 0, bodies: 0, chunks: 0 },
  };
  const frames = await checkWal(join(dir, "wal"), report, live !== undefined);
  const walSound = report.problems.length === 0;
  const coldDir = join(dir, "cold");
  const manifest = await loadManifest(coldDir).catch((err: unknown) => {
    if (!(err instanceof CorruptStoreError)) throw err;
    report.problems.push({ where: `cold/${MANIFEST_NAME}`, what: err.message, repairable: false });
    return undefined;
  });
  // Undecodable counters stop the next open before replay, as a WAL problem does. (A failed read, or
  // an open store's close, is no finding: it ends the run.)
  const counters = await loadCounters(hot).catch((err: Error) => {
    if (!(err instanceof CorruptStoreError)) throw err;
    report.problems.push({
      where: "hot counters",
      what: `cannot be decoded: ${err.message}`,
      repairable: false,
    });
    return undefined;
  });
  // A WAL problem stops the next open's replay: its frames are then not pending, only there.
  if (counters && walSound) pendingWal(frames, counters.appliedSeq, report, live !== undefined);
  const recovery = await recoveryOf(hot, manifest, walSound && counters !== undefined, report);
  const coldBodies = new Map<string, Uint8Array[]>();
  // Without a manifest nothing under cold/ can be told stray.
  const cold =
    manifest && (await checkColdFiles(hot, coldDir, manifest, report, coldBodies, recovery, live?.check));
  const sidecars = manifest ? await checkSidecars(coldDir, manifest, report) : [];
  live?.check();
  const fixes: BatchOp[] = [];
  await checkHot(hot, recovery, report, fixes);
  const { bodyBytes, dictionaries } = await checkBodyStore(hot, report);
  if (counters) checkCounters(counters, bodyBytes, report, fixes);
  for (const [name, hashes] of coldBodies)
    checkBodiesPresent(hot, hashes, `a record of cold/${name}`, report);
  let reindexing: Problem[] = [];
  if (recovery.layout === HOT_LAYOUT) {
    const index = await checkChunkIndex(hot, counters?.appliedSeq, {
      dictionaries: { dictionary: (id) => dictionaries.get(id) },
      live: live !== undefined,
    });
    reindexing = index.problems.map((p) => ({ ...p, repairable: true }));
    report.problems.push(...reindexing);
    report.pending.push(...index.pending);
    report.notes.push(...index.notes);
  }
  return { report, manifest, cold, sidecars, fixes, reindexing };
}

/**
 * Where the open does what verify calls pending: pending when it gets there (`reached`), else a note
 * (the item is not wrong, but nothing finishes it while the open stops earlier).
 */
function laterAtOpen(report: VerifyReport, reached: boolean, where: string, what: string): void {
  if (reached) report.pending.push({ where, what: `${what}: done at the next open` });
  else report.notes.push(`${where}: ${what}: done once the store opens (the open stops earlier now)`);
}

/** A decodable WAL frame: where it is, the last sequence number and the records it holds. */
interface WalFrame {
  segment: string;
  lastSeq: number;
  records: number;
}

/**
 * `live`: the store is open. Its newest segment is appended to while it is read: a partial frame at its
 * end is a write in flight. And a checkpoint may delete a segment between the listing and its read:
 * the segment was applied, and the WAL is read again.
 */
async function checkWal(walDir: string, report: VerifyReport, live: boolean): Promise<WalFrame[]> {
  const frames: WalFrame[] = [];
  const segments = await readWalSegments(walDir, live);
  for (const s of segments) {
    report.checked.walFrames += s.frames.length;
    for (const f of s.frames) {
      // a frame whose checksum holds must still decode, or the next open stops at it
      try {
        const b = decodeBatch(f.payload, { segment: s.file, offset: f.offset });
        frames.push({ segment: s.file, lastSeq: b.lastSeq, records: b.records.length });
      } catch (err) {
        const what = `a checksummed frame that does not decode: ${(err as Error).message}`;
        report.problems.push({ where: `wal/${s.file} at offset ${f.offset}`, what, repairable: false });
      }
    }
    if (!s.bad) continue;
    if (s.bad.tornTail && live)
      report.notes.push(
        `wal/${s.file}: a frame being written at offset ${s.bad.offset} when it was read (an append in flight)`,
      );
    else if (s.bad.tornTail)
      report.notes.push(
        `wal/${s.file}: a torn tail at offset ${s.bad.offset} (${s.bad.reason}); cut at the next open, nothing in it was acknowledged`,
      );
    else
      report.problems.push({
        where: `wal/${s.file} at offset ${s.bad.offset}`,
        what: `corrupt frame: ${s.bad.reason}`,
        repairable: false,
      });
  }
  return frames;
}

/** Reads of the WAL an open store's checkpoints may race (checkWal): a few, then its last failure. */
const LIVE_WAL_READS = 5;

/** The WAL's segments (none without a WAL directory); read again when a checkpoint deleted one under the read. */
async function readWalSegments(walDir: string, live: boolean): Promise<SegmentReport[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inspectWal(walDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // a closed store: no WAL directory; an open one: a checkpoint deleted a segment being read
      if (!live || !existsSync(walDir)) return [];
      if (attempt === LIVE_WAL_READS) throw fsError(`reading the WAL in ${walDir}`, err);
    }
  }
}

/**
 * Frames above the hot tier's applied sequence number: replay at the next open applies them (per
 * segment); in an open store, they are batches the store is applying (after the snapshot was taken).
 */
function pendingWal(frames: WalFrame[], appliedSeq: number, report: VerifyReport, live: boolean): void {
  const bySegment = new Map<string, { frames: number; records: number }>();
  for (const f of frames) {
    if (f.lastSeq <= appliedSeq) continue;
    const n = bySegment.get(f.segment) ?? { frames: 0, records: 0 };
    n.frames++;
    n.records += f.records;
    bySegment.set(f.segment, n);
  }
  for (const [segment, n] of bySegment)
    report.pending.push({
      where: `wal/${segment}`,
      what: live
        ? `${n.frames} frame(s) holding ${n.records} record(s) not yet applied to the hot tier when its snapshot was taken (applied up to sequence ${appliedSeq}); the running store applies them`
        : `${n.frames} frame(s) holding ${n.records} record(s) not yet applied to the hot tier (applied up to sequence ${appliedSeq}); replayed at the next open`,
    });
}

/**
 * What the next open's recovery will get to (Store.start: replay, ColdTier.open's sweep,
 * Compactor.recover, the upgrade, then Pruner.finishDrops), as far as the hot tier tells.
 */
async function recoveryOf(
  hot: HotReader,
  manifest: Manifest | undefined,
  opens: boolean,
  report: VerifyReport,
): Promise<Recovery> {
  const layout = await hotLayout(hot).catch((err: unknown) => {
    if (!(err instanceof CorruptStoreError)) throw err;
    report.problems.push({ where: "hot m·layout", what: err.message, repairable: false });
    return undefined;
  });
  const none: Recovery = {
    opens: opens && manifest !== undefined,
    recovers: false,
    appliedGen: Number.POSITIVE_INFINITY,
    layout,
    upgrades: false,
  };
  if (!none.opens || manifest === undefined) return none;
  const raw = await hot.get(COLD_GEN_KEY);
  let appliedGen: number;
  try {
    appliedGen = raw === undefined ? 0 : appliedGeneration(raw);
  } catch (err) {
    // recover() stops the open at it: nothing after the sweep is finished
    report.problems.push({ where: "hot m·cold", what: (err as Error).message, repairable: false });
    return none;
  }
  return {
    ...none,
    recovers: manifest.generation > appliedGen,
    appliedGen,
    upgrades: layout !== undefined,
  };
}

/** What checkColdFiles found for repair to act on. */
interface ColdFindings {
  /** Files under cold/ that no manifest lists and no open will sweep. */
  orphans: string[];
  /** Checksums of sound files listed without one. */
  checksums: Map<string, string>;
  /** Files whose filters miss rows (and the problems naming them): rewritten by an open. */
  rewriteNames: string[];
  rewrites: Problem[];
}

/**
 * Every listed file checked whole (checkColdFile), collecting each file's distinct body hashes into
 * `bodies`; then what the open finishes of the cold tier: compaction's step 3 for the files above the
 * applied generation, the filters of files without them, an older version's dropped files.
 */
async function checkColdFiles(
  hot: HotReader,
  coldDir: string,
  manifest: Manifest,
  report: VerifyReport,
  bodies: Map<string, Uint8Array[]>,
  recovery: Recovery,
  step: () => void = () => {},
): Promise<ColdFindings> {
  const found: ColdFindings = { orphans: [], checksums: new Map(), rewriteNames: [], rewrites: [] };
  const unfiltered: string[] = [];
  const stillHot = new Map<string, Buffer[]>(); // file above the applied generation -> its record keys
  let recoverFails = false;
  for (const f of manifest.files) {
    step();
    report.checked.coldFiles++;
    // a file above the applied generation: recover() reads it and redoes step 3 for its records
    const redone = recovery.recovers && f.generation > recovery.appliedGen;
    const keys: Buffer[] | undefined = redone ? [] : undefined;
    const checked = await checkColdFile(coldDir, f, report, bodies, keys);
    if (typeof checked === "string") {
      // recover() skips a damaged file (its records stay hot), but an I/O error stops the open
      if (redone && checked === "unreadable") recoverFails = true;
      continue;
    }
    if (keys) stillHot.set(f.name, keys);
    if (f.turns === undefined) unfiltered.push(f.name);
    if (checked.filterProblems.length > 0) {
      found.rewriteNames.push(f.name);
      found.rewrites.push(...checked.filterProblems);
    }
    report.problems.push(...checked.filterProblems);
    if (f.checksum === undefined) {
      found.checksums.set(f.name, checked.checksum);
      report.notes.push(
        `cold/${f.name}: no checksum in the manifest (an older version wrote it); --repair adds it`,
      );
    }
  }
  // recover() stops the open at a file it cannot read: nothing after the sweep is finished
  recovery.upgrades &&= !recoverFails;
  if (!recovery.upgrades) {
    // an open that stops before the upgrade rewrites nothing: repair cannot fix the filters either
    for (const p of found.rewrites) p.repairable = false;
    found.rewriteNames = [];
    found.rewrites = [];
  }
  if (recovery.recovers && !recoverFails) pendingMoves(hot, stillHot, report);
  for (const name of unfiltered)
    laterAtOpen(
      report,
      recovery.upgrades,
      `cold/${name}`,
      "no lookup filters (an older version wrote it): every lookup reads it until the upgrade rewrites it with filters",
    );
  for (const f of manifest.dropped)
    laterAtOpen(
      report,
      recovery.upgrades,
      `cold/${f.name}`,
      "listed as dropped by an older version whose retention had not finished removing it: removed",
    );
  found.orphans = await strayColdFiles(coldDir, manifest, report, recovery.opens);
  return found;
}

/**
 * Compactor.recover's part: records of files above the applied generation that the hot tier still
 * holds are in both tiers (a kill between a compaction's commit and its step 3; reads dedup by id)
 * until the open deletes them from the hot tier. (A generation above the applied one by itself is no
 * leftover: merges and drops commit generations that nothing in the hot tier follows.)
 */
function pendingMoves(hot: HotReader, stillHot: Map<string, Buffer[]>, report: VerifyReport): void {
  for (const [name, keys] of stillHot) {
    const n = hot.getManySync(keys).filter((v) => v !== undefined).length;
    if (n > 0)
      report.pending.push({
        where: `cold/${name}`,
        what: `${n} of its records are still in the hot tier too (compaction's step 3 did not land); the next open deletes them from the hot tier`,
      });
  }
}

/**
 * One file: its size and checksum against its manifest entry, then every column of every row group
 * decoded (and each row converted back to a record), one group at a time, the rows counted, and its
 * filters checked against the rows (checkFilters). Returns the file's checksum and what is wrong with
 * its filters when it is otherwise sound; after reporting a problem, whether the file is damaged (or
 * missing) or could not be read at all. `keys` collects the rows' hot-tier record keys when given.
 */
async function checkColdFile(
  coldDir: string,
  f: ColdFile,
  report: VerifyReport,
  bodies: Map<string, Uint8Array[]>,
  keys?: Buffer[],
): Promise<{ checksum: string; filterProblems: Problem[] } | "damaged" | "unreadable"> {
  const where = `cold/${f.name}`;
  const path = join(coldDir, f.name);
  const problem = (what: string, verdict: "damaged" | "unreadable" = "damaged") => {
    report.problems.push({ where, what, repairable: false });
    return verdict;
  };
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return problem("listed in the manifest but missing");
    return problem(`unreadable: ${(err as Error).message}`, "unreadable");
  }
  const checksum = checksumOf(data);
  const damage = integrityProblem(f, data.length, checksum);
  if (damage) return problem(`damaged: ${damage}`);
  let rows = 0;
  const hashes = new Set<string>();
  const turns = new Set<string>();
  const ids: string[] = [];
  try {
    await decodeAll(path, data, (group) => {
      for (const r of group) {
        const { record, seq } = fromRow(r);
        keys?.push(recordKey(record.turnId, record.timestamp, seq));
        // what fileFilters built the filters from (a row without a turn is the empty turn's)
        turns.add(typeof r.turnId === "string" ? r.turnId : "");
        if (typeof r.id === "string") ids.push(r.id);
        if (typeof r.bodyHash === "string") hashes.add(r.bodyHash);
      }
      rows += group.length;
    });
  } catch (err) {
    const cause = err instanceof CorruptStoreError && err.cause instanceof Error ? err.cause : (err as Error);
    return problem(`cannot be decoded: ${cause.message}`);
  }
  if (rows !== f.rows) return problem(`holds ${rows} rows, the manifest says ${f.rows}`);
  report.checked.coldRows += rows;
  bodies.set(
    f.name,
    [...hashes].map((h) => Buffer.from(h, "hex")),
  );
  if (f.turns === undefined) return { checksum, filterProblems: [] }; // an older version's file: pending
  let idFilter: BloomFilter | undefined;
  try {
    idFilter = (await readParquetInfo(path)).ids;
  } catch (err) {
    if (!(err instanceof CorruptStoreError))
      return problem(`unreadable: ${(err as Error).message}`, "unreadable");
    // the footer decoded above: what fails now is its record-id filter, which no read of the file
    // (the rewrite's included) gets past
    return problem(`its record-id filter (footer) does not decode: ${err.message}`);
  }
  return { checksum, filterProblems: checkFilters(where, f.turns, idFilter, turns, ids) };
}

/**
 * A file's filters against its rows: a filter never says no for a key it was built with, so a miss is
 * a wrong filter, and reads trust it (a turn's read skips the file, an insert of the id is let in again).
 */
function checkFilters(
  where: string,
  turnsFilter: string,
  ids: BloomFilter | undefined,
  turns: Set<string>,
  rowIds: string[],
): Problem[] {
  const problems: Problem[] = [];
  const wrong = (what: string) => problems.push({ where, what, repairable: true });
  const byTurn = BloomFilter.decode(turnsFilter);
  if (byTurn === undefined) wrong("its turn filter (manifest) does not decode");
  else {
    const missed = [...turns].filter((t) => !byTurn.mayHave(textHash(t)));
    if (missed.length > 0)
      wrong(
        `its turn filter (manifest) misses ${missed.length} of its ${turns.size} turn(s), e.g. ${JSON.stringify(missed[0])}: reads of them skip the file`,
      );
  }
  if (ids === undefined) wrong("has a turn filter but no record-id filter in its footer");
  else {
    const missed = rowIds.filter((id) => !ids.mayHave(idHash(id)));
    if (missed.length > 0)
      wrong(
        `its record-id filter (footer) misses ${missed.length} of its ${rowIds.length} record(s), e.g. ${missed[0]}: a re-insert of them is not found a duplicate`,
      );
  }
  return problems;
}

/**
 * Files under cold/ that no manifest lists: pending when the next open gets to ColdTier.open's sweep
 * (which unlinks them), else repairable problems (returned, for repair to unlink).
 */
async function strayColdFiles(
  coldDir: string,
  manifest: Manifest,
  report: VerifyReport,
  swept: boolean,
): Promise<string[]> {
  const known = new Set([...manifest.files, ...manifest.dropped].flatMap(listedNames));
  const orphans: string[] = [];
  let entries: string[] = [];
  try {
    entries = await readdir(coldDir);
  } catch {
    return orphans;
  }
  for (const e of entries) {
    if (e === MANIFEST_NAME) continue;
    const path = join(coldDir, e);
    const top = await statIfThere(path);
    if (top === undefined) continue;
    if (!top.isDirectory()) {
      orphans.push(e);
      continue;
    }
    for (const n of await readdir(path)) {
      if (known.has(`${e}/${n}`)) continue;
      const found = await statIfThere(join(path, n));
      if (found === undefined) continue;
      if (found.isFile()) orphans.push(`${e}/${n}`);
      else
        report.problems.push({
          where: `cold/${e}/${n}`,
          what: "not a file, in a partition (the next open cannot sweep it)",
          repairable: false,
        });
    }
  }
  const what = "a file no manifest lists (a stray temporary or an unfinished write)";
  if (swept) {
    for (const o of orphans)
      report.pending.push({ where: `cold/${o}`, what: `${what}; removed at the next open` });
    return [];
  }
  for (const o of orphans) report.problems.push({ where: `cold/${o}`, what, repairable: true });
  return orphans;
}

/**
 * A file's stat, or undefined once it is gone: in an open store a sidecar's temporary file is renamed
 * outside the maintenance lock (src/store.ts indexColdFilesInBackground), between the listing and here.
 */
async function statIfThere(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** A listed file's names under cold/: the file, and its search sidecar when its entry has one. */
function listedNames(f: ColdFile): string[] {
  return f.index === undefined ? [f.name] : [f.name, sidecarName(f.name)];
}

/**
 * Each listed file's search sidecar against its manifest entry (present, size, CRC-32, decodes, row
 * count) and against the file's rows (rebuilt, the same postings): a bad one is a repairable problem (searches scan the file meanwhile, so they stay exact). A
 * file without one (written before manifest v5) is a note. Returns the files whose sidecar repair builds.
 */
async function checkSidecars(coldDir: string, manifest: Manifest, report: VerifyReport): Promise<string[]> {
  const build: string[] = [];
  for (const f of manifest.files) {
    if (f.index === undefined) {
      report.notes.push(
        `cold/${f.name}: no search sidecar (an older version wrote it): searches scan it until the open's background upgrade or --repair builds one`,
      );
      build.push(f.name);
      continue;
    }
    const where = `cold/${sidecarName(f.name)}`;
    const found = await sidecarMismatch(coldDir, f).catch((err: Error) =>
      err instanceof CorruptStoreError ? undefined : `is unreadable: ${err.message}`,
    ); // a damaged file is its own problem (checkColdFile)
    if (found === undefined) continue;
    report.problems.push({ where, what: `the search sidecar of cold/${f.name} ${found}`, repairable: true });
    build.push(f.name);
  }
  return build;
}

/**
 * Rebuilds the sidecars of `names` from their files (a damaged file is left: its own problem is
 * reported), each written durably, then one manifest commit naming them. Returns the manifest now on disk.
 */
async function repairSidecars(
  coldDir: string,
  manifest: Manifest,
  names: readonly string[],
  report: VerifyReport,
  did: string[],
): Promise<Manifest> {
  const built = new Map<string, NonNullable<ColdFile["index"]>>();
  for (const f of manifest.files.filter((x) => names.includes(x.name))) {
    const bytes = await buildSidecarOfFile(join(coldDir, f.name), f).catch(() => undefined);
    if (bytes !== undefined) built.set(f.name, (await writeSidecar(coldDir, f.name, bytes))!);
  }
  if (built.size === 0) {
    for (const p of report.problems) if (p.what.startsWith("the search sidecar of cold/")) p.repaired = false;
    return manifest;
  }
  const next = {
    ...manifest,
    files: manifest.files.map((f) => ({ ...f, index: built.get(f.name) ?? f.index })),
  };
  await commitManifest(coldDir, next);
  // repair() marked every repairable problem repaired: a sidecar is so only if it was rebuilt
  for (const p of report.problems)
    if (p.what.startsWith("the search sidecar of cold/"))
      p.repaired = built.has(p.where.slice("cold/".length).replace(/\.idx$/, ".parquet"));
  did.push(`wrote the search sidecars of ${built.size} cold file(s)`);
  return next;
}

function keyspace(prefix: number): KeyRange {
  const p = Buffer.of(prefix);
  return { gte: p, lt: prefixEnd(p) };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * Runs a decode of one stored value; a failure (msgpack, a malformed key) becomes a reported problem at
 * `where` and `undefined`, so that verify goes on to the next value.
 */
function decoded<T>(report: VerifyReport, where: () => string, decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    report.problems.push({
      where: where(),
      what: `cannot be decoded: ${(err as Error).message}`,
      repairable: false,
    });
    return undefined;
  }
}

/**
 * The hot tier's records and index entries. Turn → file entries and id entries of records the hot tier
 * does not hold are layout 1's (src/maintenance/upgrade.ts): counted and pending there, problems in layout 2, not
 * judged under an unknown layout (the open stops at it; that is the problem reported).
 */
async function checkHot(
  hot: HotReader,
  recovery: Recovery,
  report: VerifyReport,
  fixes: BatchOp[],
): Promise<void> {
  // Records: their index entries (one lookup per batch of records), and their bodies.
  for await (const batch of hot.entries(keyspace(P_RECORD))) {
    report.checked.hotRecords += batch.length;
    const wanted: { key: Uint8Array; pk: Buffer; id: string }[] = [];
    const bodies: Uint8Array[] = [];
    for (const [pk, value] of batch) {
      const d = decoded(
        report,
        () => `hot record ${pk.toString("hex")}`,
        () => {
          const r = decodeRecordValue(value, pk);
          return { r, h: bodyHashOf(value), puts: recordPuts(r, value) };
        },
      );
      if (!d) continue;
      for (const op of d.puts) {
        if (op.type === "put" && op.key[0] !== P_RECORD) wanted.push({ key: op.key, pk, id: d.r.id });
      }
      if (d.h) bodies.push(d.h);
    }
    const current = hot.getManySync(wanted.map((w) => w.key));
    wanted.forEach((w, i) => {
      if (current[i]?.equals(w.pk)) return;
      report.problems.push({
        where: `hot ${String.fromCharCode(w.key[0]!)}-index of record ${w.id}`,
        what: "missing or pointing elsewhere",
        repairable: true,
      });
      fixes.push({ type: "put", key: w.key, value: w.pk });
    });
    checkBodiesPresent(hot, bodies, "a hot record", report);
  }
  const layout1 = { turnFiles: 0, coldIds: 0 };
  for await (const batch of hot.entries(keyspace(P_TURN_FILE), false)) {
    for (const [key] of batch) {
      if (recovery.layout === 1) layout1.turnFiles++;
      else if (recovery.layout !== undefined) {
        report.problems.push({
          where: `hot f-entry ${key.toString("hex")}`,
          what: "a turn → file entry, which this layout no longer has (the cold tier's filters answer for its files)",
          repairable: true,
        });
        fixes.push({ type: "del", key });
      }
    }
  }
  // Index entries whose record is gone.
  for (const prefix of [P_TIME, P_CONV, P_ID]) {
    for await (const batch of hot.entries(keyspace(prefix))) {
      const present = hot.getManySync(batch.map(([, pk]) => pk));
      batch.forEach(([key], i) => {
        if (present[i] !== undefined) return;
        if (prefix === P_ID && (recovery.layout ?? 0) < LAYOUT_HOT_ONLY) {
          if (recovery.layout === 1) layout1.coldIds++;
          return;
        }
        report.problems.push({
          where: `hot ${String.fromCharCode(prefix)}-index entry ${key.toString("hex")}`,
          what:
            prefix === P_ID
              ? "names a record the hot tier does not hold (since layout 2 only hot records have id entries): a re-insert of that id would be taken for a duplicate"
              : "names a record that is not there",
          repairable: true,
        });
        fixes.push({ type: "del", key });
      });
    }
  }
  if (recovery.layout !== undefined && recovery.layout >= LAYOUT_HOT_ONLY && recovery.layout < HOT_LAYOUT)
    laterAtOpen(
      report,
      recovery.upgrades,
      "hot m·layout",
      `layout ${recovery.layout}: the upgrade records layout ${HOT_LAYOUT} (chunks may then name a compression dictionary; the search index is built)`,
    );
  if (recovery.layout === 1)
    laterAtOpen(
      report,
      recovery.upgrades,
      "hot m·layout",
      `layout 1 (an older version wrote the store), with ${layout1.turnFiles} turn → file entries and ${layout1.coldIds} id entries of records not in the hot tier: the upgrade deletes them and records layout ${HOT_LAYOUT}`,
    );
}

/**
 * Every listed chunk is stored; returns the bytes bodies and chunks take (what the counters say), and
 * the stored dictionaries that decode (the search index's check inflates chunks with them).
 */
async function checkBodyStore(
  hot: HotReader,
  report: VerifyReport,
): Promise<{ bodyBytes: number; dictionaries: Map<number, Dictionary> }> {
  let bodyBytes = 0;
  let chunkBytes = 0;
  const listed = new Set<string>();
  for await (const batch of hot.entries(keyspace(P_BODY))) {
    for (const [key, manifest] of batch) {
      report.checked.bodies++;
      bodyBytes += manifest.length;
      const m = decoded(
        report,
        () => `body ${key.toString("hex", 1)}`,
        () => decodeManifest(manifest),
      );
      if (m?.layout === "chunked")
        for (const c of m.chunks) listed.add(`${c.toString("hex")} ${key.toString("hex", 1)}`);
    }
  }
  const dictionaries = await checkDictionaries(hot, report);
  const chunks = new Set<string>();
  for await (const batch of hot.entries(keyspace(P_CHUNK))) {
    for (const [key, value] of batch) {
      report.checked.chunks++;
      chunkBytes += value.length;
      chunks.add(key.toString("hex", 1));
      const dict = storedDictionary(value);
      if (dict !== undefined && !dictionaries.has(dict))
        report.problems.push({
          where: `chunk ${key.toString("hex", 1)}`,
          what: `is compressed with dictionary ${dict}, which is not stored`,
          repairable: false,
        });
    }
  }
  for (const entry of listed) {
    const [chunk, body] = entry.split(" ");
    if (!chunks.has(chunk!))
      report.problems.push({
        where: `body ${body}`,
        what: `lists chunk ${chunk} that is not stored`,
        repairable: false,
      });
  }
  return { bodyBytes: bodyBytes + chunkBytes, dictionaries };
}

/** The dictionaries stored, by id; one that does not decode is a problem (and left out). */
async function checkDictionaries(hot: HotReader, report: VerifyReport): Promise<Map<number, Dictionary>> {
  const ids = new Map<number, Dictionary>();
  for await (const batch of hot.entries(keyspace(P_DICT))) {
    for (const [key, value] of batch) {
      const d = decoded(
        report,
        () => `dictionary ${key.toString("hex", 1)}`,
        () => decodeDictionary(key, value),
      );
      if (d) ids.set(d.id, d);
    }
  }
  return ids;
}

/**
 * The counters against what is stored. Undecodable counters (reported by verifyPass) are not rewritten:
 * they also hold the WAL position, which verify cannot know.
 */
function checkCounters(c: Counters, bodyBytesStored: number, report: VerifyReport, fixes: BatchOp[]): void {
  const actual = {
    ...c,
    hotRecords: report.checked.hotRecords,
    bodies: report.checked.bodies,
    bodyBytesStored,
  };
  if (
    c.hotRecords !== actual.hotRecords ||
    c.bodies !== actual.bodies ||
    c.bodyBytesStored !== actual.bodyBytesStored
  ) {
    report.problems.push({
      where: "hot counters",
      what: `say ${c.hotRecords} records, ${c.bodies} bodies, ${c.bodyBytesStored} body bytes; the store holds ${actual.hotRecords}, ${actual.bodies}, ${actual.bodyBytesStored}`,
      repairable: true,
    });
    fixes.push(countersOp(actual));
  }
}

function checkBodiesPresent(hot: HotReader, hashes: Uint8Array[], whose: string, report: VerifyReport): void {
  if (hashes.length === 0) return;
  const bodies = hot.getManySync(hashes.map((h) => hashKey(P_BODY, h)));
  hashes.forEach((h, i) => {
    if (bodies[i] !== undefined) return;
    if (hot.getManySync([hashKey(P_EVICTED, h)])[0] !== undefined) return;
    report.problems.push({
      where: `body ${hex(h)}`,
      what: `${whose} refers to it, and it is neither stored nor marked evicted`,
      repairable: false,
    });
  });
}

/**
 * One manifest commit (the store's own: temp file, fsync, rename, fsync the directory, so a crash
 * leaves either manifest) that adds the checksums of sound files an older version listed without one,
 * and removes the turn filter of each file whose filters miss rows: such an entry is then a candidate
 * for every turn lookup, as a file an older version wrote is, and the upgrade at the open that repair
 * runs next rewrites the file with correct filters (Compactor.addFilters), as it does those.
 */
async function rewriteManifest(
  coldDir: string,
  manifest: Manifest,
  checksums: Map<string, string>,
  refilter: Set<string>,
): Promise<string[]> {
  const files = manifest.files.map((f) => {
    const checksum = checksums.get(f.name);
    const entry = checksum === undefined || f.checksum !== undefined ? f : { ...f, checksum };
    if (!refilter.has(f.name)) return entry;
    const { turns: _wrong, ...rest } = entry;
    return rest;
  });
  await commitManifest(coldDir, { ...manifest, files });
  const did: string[] = [];
  if (checksums.size > 0) did.push(`added the checksums of ${checksums.size} cold file(s) to the manifest`);
  if (refilter.size > 0)
    did.push(
      `removed from the manifest the turn filters of ${refilter.size} cold file(s) whose filters miss rows, for the open to rewrite them`,
    );
  return did;
}

/** One synced LevelDB batch of index and counter fixes, then the stray files. `later`: repaired by an open. */
async function repair(
  hot: HotTier,
  coldDir: string,
  orphans: string[],
  fixes: BatchOp[],
  report: VerifyReport,
  later: Set<Problem>,
): Promise<void> {
  if (fixes.length > 0) await hot.write(fixes, true);
  for (const o of orphans) await unlink(join(coldDir, o));
  for (const d of new Set(orphans.map((o) => dirname(join(coldDir, o))))) await fsyncDir(d);
  for (const p of report.problems) if (p.repairable && !later.has(p)) p.repaired = true;
}
