/**
 * Search sidecars on disk (the format is sidecar.ts): loading one for a read (checked against its
 * manifest entry, cached), building one from a Parquet file already listed (the upgrade of files an
 * older version wrote, and `verify --repair`), and that upgrade itself, `indexColdFiles`.
 *
 * A sidecar that is missing or damaged never makes a search miss a record: `load` answers `undefined`
 * for it, as for a file that has none, and the caller scans that file instead.
 */

import { ByteLru } from "../../src/base/byte-lru.js";
import { writeFileDurably } from "../../src/base/durable-fs.js";
import { CorruptStoreError, TracetierError } from "../../src/base/errors.js";
import { fsys } from "../../src/base/fs.js";
import { checksumOf } from "./checksum.js";
import { tempPath } from "./layout.js";
import type { ColdFile } from "./manifest.js";
import { fileError, integrityProblem, readParquetColumns, sidecarPath } from "./parquet.js";
import { buildSidecar, type ColdFileIndex, decodeSidecar, sidecarName, sourceOfRow } from "./sidecar.js";
import type { ColdTier } from "./tier.js";

/** Decoded sidecars kept in memory at most (a month of hourly files decodes to a few MB). */
const SIDECAR_CACHE_BYTES = 64 * 2 ** 20;

type Loaded = ColdFileIndex & { bytes: number };

/** The loaded sidecars of one open tier, by file name. */
export class SidecarCache {
  private readonly cache = new ByteLru<Loaded>(SIDECAR_CACHE_BYTES, (s) => s.bytes);
  private readonly loading = new Map<string, Promise<Loaded | undefined>>();
  /** Files whose sidecar was found missing or damaged in this open: not read again, warned once. */
  private readonly unusable = new Set<string>();
  private readonly pathOf: (name: string) => string;

  constructor(pathOf: (name: string) => string) {
    this.pathOf = pathOf;
  }

  load(entry: ColdFile): Promise<ColdFileIndex | undefined> {
    if (entry.index === undefined || this.unusable.has(entry.name)) return Promise.resolve(undefined);
    const cached = this.cache.get(entry.name);
    if (cached) return Promise.resolve(cached);
    let run = this.loading.get(entry.name);
    if (run === undefined) {
      run = this.read(entry).finally(() => this.loading.delete(entry.name));
      this.loading.set(entry.name, run);
    }
    return run;
  }

  /** Drops what is kept of the files `gone` says are no longer listed. */
  forget(gone: (name: string) => boolean): void {
    for (const name of [...this.unusable]) if (gone(name)) this.unusable.delete(name);
    // the LRU has no iteration: entries of unlisted files age out (their names never come back)
  }

  private async read(entry: ColdFile): Promise<Loaded | undefined> {
    const path = sidecarPath(this.pathOf(entry.name));
    const problem = await sidecarProblem(path, entry).catch((err: unknown) => {
      throw fileError(path, err); // an I/O error: ERR_IO, not a verdict on the sidecar
    });
    if (typeof problem === "string") {
      this.unusable.add(entry.name);
      process.emitWarning(
        `tracetier: the search sidecar of cold/${entry.name} ${problem}: searches scan the file instead until \`tracetier verify --repair\` rewrites it`,
        "SidecarWarning",
      );
      return undefined;
    }
    this.cache.set(entry.name, problem);
    return problem;
  }
}

/**
 * A listed file's sidecar checked against its entry (size, CRC-32, decodes, row count) and decoded, or
 * what is wrong with it ("is missing", "is damaged: …"). Other file-system errors are thrown.
 */
export async function sidecarProblem(path: string, entry: ColdFile): Promise<Loaded | string> {
  if (entry.index === undefined) return "is not listed";
  let data: Buffer;
  try {
    data = await fsys.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "is missing";
    throw err;
  }
  const damage = integrityProblem(entry.index, data.length, checksumOf(data));
  if (damage) return `is damaged: ${damage}`;
  let decoded: Loaded;
  try {
    decoded = decodeSidecar(data, path);
  } catch (err) {
    if (err instanceof CorruptStoreError) return `is damaged: ${err.message}`;
    throw err;
  }
  if (decoded.rows !== entry.rows)
    return `is damaged: it indexes ${decoded.rows} rows, the manifest says the file holds ${entry.rows}`;
  return decoded;
}

/**
 * The sidecar of a listed file, built from its columns (msg, name, attributes, bodyHash), the file
 * checked against its entry first; `undefined` when the file is gone. A damaged file is ERR_CORRUPT_STORE.
 */
export async function buildSidecarOfFile(path: string, file: ColdFile): Promise<Uint8Array | undefined> {
  const rows = await readParquetColumns(path, ["msg", "name", "attributes", "bodyHash"], file);
  if (rows === undefined) return undefined;
  try {
    return buildSidecar(rows.map(sourceOfRow));
  } catch (err) {
    throw new CorruptStoreError(`cold file ${path} has attributes that are not JSON`, { cause: err });
  }
}

/** Writes a sidecar under its final name, durably (temp, fsync, rename, fsync the directory). */
export async function writeSidecar(
  coldDir: string,
  name: string,
  bytes: Uint8Array,
): Promise<ColdFile["index"]> {
  const side = sidecarName(name);
  await writeFileDurably(tempPath(coldDir, side), `${coldDir}/${side}`, bytes);
  return { bytes: bytes.length, checksum: checksumOf(bytes) };
}

/** How indexColdFiles fits the store it runs in (all optional: a tier no one else uses needs none). */
export interface IndexColdFilesOptions {
  /**
   * Runs a manifest commit where no other commit runs (the store's maintenance lock): it is held for one
   * commit only, so maintenance waits for at most one manifest write, never for a file's indexing.
   */
  exclusive?: <T>(job: () => Promise<T>) => Promise<T>;
  /** Runs a read of a listed file as a tracked read, so retention does not unlink it under the read. */
  read?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Checked between files: true stops the pass (a closing store); the rest is done at the next open. */
  stopped?: () => boolean;
}

/** What indexColdFiles did. */
export interface IndexColdFilesResult {
  /** Files given a sidecar. */
  indexed: number;
  /** Listed files left without one: damaged (reported by verify; searches of them fail as reads do). */
  damaged: number;
}

/**
 * The upgrade to search sidecars: every listed file without one (written before manifest v5) gets
 * one, built from its Parquet columns, written durably, then named in its manifest entry by a commit of
 * its own (so a crash loses at most one file's work: an unlisted sidecar, swept at the next open).
 * A file dropped or merged away meanwhile is skipped (its new sidecar unlinked); a damaged file is left
 * as it is. `onProgress(done, total)` after each file. Safe to run again: it only does what is left.
 */
export async function indexColdFiles(
  cold: ColdTier,
  onProgress?: (done: number, total: number) => void,
  opts: IndexColdFilesOptions = {},
): Promise<IndexColdFilesResult> {
  const exclusive = opts.exclusive ?? ((job) => job());
  const read = opts.read ?? ((fn) => fn());
  const todo = cold.files.filter((f) => f.index === undefined);
  const result: IndexColdFilesResult = { indexed: 0, damaged: 0 };
  for (const [i, f] of todo.entries()) {
    if (opts.stopped?.()) break;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await read(() =>
        cold.has(f.name) ? buildSidecarOfFile(cold.path(f.name), f) : Promise.resolve(undefined),
      );
    } catch (err) {
      if (!(err instanceof TracetierError && err.code === "ERR_CORRUPT_STORE")) throw err;
      result.damaged++;
    }
    if (bytes !== undefined && (await commitSidecar(cold, f, bytes, exclusive, opts.stopped)))
      result.indexed++;
    onProgress?.(i + 1, todo.length);
  }
  return result;
}

/** Writes the sidecar, then lists it if its file is still listed without one; else unlinks it. */
async function commitSidecar(
  cold: ColdTier,
  f: ColdFile,
  bytes: Uint8Array,
  exclusive: NonNullable<IndexColdFilesOptions["exclusive"]>,
  stopped: (() => boolean) | undefined,
): Promise<boolean> {
  const index = await writeSidecar(cold.dir, f.name, bytes);
  return exclusive(async () => {
    const entry = cold.files.find((x) => x.name === f.name);
    if (entry === undefined || entry.index !== undefined || stopped?.()) {
      if (entry?.index === undefined) await fsys.unlink(sidecarPath(cold.path(f.name))).catch(() => {});
      return false;
    }
    await cold.addIndex(f.name, index!);
    return true;
  });
}
