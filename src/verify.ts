/**
 * `verify`: checks a closed store against itself, without changing it unless asked to repair.
 *
 *   WAL       every frame's checksum (a torn tail is noted, not a problem)
 *   cold      the manifest's shape; the manifest against the files on disk; each file's size and checksum
 *             against its manifest entry; every column of every row group decoded, and the row count
 *   hot       every record's time, id and conversation entries; every index entry's record; every turn →
 *             file entry's file; every record's body (stored, or marked evicted), hot and cold; every
 *             chunk a body lists; the counters against what is stored
 *
 * A store as a kill left it holds what recovery at the next open finishes: WAL frames not yet applied
 * (replay), files no manifest lists (ColdTier's sweep), turn → file entries of files a merge replaced
 * (Compactor.recover), index entries of dropped files (Pruner.finishDrops), turns of moved files whose
 * index update never landed (recover). Those are reported as `pending`, not as problems, and only when
 * the open would really get to them (a WAL or counters problem stops it first; a damaged file recovery
 * must read stops it midway): anything else of the same shape stays a problem.
 *
 * `repair` fixes what is safe to fix: files under cold/ that no manifest lists (when the open would not),
 * index entries whose record is gone, missing index entries of a record, and counters; and it adds the
 * checksum of each sound cold file an older version listed without one. It never deletes a record or a
 * body. It leaves pending items to the store's own recovery, which it runs by opening and closing the
 * store (then verifies again): recovery knows more than verify (a merged file's turns, a dropped row's
 * sequence number), and one implementation of it is one to trust.
 *
 * A decode error anywhere (a hot value's msgpack, the manifest's JSON, a Parquet page) is a reported
 * problem, not a failure of verify.
 */
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { checksumOf } from "../tiers/cold/checksum.js";
import { MANIFEST_NAME } from "../tiers/cold/layout.js";
import { type ColdFile, commitManifest, loadManifest, type Manifest } from "../tiers/cold/manifest.js";
import { decodeAll, integrityProblem, readParquetColumns } from "../tiers/cold/parquet.js";
import { fromRow } from "../tiers/cold/schema.js";
import {
  hashKey,
  idKey,
  P_BODY,
  P_CHUNK,
  P_CONV,
  P_EVICTED,
  P_ID,
  P_RECORD,
  P_TIME,
  P_TURN_FILE,
  parseRecordKey,
  prefixEnd,
  recordKeySeq,
  turnFileKeyFile,
} from "../tiers/hot/keys.js";
import { type BatchOp, HotTier, type KeyRange } from "../tiers/hot/tier.js";
import { bodyHashOf, decodeRecordValue, recordPuts } from "../tiers/hot/values.js";
import { inspectWal } from "../wal/reader.js";
import { decodeBatch } from "./batch.js";
import { decodeManifest } from "./bodies/manifest.js";
import { appliedGeneration, COLD_GEN_KEY } from "./compaction.js";
import { fsyncDir } from "./durable-fs.js";
import { CorruptStoreError } from "./errors.js";
import { type Counters, countersOp, loadCounters } from "./state.js";
import { openStore } from "./store.js";

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
  const report = await verifyPass(dir, opts.repair === true);
  if (opts.repair !== true || report.pending.length === 0) return report;
  return finishByOpening(dir, report);
}

/**
 * `--repair` with pending items: runs the store's own recovery (an open and a close: WAL replay, the
 * cold tier's sweep, Compactor.recover, Pruner.finishDrops) rather than imitate it, then verifies and
 * repairs again. If the open fails, the items stay pending and the failure is noted.
 */
async function finishByOpening(dir: string, first: VerifyReport): Promise<VerifyReport> {
  try {
    const store = await openStore({ dir });
    await store.close();
  } catch (err) {
    first.notes.push(
      `opening the store to finish what an unclean shutdown left failed (${(err as Error).message}): those items stay pending`,
    );
    return first;
  }
  const after = await verifyPass(dir, true);
  return {
    ...after,
    problems: [...first.problems.filter((p) => p.repaired), ...after.problems],
    notes: [
      `opened and closed the store: its recovery finished ${first.pending.length} pending item(s) an unclean shutdown left`,
      ...after.notes,
    ],
  };
}

/** Whether the next open gets to each recovery step, and what verify needs to know of what they do. */
interface Recovery {
  /** The open gets past WAL replay (so the cold tier's sweep removes unlisted files). */
  opens: boolean;
  /** Listed files; undefined when the manifest is unreadable (nothing is then judged against it). */
  live: Set<string> | undefined;
  /** Compactor.recover runs (manifest generation above the applied one): it deletes turn → file entries
   * naming files neither listed nor dropped, and adds those of files above the applied generation. */
  recovers: boolean;
  appliedGen: number;
  /** Turns of listed files above the applied generation (recover adds their turn → file entries). */
  pendingTurns: Set<string>;
  /** Files listed as dropped: Pruner.finishDrops deletes their turn → file entries. */
  dropped: Set<string>;
  /** id-key (hex) → sequence number of dropped files' rows: finishDrops deletes an id entry still naming one. */
  droppedIds: Map<string, number>;
}

async function verifyPass(dir: string, repairing: boolean): Promise<VerifyReport> {
  const report: VerifyReport = {
    problems: [],
    notes: [],
    pending: [],
    checked: { walFrames: 0, coldFiles: 0, coldRows: 0, hotRecords: 0, bodies: 0, chunks: 0 },
  };
  const frames = await checkWal(join(dir, "wal"), report);
  const walSound = report.problems.length === 0;
  const coldDir = join(dir, "cold");
  const manifest = await loadManifest(coldDir).catch((err: unknown) => {
    if (!(err instanceof CorruptStoreError)) throw err;
    report.problems.push({ where: `cold/${MANIFEST_NAME}`, what: err.message, repairable: false });
    return undefined;
  });
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    // Undecodable counters stop the next open before replay, as a WAL problem does.
    const counters = await loadCounters(hot).catch((err: Error) => {
      report.problems.push({
        where: "hot counters",
        what: `cannot be decoded: ${err.message}`,
        repairable: false,
      });
      return undefined;
    });
    // A WAL problem stops the next open's replay: its frames are then not pending, only there.
    if (counters && walSound) pendingWal(frames, counters.appliedSeq, report);
    const recovery = await recoveryOf(hot, coldDir, manifest, walSound && counters !== undefined, report);
    const coldBodies = new Map<string, Uint8Array[]>();
    // Without a manifest nothing under cold/ can be told stray, nor any turn → file entry dangling.
    const cold = manifest && (await checkColdFiles(coldDir, manifest, report, coldBodies, recovery));
    const fixes: BatchOp[] = [];
    const tally = pendingTally();
    await checkHot(hot, recovery, report, fixes, tally);
    const bodyBytes = await checkBodyStore(hot, report);
    if (counters) checkCounters(counters, bodyBytes, report, fixes);
    tally.into(report);
    for (const [name, hashes] of coldBodies)
      checkBodiesPresent(hot, hashes, `a record of cold/${name}`, report);
    if (repairing) {
      await repair(hot, coldDir, cold?.orphans ?? [], fixes, report);
      if (manifest && cold && cold.checksums.size > 0)
        await addChecksums(coldDir, manifest, cold.checksums, report);
    }
  } finally {
    await hot.close();
  }
  return report;
}

/** A decodable WAL frame: where it is, the last sequence number and the records it holds. */
interface WalFrame {
  segment: string;
  lastSeq: number;
  records: number;
}

async function checkWal(walDir: string, report: VerifyReport): Promise<WalFrame[]> {
  const frames: WalFrame[] = [];
  let segments: Awaited<ReturnType<typeof inspectWal>>;
  try {
    segments = await inspectWal(walDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return frames;
    throw err;
  }
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
    if (s.bad.tornTail)
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

/** Frames above the hot tier's applied sequence number: replay at the next open applies them (per segment). */
function pendingWal(frames: WalFrame[], appliedSeq: number, report: VerifyReport): void {
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
      what: `${n.frames} frame(s) holding ${n.records} record(s) not yet applied to the hot tier (applied up to sequence ${appliedSeq}); replayed at the next open`,
    });
}

/**
 * What the next open's recovery will get to (Store.start: replay, ColdTier.open's sweep,
 * Compactor.recover, then Pruner.finishDrops), and the dropped files' rows finishDrops reads.
 */
async function recoveryOf(
  hot: HotTier,
  coldDir: string,
  manifest: Manifest | undefined,
  opens: boolean,
  report: VerifyReport,
): Promise<Recovery> {
  const none: Recovery = {
    opens: opens && manifest !== undefined,
    live: manifest && new Set(manifest.files.map((f) => f.name)),
    recovers: false,
    appliedGen: Number.POSITIVE_INFINITY,
    pendingTurns: new Set(),
    dropped: new Set(),
    droppedIds: new Map(),
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
  const droppedIds = new Map<string, number>();
  for (const f of manifest.dropped) {
    let rows: Record<string, unknown>[] | undefined;
    try {
      rows = await readParquetColumns(join(coldDir, f.name), ["id", "seq"], f);
    } catch (err) {
      report.problems.push({
        where: `cold/${f.name}`,
        what: `a dropped file the next open cannot read to finish the drop: ${(err as Error).message}`,
        repairable: false,
      });
      return { ...none, recovers: manifest.generation > appliedGen, appliedGen };
    }
    // a missing dropped file: its index entries went before it did (finishDrops' order)
    for (const r of rows ?? []) droppedIds.set(idKey(r.id as string).toString("hex"), Number(r.seq));
  }
  return {
    ...none,
    recovers: manifest.generation > appliedGen,
    appliedGen,
    dropped: new Set(manifest.dropped.map((f) => f.name)),
    droppedIds,
  };
}

/** Pending items of the hot tier, counted by kind (one line per kind and file, not per entry). */
function pendingTally(): { add(where: string, what: string): void; into(report: VerifyReport): void } {
  const counts = new Map<string, { where: string; what: string; n: number }>();
  return {
    add(where, what) {
      const k = `${where}\u0000${what}`;
      const c = counts.get(k) ?? { where, what, n: 0 };
      c.n++;
      counts.set(k, c);
    },
    into(report) {
      for (const c of counts.values()) report.pending.push({ where: c.where, what: `${c.n} ${c.what}` });
    },
  };
}

/**
 * Every listed file checked whole (checkColdFile), collecting each file's distinct body hashes into
 * `bodies`; returns the files no manifest lists, and the checksums of sound files listed without one.
 */
async function checkColdFiles(
  coldDir: string,
  manifest: Manifest,
  report: VerifyReport,
  bodies: Map<string, Uint8Array[]>,
  recovery: Recovery,
): Promise<{ orphans: string[]; checksums: Map<string, string> }> {
  const checksums = new Map<string, string>();
  let recoverFails = false;
  for (const f of manifest.files) {
    report.checked.coldFiles++;
    // a file above the applied generation: recover() reads it and adds its turns' turn → file entries
    const redone = recovery.recovers && f.generation > recovery.appliedGen;
    const checksum = await checkColdFile(
      coldDir,
      f,
      report,
      bodies,
      redone ? recovery.pendingTurns : undefined,
    );
    if (checksum === undefined && redone) recoverFails = true;
    if (checksum !== undefined && f.checksum === undefined) {
      checksums.set(f.name, checksum);
      report.notes.push(
        `cold/${f.name}: no checksum in the manifest (an older version wrote it); --repair adds it`,
      );
    }
  }
  if (recoverFails) {
    // recover() stops the open at that file: neither its turns nor the drops after it are finished
    recovery.pendingTurns.clear();
    recovery.dropped.clear();
    recovery.droppedIds.clear();
  }
  return { orphans: await strayColdFiles(coldDir, manifest, report, recovery.opens), checksums };
}

/**
 * One file: its size and checksum against its manifest entry, then every column of every row group
 * decoded (and each row converted back to a record), one group at a time, and the rows counted.
 * Returns the file's checksum when it is sound, `undefined` after reporting a problem.
 */
async function checkColdFile(
  coldDir: string,
  f: ColdFile,
  report: VerifyReport,
  bodies: Map<string, Uint8Array[]>,
  turns?: Set<string>,
): Promise<string | undefined> {
  const where = `cold/${f.name}`;
  const path = join(coldDir, f.name);
  const problem = (what: string) => {
    report.problems.push({ where, what, repairable: false });
    return undefined;
  };
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      return problem("listed in the manifest but missing");
    return problem(`unreadable: ${(err as Error).message}`);
  }
  const checksum = checksumOf(data);
  const damage = integrityProblem(f, data.length, checksum);
  if (damage) return problem(`damaged: ${damage}`);
  let rows = 0;
  const hashes = new Set<string>();
  try {
    await decodeAll(path, data, (group) => {
      for (const r of group) {
        const { record } = fromRow(r);
        turns?.add(record.turnId ?? "");
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
  return checksum;
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
  const known = new Set([...manifest.files, ...manifest.dropped].map((f) => f.name));
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
    if (!(await stat(path)).isDirectory()) {
      orphans.push(e);
      continue;
    }
    for (const n of await readdir(path)) {
      if (known.has(`${e}/${n}`)) continue;
      if ((await stat(join(path, n))).isFile()) orphans.push(`${e}/${n}`);
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

type Tally = ReturnType<typeof pendingTally>;

/** `recovery.live` is undefined when the manifest is unreadable: turn → file entries are then not judged. */
async function checkHot(
  hot: HotTier,
  recovery: Recovery,
  report: VerifyReport,
  fixes: BatchOp[],
  tally: Tally,
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
  // Index entries whose record is gone. An id entry may name a cold record: its turn must have a live file.
  const turnsWithFiles = new Set<string>();
  for await (const batch of hot.entries(keyspace(P_TURN_FILE), false)) {
    for (const [key] of batch) {
      const entry = decoded(
        report,
        () => `hot turn → file entry ${key.toString("hex")}`,
        () => ({ file: turnFileKeyFile(key), turn: key.toString("utf8", 5, 5 + key.readUInt32BE(1)) }),
      );
      if (!entry) continue;
      const { file } = entry;
      if (recovery.live === undefined || recovery.live.has(file)) turnsWithFiles.add(entry.turn);
      else if (recovery.dropped.has(file))
        tally.add(
          `hot turn → file entries for cold/${file}`,
          "name a file retention dropped; deleted at the next open, which finishes the drop",
        );
      else if (recovery.recovers)
        tally.add(
          `hot turn → file entries for cold/${file}`,
          "name a file the manifest no longer lists (a merge replaced it); deleted at the next open",
        );
      else {
        report.problems.push({
          where: `hot turn → file entry for ${file}`,
          what: "names a file the manifest does not list",
          repairable: true,
        });
        fixes.push({ type: "del", key });
      }
    }
  }
  for (const prefix of [P_TIME, P_CONV, P_ID]) {
    for await (const batch of hot.entries(keyspace(prefix))) {
      const present = hot.getManySync(batch.map(([, pk]) => pk));
      batch.forEach(([key, pk], i) => {
        if (present[i] !== undefined) return;
        if (prefix === P_ID) {
          const turnId = decoded(
            report,
            () => `hot i-index entry ${key.toString("hex")}`,
            () => parseRecordKey(pk).turnId,
          );
          if (turnId === undefined || turnsWithFiles.has(turnId)) return; // a cold record
          if (recovery.pendingTurns.has(turnId)) {
            tally.add(
              "hot i-index entries",
              "name cold records of a turn whose turn → file entry the next open adds (a move's index update that never landed)",
            );
            return;
          }
          if (recovery.droppedIds.get(key.toString("hex")) === recordKeySeq(pk)) {
            tally.add(
              "hot i-index entries",
              "name records of a file retention dropped; deleted at the next open, which finishes the drop",
            );
            return;
          }
        }
        report.problems.push({
          where: `hot ${String.fromCharCode(prefix)}-index entry ${key.toString("hex")}`,
          what: "names a record that is not there",
          repairable: true,
        });
        fixes.push({ type: "del", key });
      });
    }
  }
}

/** Every listed chunk is stored; returns the bytes bodies and chunks take (what the counters say). */
async function checkBodyStore(hot: HotTier, report: VerifyReport): Promise<number> {
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
  const chunks = new Set<string>();
  for await (const batch of hot.entries(keyspace(P_CHUNK))) {
    for (const [key, value] of batch) {
      report.checked.chunks++;
      chunkBytes += value.length;
      chunks.add(key.toString("hex", 1));
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
  return bodyBytes + chunkBytes;
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

function checkBodiesPresent(hot: HotTier, hashes: Uint8Array[], whose: string, report: VerifyReport): void {
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
 * Adds the checksums of sound files an older version listed without one: one manifest commit (the
 * store's own: temp file, fsync, rename, fsync the directory), so a crash leaves either manifest.
 */
async function addChecksums(
  coldDir: string,
  manifest: Manifest,
  checksums: Map<string, string>,
  report: VerifyReport,
): Promise<void> {
  const files = manifest.files.map((f) => {
    const checksum = checksums.get(f.name);
    return checksum === undefined || f.checksum !== undefined ? f : { ...f, checksum };
  });
  await commitManifest(coldDir, { ...manifest, files });
  report.notes.push(`added the checksums of ${checksums.size} cold file(s) to the manifest`);
}

/** One synced LevelDB batch of index and counter fixes, then the stray files. */
async function repair(
  hot: HotTier,
  coldDir: string,
  orphans: string[],
  fixes: BatchOp[],
  report: VerifyReport,
): Promise<void> {
  if (fixes.length > 0) await hot.write(fixes, true);
  for (const o of orphans) await unlink(join(coldDir, o));
  for (const d of new Set(orphans.map((o) => dirname(join(coldDir, o))))) await fsyncDir(d);
  for (const p of report.problems) if (p.repairable) p.repaired = true;
}
