/**
 * What `tracetier dump` shows of the on-disk structures, as data: the command prints it, and a running
 * collector answers it (GET /v1/admin/dump/…) when it holds the store. Read-only.
 */
import { join } from "node:path";
import { idHash } from "../../tiers/cold/filter.js";
import { loadManifest, type Manifest } from "../../tiers/cold/manifest.js";
import { readParquetColumns, readParquetInfo } from "../../tiers/cold/parquet.js";
import { hashKey, idKey, P_BODY, P_CHUNK, P_EVICTED } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { bodyHashOf } from "../../tiers/hot/values.js";
import { inspectWal } from "../../wal/reader.js";
import { InvalidOptionError } from "../base/errors.js";
import { codecName } from "../bodies/codec.js";
import { decodeEvicted, decodeManifest } from "../bodies/manifest.js";
import { decodeBatch } from "../write/batch.js";

export interface WalSegmentDump {
  file: string;
  bytes: number;
  frames: {
    offset: number;
    bytes: number;
    seqs: [number, number];
    records: number;
    newBodies: number;
    newChunks: number;
  }[];
  bad: Awaited<ReturnType<typeof inspectWal>>[number]["bad"];
}

/**
 * Every WAL segment's frames and the batch each holds. `live`: the store is open and appends to its
 * newest segment while it is read, so a torn tail there is a frame being written, and says so (as
 * verify's live read does), rather than look like the tail a crash leaves.
 */
export async function dumpWal(dir: string, opts: { live?: boolean } = {}): Promise<WalSegmentDump[]> {
  const segments = await walSegments(join(dir, "wal"));
  return segments.map((s, i) => ({
    file: s.file,
    bytes: s.bytes,
    frames: s.frames.map((f) => {
      const b = decodeBatch(f.payload, { segment: s.file, offset: f.offset });
      return {
        offset: f.offset,
        bytes: f.payload.length,
        seqs: [b.firstSeq, b.lastSeq] as [number, number],
        records: b.records.length,
        newBodies: b.bodies.bodies.length,
        newChunks: b.bodies.chunks.length,
      };
    }),
    bad:
      opts.live && s.bad?.tornTail && i === segments.length - 1
        ? {
            ...s.bad,
            reason: `${s.bad.reason} (a frame being written when it was read: an append in flight)`,
          }
        : s.bad,
  }));
}

/**
 * The segments as read now. An open store releases a segment once it is applied: one that goes
 * between the listing and its read is read again from a new listing (a few tries: the store releases
 * segments far less often than this takes).
 */
async function walSegments(walDir: string): Promise<Awaited<ReturnType<typeof inspectWal>>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await inspectWal(walDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 4) throw err;
    }
  }
}

export function dumpManifest(dir: string): Promise<Manifest> {
  return loadManifest(join(dir, "cold"));
}

/** `rows` of a partition dump: a whole number from 0 to 1,000,000 (default 0), named in its error. */
export function checkRows(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d{1,7}$/.test(v) || Number(v) > 1_000_000)
    throw new InvalidOptionError("rows", `must be a whole number from 0 to 1000000, got "${v}"`);
  return Number(v);
}

/** A partition's date: `YYYY-MM-DD`, as the cold tier names them (named `partition` in its error). */
export function checkDate(date: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
    throw new InvalidOptionError("partition", `takes a date as YYYY-MM-DD, got "${date.slice(0, 100)}"`);
  return date;
}

/** A partition's files with their row groups, and the first `rowsWanted` rows of each. */
export async function dumpPartition(dir: string, date: string, rowsWanted: number) {
  const coldDir = join(dir, "cold");
  const files = (await loadManifest(coldDir)).files.filter((f) => f.date === date);
  const out = [];
  for (const f of files) {
    const info = await readParquetInfo(join(coldDir, f.name));
    const rows =
      rowsWanted > 0
        ? ((await readParquetColumns(join(coldDir, f.name), undefined)) ?? []).slice(0, rowsWanted)
        : [];
    out.push({
      ...f,
      rowGroups: info.groups,
      createdBy: info.metadata.created_by,
      rows: rowsWanted > 0 ? rows : undefined,
      rowCount: f.rows,
    });
  }
  return out;
}

export type PartitionDump = Awaited<ReturnType<typeof dumpPartition>>;

/** A body's manifest (inline or chunked), or its eviction marker; by SHA-256 or a record's id. */
export async function dumpBody(hot: HotTier, dir: string, ref: string): Promise<Record<string, unknown>> {
  const hash = await resolveHash(hot, dir, ref);
  if (!hash)
    throw new InvalidOptionError(
      "body",
      `"${ref}" is neither a stored body's SHA-256 nor the id of a record with a body`,
    );
  const [manifest, marker] = await getWhenOpen(hot, [hashKey(P_BODY, hash), hashKey(P_EVICTED, hash)]);
  if (manifest) {
    const m = decodeManifest(manifest);
    const chunks =
      m.layout === "chunked"
        ? await getWhenOpen(
            hot,
            m.chunks.map((c) => hashKey(P_CHUNK, c)),
          )
        : [];
    return {
      sha256: hash.toString("hex"),
      layout: m.layout,
      originalBytes: m.originalBytes,
      manifestBytes: manifest.length,
      ...(m.layout === "inline"
        ? { storedBytes: m.stored.length, codec: codecName(m.stored) }
        : {
            chunks: m.chunks.map((c, i) => ({
              sha256: c.toString("hex"),
              storedBytes: chunks[i]?.length,
              codec: chunks[i] ? codecName(chunks[i]!) : "MISSING",
            })),
          }),
    };
  }
  if (marker) return { sha256: hash.toString("hex"), evicted: true, originalBytes: decodeEvicted(marker) };
  return { sha256: hash.toString("hex"), stored: false };
}

/**
 * A synchronous read of the hot tier, once it is open: an open store closes it for a moment to reopen
 * it after a failed write (a full disk: the write path's recovery), and a synchronous read meanwhile
 * fails (ERR_IO, so a 503 from the collector); a reopen starts only at an await, never inside the read
 * that follows the check.
 */
async function getWhenOpen(hot: HotTier, keys: Uint8Array[]): Promise<(Buffer | undefined)[]> {
  if (!hot.isOpen) await hot.opened();
  return hot.getManySync(keys);
}

/** A body's hash from itself, or from the id of a hot or cold record. */
async function resolveHash(hot: HotTier, dir: string, ref: string): Promise<Buffer | undefined> {
  if (/^[0-9a-f]{64}$/i.test(ref)) return Buffer.from(ref, "hex");
  if (!/^[0-9a-f]{16}$/.test(ref)) return undefined;
  const pk = (await getWhenOpen(hot, [idKey(ref)]))[0];
  const value = pk && (await getWhenOpen(hot, [pk]))[0];
  if (value) {
    const h = bodyHashOf(value);
    return h ? Buffer.from(h) : undefined;
  }
  // A cold record: the files whose record-id filters may hold it (all of them, for a file without one).
  const cold = join(dir, "cold");
  for (const file of (await loadManifest(cold)).files) {
    const path = join(cold, file.name);
    const ids = (await readParquetInfo(path)).ids;
    if (ids && !ids.mayHave(idHash(ref))) continue;
    const row = (await readParquetColumns(path, ["id", "bodyHash"]))?.find((r) => r.id === ref);
    if (row) return typeof row.bodyHash === "string" ? Buffer.from(row.bodyHash, "hex") : undefined;
  }
  return undefined;
}
