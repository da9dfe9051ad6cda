/**
 * The manifest of live cold files, `cold/MANIFEST.json`: the cold tier's single commit point. A file
 * is part of the tier when, and only when, the manifest lists it. Committing writes a temporary file,
 * fsyncs it, renames it over the manifest and fsyncs the directory, so a crash leaves the old manifest
 * or the new one, never a mix.
 *
 *   { "version": 5, "generation": n, "files": [ColdFile…], "dropped": [ColdFile…] }
 *   ColdFile = { name, date, rows, bytes, minTs, maxTs, generation, checksum?, turns?, index? }
 *
 * `dropped` (version 2) lists files retention removed from the tier whose clean-up (their records' index
 * entries in the hot tier, then the files themselves) has not finished: they are no longer read, but
 * they are kept until the clean-up has what it needs from them. A version 1 manifest has none.
 * `checksum` (version 3) is the whole file's CRC-32 (checksum.ts), set when the file is written; files
 * listed by a version 1 or 2 manifest have none until `verify --repair` computes it (or a merge rewrites
 * them).
 * `turns` (version 4) is the file's turn-id filter (filter.ts, base64), set when the file is written;
 * its record-id filter is in the file's own footer. Since version 4 the cold tier answers "which files
 * hold turn T" and "does record X exist" from these alone, and the hot tier keeps nothing per cold
 * record; `dropped` is then only read (the clean-up of a drop that an older version started). A file
 * without `turns` (written before version 4, and left by the upgrade because it could not be read) is
 * a candidate for every lookup.
 * `index` (version 5) is the size and CRC-32 of the file's search sidecar (sidecar.ts), `<name>.idx`
 * beside it, written before the commit that lists the file; a file without one (written before
 * version 5) is scanned by searches until the upgrade (indexColdFiles) gives it one. Older versions are
 * read and written back as version 5.
 *
 * The manifest is read as untrusted input: anything that is not JSON of exactly this shape is
 * `ERR_CORRUPT_STORE` naming the file, so that a damaged manifest never reaches a path or a loop.
 */
import { join } from "node:path";
import { writeFileDurably } from "../../src/base/durable-fs.js";
import { CorruptStoreError } from "../../src/base/errors.js";
import { fsys } from "../../src/base/fs.js";
import { CHECKSUM_PATTERN } from "./checksum.js";
import { BloomFilter } from "./filter.js";
import { MANIFEST_NAME } from "./layout.js";

export const MANIFEST_VERSION = 5;
/** Versions this code reads (older ones are upgraded in memory). */
const READABLE_VERSIONS = new Set([1, 2, 3, 4, MANIFEST_VERSION]);

export interface ColdFile {
  /** Path relative to the cold directory: `date=YYYY-MM-DD/<name>.parquet`. */
  name: string;
  date: string;
  rows: number;
  /** The file's size in bytes. */
  bytes: number;
  minTs: number;
  maxTs: number;
  /** The manifest generation that added it. */
  generation: number;
  /** `crc32:<8 hex>` of the whole file; absent for files an older version wrote (see above). */
  checksum?: string;
  /** The file's turn-id filter (filter.ts, base64); absent for files an older version wrote. */
  turns?: string;
  /** The file's search sidecar (`<name>.idx`): its size and checksum; absent before version 5. */
  index?: { bytes: number; checksum: string };
}

export interface Manifest {
  version: typeof MANIFEST_VERSION;

  generation: number;
  files: ColdFile[];
  dropped: ColdFile[];
}

export const EMPTY_MANIFEST: Manifest = { version: MANIFEST_VERSION, generation: 0, files: [], dropped: [] };

export async function loadManifest(coldDir: string): Promise<Manifest> {
  const path = join(coldDir, MANIFEST_NAME);
  let text: string;
  try {
    text = (await fsys.readFile(path)).toString("utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_MANIFEST;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CorruptStoreError(`cold manifest ${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    return parseManifest(json);
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err;
    throw new CorruptStoreError(`cold manifest ${path} is corrupt: ${err.message}`, { cause: err });
  }
}

class ShapeError extends Error {}

/** Checks every field (a hostile or damaged file must not yield paths or numbers we then trust). */
function parseManifest(json: unknown): Manifest {
  const m = object(json, "the manifest");
  if (typeof m.version !== "number" || !READABLE_VERSIONS.has(m.version))
    throw new ShapeError(`unknown version ${JSON.stringify(m.version) ?? "undefined"}`);
  const generation = count(m.generation, "generation");
  const files = fileList(m.files, "files");
  const dropped =
    m.version < MANIFEST_VERSION && m.dropped === undefined ? [] : fileList(m.dropped, "dropped");
  return { version: MANIFEST_VERSION, generation, files, dropped };
}

/** `date=YYYY-MM-DD/<file>.parquet`: one level down, no `..`, no hidden or temporary names. */
const NAME = /^date=(\d{4}-\d{2}-\d{2})\/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.parquet$/;

function fileList(value: unknown, field: string): ColdFile[] {
  if (!Array.isArray(value)) throw new ShapeError(`${field} is not an array`);
  return value.map((v, i) => coldFile(v, `${field}[${i}]`));
}

function coldFile(value: unknown, at: string): ColdFile {
  const f = object(value, at);
  if (typeof f.name !== "string" || !NAME.test(f.name))
    throw new ShapeError(`${at}.name is not a file name of the form date=YYYY-MM-DD/<name>.parquet`);
  if (typeof f.date !== "string" || f.name.slice(5, 15) !== f.date)
    throw new ShapeError(`${at}.date does not match the partition of its name`);
  const file: ColdFile = {
    name: f.name,
    date: f.date,
    rows: count(f.rows, `${at}.rows`),
    bytes: count(f.bytes, `${at}.bytes`),
    minTs: integer(f.minTs, `${at}.minTs`),
    maxTs: integer(f.maxTs, `${at}.maxTs`),
    generation: count(f.generation, `${at}.generation`),
  };
  if (file.minTs > file.maxTs) throw new ShapeError(`${at}.minTs is after its maxTs`);
  if (f.checksum !== undefined) {
    if (typeof f.checksum !== "string" || !CHECKSUM_PATTERN.test(f.checksum))
      throw new ShapeError(`${at}.checksum is not of the form crc32:<8 hex digits>`);
    file.checksum = f.checksum;
  }
  if (f.turns !== undefined) {
    if (typeof f.turns !== "string" || BloomFilter.decode(f.turns) === undefined)
      throw new ShapeError(`${at}.turns is not a turn filter`);
    file.turns = f.turns;
  }
  if (f.index !== undefined) {
    const index = object(f.index, `${at}.index`);
    if (typeof index.checksum !== "string" || !CHECKSUM_PATTERN.test(index.checksum))
      throw new ShapeError(`${at}.index.checksum is not of the form crc32:<8 hex digits>`);
    file.index = { bytes: count(index.bytes, `${at}.index.bytes`), checksum: index.checksum };
  }
  return file;
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ShapeError(`${at} is not an object`);
  return value as Record<string, unknown>;
}

function integer(value: unknown, at: string): number {
  if (!Number.isSafeInteger(value)) throw new ShapeError(`${at} is not an integer`);
  return value as number;
}

function count(value: unknown, at: string): number {
  const n = integer(value, at);
  if (n < 0) throw new ShapeError(`${at} is negative`);
  return n;
}

export async function commitManifest(coldDir: string, m: Manifest): Promise<void> {
  await writeFileDurably(
    join(coldDir, `.${MANIFEST_NAME}.tmp`),
    join(coldDir, MANIFEST_NAME),
    JSON.stringify(m),
  );
}
