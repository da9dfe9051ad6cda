/**
 * The one module that knows the Parquet libraries: hyparquet-writer to write, hyparquet to read
 * (measured against parquetjs-lite in docs/decisions.md). Everything else sees rows and metadata.
 */

import { basename, dirname, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadata,
  parquetMetadataAsync,
  parquetReadObjects,
} from "hyparquet";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { writeFileDurably, writeFileSynced } from "../../src/base/durable-fs.js";
import { CorruptStoreError, IoError, TracetierError } from "../../src/base/errors.js";
import { fsys } from "../../src/base/fs.js";
import { checksumOf } from "./checksum.js";
import { BloomFilter } from "./filter.js";
import { fileFilters } from "./filters.js";
import { COLUMNS, type Row } from "./schema.js";

/** Column-chunk compression: GZIP stores 41% fewer bytes than SNAPPY here at the same speeds (decisions.md). */
export type ColdCodec = "GZIP" | "SNAPPY";
export const DEFAULT_CODEC: ColdCodec = "GZIP";
/** hyparquet inflates SNAPPY itself; GZIP comes from node:zlib. */
const DECOMPRESSORS = { GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)) };

/**
 * Rows per row group: a cold getTurn decodes the row groups that bracket the turn, so smaller groups
 * read less (4096 rows: p99 18 ms; 1024: 10 ms) for a few more bytes per record (decisions.md).
 */
export const ROW_GROUP_ROWS = 1024;

/** zlib's level for GZIP column chunks (decisions.md, "Compaction at the speed of the encoder"). */
const GZIP_LEVEL = 6;

const INT64 = new Set(["seq", "timestamp"]);
const STATS_COLUMNS = new Set(["turnId", "timestamp", "seq"]);

/**
 * A cold file's bytes from its rows (already sorted, compareRows), with its lookup filters: the one
 * Parquet encoding of the cold tier, pure (no I/O), so that compaction can run it in a worker thread
 * (tiers/cold/writer.ts). The record-id filter goes in the footer (ID_FILTER_KEY); the turn filter is
 * returned, for the file's manifest entry.
 */
export function encodeColdFile(rows: Row[], codec: ColdCodec = DEFAULT_CODEC): EncodedColdFile {
  const filters = fileFilters(rows);
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: COLUMNS.map(([name, type]) => ({
      name,
      type,
      data: INT64.has(name) ? rows.map((r) => BigInt(r[name] as number)) : rows.map((r) => r[name]),
      statistics: STATS_COLUMNS.has(name), // only the columns reads prune by; the rest cost time
    })),
    codec,
    compressors: { GZIP: (bytes: Uint8Array) => gzipSync(bytes, { level: GZIP_LEVEL }) },
    rowGroupSize: ROW_GROUP_ROWS,
    statisticsTruncateLength: Number.POSITIVE_INFINITY, // exact turnId bounds, for row-group skipping
    createdBy: "tracetier",
    kvMetadata: [{ key: ID_FILTER_KEY, value: filters.ids }],
  });
  return { bytes: new Uint8Array(writer.getBuffer()), turns: filters.turns };
}

/** An encoded cold file: its bytes, its turn filter (filter.ts, base64) and its search sidecar's bytes. */
export interface EncodedColdFile {
  bytes: Uint8Array;
  turns: string;
  /** The sidecar (sidecar.ts); absent when sidecars are switched off (sidecarSettings, bench only). */
  index?: Uint8Array;
}

/** What a written cold file's manifest entry records of it. */
export interface WrittenColdFile {
  bytes: number;
  checksum: string;
  turns: string;
  index?: { bytes: number; checksum: string };
}

/**
 * Writes a cold file's `bytes` to `temp`, fsyncs it, renames it to `path` and fsyncs the directory:
 * the file is either absent or complete under its final name. Its sidecar, if it has one, is written
 * first the same way (its own temporary name, fsync, rename), and the one directory fsync makes both
 * renames durable: both are on stable storage before the manifest commit that lists them. Returns what
 * its manifest entry records: its size, its checksum, its turn filter and its sidecar's size and checksum.
 */
export async function writeColdFile(
  temp: string,
  path: string,
  file: EncodedColdFile,
): Promise<WrittenColdFile> {
  const written: WrittenColdFile = {
    bytes: file.bytes.length,
    checksum: checksumOf(file.bytes),
    turns: file.turns,
  };
  if (file.index !== undefined) {
    const side = sidecarPath(path);
    await writeFileSynced(join(dirname(temp), `.${basename(side)}.tmp`), side, file.index);
    written.index = { bytes: file.index.length, checksum: checksumOf(file.index) };
  }
  await writeFileDurably(temp, path, file.bytes);
  return written;
}

/** The path of a cold file's sidecar, from the file's path. */
export function sidecarPath(path: string): string {
  return `${path.slice(0, path.length - ".parquet".length)}.idx`;
}

/**
 * Unlinks a cold file and then its sidecar (a file gone already is fine for the sidecar: a file an
 * older version wrote has none). The Parquet file goes first: a crash in between leaves an unlisted
 * sidecar, which the open's sweep removes like any unlisted file.
 */
export async function unlinkColdFile(path: string): Promise<void> {
  await fsys.unlink(path);
  await fsys.unlink(sidecarPath(path)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** The footer key-value entry holding a file's record-id filter (filter.ts), written since manifest v4. */
export const ID_FILTER_KEY = "tracetier.ids";

/** Encodes `rows` (already sorted) and writes them durably (writeColdFile), on the calling thread. */
export function writeParquetFile(
  temp: string,
  path: string,
  rows: Row[],
  codec: ColdCodec = DEFAULT_CODEC,
): Promise<WrittenColdFile> {
  return writeColdFile(temp, path, encodeColdFile(rows, codec));
}

export interface RowGroupInfo {
  rowStart: number;
  rowEnd: number;
  minTurn: string;
  maxTurn: string;
  minTs: number;
  maxTs: number;
}

export interface ParquetFileInfo {
  path: string;
  /** The open file. A listed cold file never changes, so one handle serves every read of it. */
  file: AsyncBuffer;
  metadata: FileMetaData;
  groups: RowGroupInfo[];
  /** The file's record-id filter; `undefined` for a file written before there were any. */
  ids: BloomFilter | undefined;
}

/** Opens a file and decodes its footer (decode errors: ERR_CORRUPT_STORE naming the file). */
export async function readParquetInfo(path: string): Promise<ParquetFileInfo> {
  const file = await asyncBufferFromFile(path);
  const metadata = await decoding(path, () => parquetMetadataAsync(file));
  const groups = await decoding(path, () => rowGroups(metadata));
  const ids = idFilter(path, metadata);
  metadata.key_value_metadata = undefined; // decoded: the text would double what the cache holds
  return { path, file, metadata, groups, ids };
}

function idFilter(path: string, metadata: FileMetaData): BloomFilter | undefined {
  const entry = metadata.key_value_metadata?.find((kv) => kv.key === ID_FILTER_KEY);
  if (entry?.value === undefined) return undefined;
  const filter = BloomFilter.decode(entry.value);
  if (!filter) throw new CorruptStoreError(`cold file ${path} has a damaged record-id filter`);
  return filter;
}

function rowGroups(metadata: FileMetaData): RowGroupInfo[] {
  const turnCol = COLUMNS.findIndex(([n]) => n === "turnId");
  const tsCol = COLUMNS.findIndex(([n]) => n === "timestamp");
  let at = 0;
  return metadata.row_groups.map((g) => {
    const turn = g.columns[turnCol]?.meta_data?.statistics;
    const ts = g.columns[tsCol]?.meta_data?.statistics;
    const rows = Number(g.num_rows);
    const info = {
      rowStart: at,
      rowEnd: at + rows,
      minTurn: String(turn?.min_value ?? ""),
      maxTurn: String(turn?.max_value ?? "\uffff"),
      minTs: Number(ts?.min_value ?? Number.MIN_SAFE_INTEGER),
      maxTs: Number(ts?.max_value ?? Number.MAX_SAFE_INTEGER),
    };
    at += rows;
    return info;
  });
}

/** What the manifest says of a file: a read that finds otherwise fails with ERR_CORRUPT_STORE. */
export interface Expected {
  bytes: number;
  checksum?: string;
}

/**
 * Some columns of every row of a file, read whole in one call (maintenance reads a month of small
 * files: one read each beats a stream per range), or `undefined` when the file is gone. The bytes are
 * in memory anyway, so they are checked against `expected` before they are decoded.
 */
export async function readParquetColumns(
  path: string,
  columns: string[] | undefined,
  expected?: Expected,
): Promise<Record<string, unknown>[] | undefined> {
  const data = await readColdFile(path);
  if (data === undefined) return undefined;
  if (expected) checkIntegrity(path, expected, data.length, expected.checksum && checksumOf(data));
  return decodeColumns(path, data, columns);
}

/** A cold file's bytes, or `undefined` when it is gone; other failures coded (fileError). */
export async function readColdFile(path: string): Promise<Buffer | undefined> {
  try {
    return await fsys.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fileError(path, err);
  }
}

/** Some columns of every row of a file held in memory (decode errors: ERR_CORRUPT_STORE naming it). */
export function decodeColumns(
  path: string,
  data: Buffer,
  columns: string[] | undefined,
): Promise<Record<string, unknown>[]> {
  const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return decoding(path, () => parquetReadObjects({ file, columns, compressors: DECOMPRESSORS }));
}

/**
 * Throws ERR_CORRUPT_STORE naming the file when its size or checksum (when the manifest has one) is
 * not what the manifest recorded at commit: a listed file never changes, so any difference is damage.
 */
export function checkIntegrity(path: string, expected: Expected, bytes: number, checksum?: string): void {
  const problem = integrityProblem(expected, bytes, checksum);
  if (problem) throw new CorruptStoreError(`cold file ${path} is damaged: ${problem}`);
}

/** How a file differs from its manifest entry, or `undefined` when it does not. */
export function integrityProblem(expected: Expected, bytes: number, checksum?: string): string | undefined {
  if (bytes !== expected.bytes) return `it is ${bytes} bytes, the manifest says ${expected.bytes}`;
  if (expected.checksum !== undefined && checksum !== expected.checksum)
    return `its checksum is ${checksum}, the manifest says ${expected.checksum}`;
  return undefined;
}

/**
 * Runs a decode of `path`, turning whatever it throws into a coded error naming the file (fileError).
 */
export async function decoding<T>(path: string, decode: () => T | Promise<T>): Promise<T> {
  try {
    return await decode();
  } catch (err) {
    throw fileError(path, err);
  }
}

/**
 * A cold file's failure as a coded error naming the file: the file gone is ERR_CORRUPT_STORE (it is
 * listed), another file-system error (it carries a `syscall`) ERR_IO, anything else a decode error of
 * the Parquet library or a JSON column: ERR_CORRUPT_STORE. The original is the `cause`.
 */
export function fileError(path: string, err: unknown): TracetierError {
  if (err instanceof TracetierError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOENT")
    return new CorruptStoreError(`cold file ${path} is listed in the manifest but missing`, { cause: err });
  if (e.syscall !== undefined) return new IoError(`reading cold file ${path}`, err);
  return new CorruptStoreError(`cold file ${path} cannot be decoded: ${e.message}`, { cause: err });
}

/**
 * Decodes every column of every row group of a file held in memory, one row group at a time (so that
 * memory is one group's rows), handing each group's rows to `visit`. Decode errors are ERR_CORRUPT_STORE.
 */
export async function decodeAll(
  path: string,
  data: Uint8Array,
  visit: (rows: Record<string, unknown>[]) => void,
): Promise<void> {
  const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  await decoding(path, async () => {
    const metadata = parquetMetadata(file);
    let at = 0;
    for (const g of metadata.row_groups) {
      const end = at + Number(g.num_rows);
      visit(
        await parquetReadObjects({ file, metadata, rowStart: at, rowEnd: end, compressors: DECOMPRESSORS }),
      );
      at = end;
    }
  });
}

/** Rows `[rowStart, rowEnd)` of a file, as objects keyed by column name (decode errors: ERR_CORRUPT_STORE). */
export function readParquetRows(
  info: ParquetFileInfo,
  rowStart: number,
  rowEnd: number,
  columns?: string[],
): Promise<Record<string, unknown>[]> {
  return decoding(info.path, () =>
    parquetReadObjects({
      file: info.file,
      metadata: info.metadata,
      rowStart,
      rowEnd,
      columns,
      compressors: DECOMPRESSORS,
    }),
  );
}
