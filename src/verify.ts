/**
 * `verify`: checks a closed store against itself, without changing it unless asked to repair.
 *
 *   WAL       every frame's checksum (a torn tail is noted, not a problem)
 *   cold      the manifest against the files on disk; each file's readability and row count
 *   hot       every record's time, id and conversation entries; every index entry's record; every turn →
 *             file entry's file; every record's body (stored, or marked evicted), hot and cold; every
 *             chunk a body lists; the counters against what is stored
 *
 * `repair` fixes what is safe to fix: files under cold/ that no manifest lists, index entries whose
 * record is gone, missing index entries of a record, and counters. It never deletes a record or a body.
 */
import { readdir, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { MANIFEST_NAME } from "../tiers/cold/layout.js";
import { loadManifest } from "../tiers/cold/manifest.js";
import { readParquetColumns } from "../tiers/cold/parquet.js";
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
import { bodyHashOf, decodeRecordValue, type HotRecord, recordPuts } from "../tiers/hot/values.js";
import { inspectWal } from "../wal/reader.js";
import { decodeBatch } from "./batch.js";
import { decodeManifest } from "./bodies/manifest.js";
import { fsyncDir } from "./durable-fs.js";
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
  const manifest = await loadManifest(coldDir);
  const coldBodies = new Map<string, Uint8Array[]>();
  const orphans = await checkColdFiles(coldDir, manifest, report, coldBodies);
  const hot = await HotTier.open(join(dir, "hot"), dir);
  try {
    const fixes: BatchOp[] = [];
    const live = new Set(manifest.files.map((f) => f.name));
    await checkHot(hot, live, report, fixes);
    for (const [name, hashes] of coldBodies)
      checkBodiesPresent(hot, hashes, `a record of cold/${name}`, report);
    if (opts.repair) await repair(hot, coldDir, orphans, fixes, report);
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
 * Listed files present, readable, with their row counts (one read of each file, which also collects
 * its distinct body hashes into `bodies`); returns files no manifest lists.
 */
async function checkColdFiles(
  coldDir: string,
  manifest: Awaited<ReturnType<typeof loadManifest>>,
  report: VerifyReport,
  bodies: Map<string, Uint8Array[]>,
): Promise<string[]> {
  for (const f of manifest.files) {
    report.checked.coldFiles++;
    const rows = await readParquetColumns(join(coldDir, f.name), ["id", "bodyHash"]).catch(
      (err: Error) => err,
    );
    if (rows === undefined)
      report.problems.push({
        where: `cold/${f.name}`,
        what: "listed in the manifest but missing",
        repairable: false,
      });
    else if (rows instanceof Error)
      report.problems.push({
        where: `cold/${f.name}`,
        what: `unreadable: ${rows.message}`,
        repairable: false,
      });
    else if (rows.length !== f.rows)
      report.problems.push({
        where: `cold/${f.name}`,
        what: `holds ${rows.length} rows, the manifest says ${f.rows}`,
        repairable: false,
      });
    if (rows === undefined || rows instanceof Error) continue;
    if (rows.length === f.rows) report.checked.coldRows += rows.length;
    const hashes = new Set<string>();
    for (const r of rows) if (typeof r.bodyHash === "string") hashes.add(r.bodyHash);
    bodies.set(
      f.name,
      [...hashes].map((h) => Buffer.from(h, "hex")),
    );
  }
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

async function checkHot(
  hot: HotTier,
  liveFiles: Set<string>,
  report: VerifyReport,
  fixes: BatchOp[],
): Promise<void> {
  // Records: their index entries (one lookup per batch of records), and their bodies.
  for await (const batch of hot.entries(keyspace(P_RECORD))) {
    report.checked.hotRecords += batch.length;
    const wanted: { key: Uint8Array; pk: Buffer; id: string }[] = [];
    const bodies: Uint8Array[] = [];
    for (const [pk, value] of batch) {
      let r: HotRecord;
      try {
        r = decodeRecordValue(value, pk);
      } catch (err) {
        report.problems.push({
          where: `hot key ${pk.toString("hex")}`,
          what: (err as Error).message,
          repairable: false,
        });
        continue;
      }
      for (const op of recordPuts(r, value)) {
        if (op.type === "put" && op.key[0] !== P_RECORD) wanted.push({ key: op.key, pk, id: r.id });
      }
      const h = bodyHashOf(value);
      if (h) bodies.push(h);
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
      const file = turnFileKeyFile(key);
      if (liveFiles.has(file)) turnsWithFiles.add(key.toString("utf8", 5, 5 + key.readUInt32BE(1)));
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
        if (prefix === P_ID && turnsWithFiles.has(parseRecordKey(pk).turnId)) return; // a cold record
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
      const m = decodeManifest(manifest);
      if (m.layout === "chunked")
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
  const c = await loadCounters(hot);
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
