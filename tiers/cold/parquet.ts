/**
 * The one module that knows the Parquet libraries: hyparquet-writer to write, hyparquet to read
 * (measured against parquetjs-lite in docs/decisions.md). Everything else sees rows and metadata.
 */
import { readFile } from "node:fs/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
} from "hyparquet";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { writeFileDurably } from "../../src/durable-fs.js";
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

const INT64 = new Set(["seq", "timestamp"]);
const STATS_COLUMNS = new Set(["turnId", "timestamp", "seq"]);

/**
 * Writes `rows` (already sorted) to `temp`, fsyncs it, renames it to `path` and fsyncs the directory:
 * the file is either absent or complete under its final name. Returns its size in bytes.
 */
export async function writeParquetFile(
  temp: string,
  path: string,
  rows: Row[],
  codec: ColdCodec = DEFAULT_CODEC,
): Promise<number> {
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
    compressors: { GZIP: (bytes: Uint8Array) => gzipSync(bytes, { level: 6 }) },
    rowGroupSize: ROW_GROUP_ROWS,
    statisticsTruncateLength: Number.POSITIVE_INFINITY, // exact turnId bounds, for row-group skipping
    createdBy: "tracetier",
  });
  const bytes = new Uint8Array(writer.getBuffer());
  await writeFileDurably(temp, path, bytes);
  return bytes.length;
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
  /** The open file. A listed cold file never changes, so one handle serves every read of it. */
  file: AsyncBuffer;
  metadata: FileMetaData;
  groups: RowGroupInfo[];
}

export async function readParquetInfo(path: string): Promise<ParquetFileInfo> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const turnCol = COLUMNS.findIndex(([n]) => n === "turnId");
  const tsCol = COLUMNS.findIndex(([n]) => n === "timestamp");
  let at = 0;
  const groups = metadata.row_groups.map((g) => {
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
  return { file, metadata, groups };
}

/**
 * Some columns of every row of a file, read whole in one call (maintenance reads a month of small
 * files: one read each beats a stream per range), or `undefined` when the file is gone.
 */
export async function readParquetColumns(
  path: string,
  columns: string[] | undefined,
): Promise<Record<string, unknown>[] | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file, columns, compressors: DECOMPRESSORS });
}

/** Rows `[rowStart, rowEnd)` of a file, as objects keyed by column name. */
export function readParquetRows(
  info: ParquetFileInfo,
  rowStart: number,
  rowEnd: number,
  columns?: string[],
): Promise<Record<string, unknown>[]> {
  return parquetReadObjects({
    file: info.file,
    metadata: info.metadata,
    rowStart,
    rowEnd,
    columns,
    compressors: DECOMPRESSORS,
  });
}
