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
 * `repair` fixes what is safe to fix: files under cold/ that no manifest lists, index entries whose
 * record is gone, missing index entries of a record, and counters; and it adds the checksum of each
 * sound cold file an older version listed without one. It never deletes a record or a body.
 *
 * A decode error anywhere (a hot value's msgpack, the manifest's JSON, a Parquet page) is a reported
 * problem, not a failure of verify.
 */
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { checksumOf } from "../tiers/cold/checksum.js";
import { MANIFEST_NAME } from "../tiers/cold/layout.js";
import { type ColdFile, commitManifest, loadManifest, type Manifest } from "../tiers/cold/manifest.js";
import { decodeAll, integrityProblem } from "../tiers/cold/parquet.js";
import { fromRow } from "../tiers/cold/schema.js";
import {
  hashKey,
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
  turnFileKeyFile,
} from "../tiers/hot/keys.js";
import { type BatchOp, HotTier, type KeyRange } from "../tiers/hot/tier.js";
import { bodyHashOf, decodeRecordValue, recordPuts } from "../tiers/hot/values.js";
import { inspectWal } from "../wal/reader.js";
import { decodeBatch } from "./batch.js";
import { decodeManifest } from "./bodies/manifest.js";
import { fsyncDir } from "./durable-fs.js";
import { CorruptStoreError } from "./errors.js";
import { countersOp, loadCounters } from "./state.js";

export interface Problem {
  /** Where: a WAL segment and offset, a cold file, a hot-tier key. */
  where: string;
  what: string;
  /** Whether `repair` fixes it, and (after a repair) whether it did. */
  repairable: boolean;
  repaired?: boolean;
}

export interface VerifyReport {
  problems: Problem[];
  notes: string[];
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
  const report: VerifyReport = {
    problems: [],
    notes: [],
    checked: { walFrames: 0, coldFiles: 0, coldRows: 0, hotRecords: 0, bodies: 0, chunks: 0 },
  };
  await checkWal(join(dir, "wal"), report);
  const coldDir = join(dir, "cold");
  const manifest = await loadManifest(coldDir).catch((err: unknown) => {
    if (!(err instanceof CorruptStoreError)) throw err;
    report.problems.push({ where: `cold/${MANIFEST_NAME}`, what: err.message, repairable: false });
    return undefined;
  });
  const coldBodies = new Map<string, Uint8Array[]>();
  // Without a manifest nothing under cold/ can be told stray, nor any turn → file entry dangling.
  const cold = manifest && (await checkColdFiles(coldDir, manifest, report, coldBodies));
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    const fixes: BatchOp[] = [];
    const live = manifest && new Set(manifest.files.map((f) => f.name));
    await checkHot(hot, live, report, fixes);
    for (const [name, hashes] of coldBodies)
      checkBodiesPresent(hot, hashes, `a record of cold/${name}`, report);
    if (opts.repair) {
      await repair(hot, coldDir, cold?.orphans ?? [], fixes, report);
      if (manifest && cold && cold.checksums.size > 0)
        await addChecksums(coldDir, manifest, cold.checksums, report);
    }
  } finally {
    await hot.close();
  }
  return report;
}

async function checkWal(walDir: string, report: VerifyReport): Promise<void> {
  let segments: Awaited<ReturnType<typeof inspectWal>>;
  try {
    segments = await inspectWal(walDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  for (const s of segments) {
    report.checked.walFrames += s.frames.length;
    for (const f of s.frames) {
      // a frame whose checksum holds must still decode, or the next open stops at it
      try {
        decodeBatch(f.payload, { segment: s.file, offset: f.offset });
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
): Promise<{ orphans: string[]; checksums: Map<string, string> }> {
  const checksums = new Map<string, string>();
  for (const f of manifest.files) {
    report.checked.coldFiles++;
    const checksum = await checkColdFile(coldDir, f, report, bodies);
    if (checksum !== undefined && f.checksum === undefined) {
      checksums.set(f.name, checksum);
      report.notes.push(
        `cold/${f.name}: no checksum in the manifest (an older version wrote it); --repair adds it`,
      );
    }
  }
  return { orphans: await strayColdFiles(coldDir, manifest, report), checksums };
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
        fromRow(r);
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

/** Files under cold/ that no manifest lists (reported as repairable problems). */
async function strayColdFiles(coldDir: string, manifest: Manifest, report: VerifyReport): Promise<string[]> {
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
    for (const n of await readdir(path)) if (!known.has(`${e}/${n}`)) orphans.push(`${e}/${n}`);
  }
  for (const o of orphans)
    report.problems.push({
      where: `cold/${o}`,
      what: "a file no manifest lists (a stray temporary or an unfinished write)",
      repairable: true,
    });
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

/** `liveFiles` is undefined when the manifest is unreadable: turn → file entries are then not judged. */
async function checkHot(
  hot: HotTier,
  liveFiles: Set<string> | undefined,
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
      if (liveFiles === undefined || liveFiles.has(file)) turnsWithFiles.add(entry.turn);
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
  await checkBodyStore(hot, report, fixes);
}

/** Every listed chunk is stored; the counters match what is stored. */
async function checkBodyStore(hot: HotTier, report: VerifyReport, fixes: BatchOp[]): Promise<void> {
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
  // Undecodable counters are not rewritten: they also hold the WAL position, which verify cannot know.
  const c = await loadCounters(hot).catch((err: Error) => {
    report.problems.push({
      where: "hot counters",
      what: `cannot be decoded: ${err.message}`,
      repairable: false,
    });
    return undefined;
  });
  if (c === undefined) return;
  const actual = {
    ...c,
    hotRecords: report.checked.hotRecords,
    bodies: report.checked.bodies,
    bodyBytesStored: bodyBytes + chunkBytes,
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
