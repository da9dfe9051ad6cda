/**
 * The cold tier: date-partitioned Parquet files under `dir/cold/`, listed by the manifest.
 *
 * Reads open only the files that can hold what is asked: a turn's files come from the turn → files
 * index that compaction keeps in the hot tier's LevelDB, and inside a file only the row groups whose
 * turnId statistics bracket the turn are read (rows are sorted by turnId). A time range picks files by
 * their [minTs, maxTs] and row groups by their timestamp statistics.
 *
 * Damage: the first read of a file in an open tier checks the whole file against the size and checksum
 * its manifest entry recorded at commit (a listed file never changes, so the verdict is kept for the
 * life of the tier); a damaged, missing or undecodable file fails that read with ERR_CORRUPT_STORE
 * naming the file, and every other file stays readable. A file whose entry has no checksum (written by
 * a version before manifest v3) is checked for its size only.
 */
import { mkdir, readdir, rmdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CorruptStoreError } from "../../src/errors.js";
import type { HotRecord } from "../hot/values.js";
import { checksumFile } from "./checksum.js";
import { MANIFEST_NAME } from "./layout.js";
import { type ColdFile, commitManifest, loadManifest, type Manifest } from "./manifest.js";
import {
  checkIntegrity,
  decoding,
  fileError,
  type ParquetFileInfo,
  type RowGroupInfo,
  readParquetColumns,
  readParquetInfo,
  readParquetRows,
} from "./parquet.js";
import { fromRow } from "./schema.js";

/** Parsed footers kept (a few KB each): a month of hourly files is 720. */
const INFO_CACHE_FILES = 4096;

export class ColdTier {
  readonly dir: string;
  manifest: Manifest;
  /** Footers being read or read, by file name; a failed read is forgotten (it may be transient). */
  private readonly info = new Map<string, Promise<ParquetFileInfo>>();
  /** Files whose bytes were found as committed, in this open (files are immutable once listed). */
  private readonly checked = new Set<string>();

  private constructor(dir: string, manifest: Manifest) {
    this.dir = dir;
    this.manifest = manifest;
  }

  /** Opens the tier; files the manifest does not list (a crash before their commit, or after a merge) go. */
  static async open(dir: string): Promise<ColdTier> {
    await mkdir(dir, { recursive: true });
    const manifest = await loadManifest(dir);
    const tier = new ColdTier(dir, manifest);
    await tier.sweep();
    return tier;
  }

  get files(): readonly ColdFile[] {
    return this.manifest.files;
  }

  has(name: string): boolean {
    return this.manifest.files.some((f) => f.name === name);
  }

  async commit(next: Manifest): Promise<void> {
    await commitManifest(this.dir, next);
    this.manifest = next;
    for (const name of this.info.keys()) if (!this.has(name)) this.info.delete(name);
    for (const name of this.checked) if (!this.has(name)) this.checked.delete(name);
  }

  partitions(): string[] {
    return [...new Set(this.manifest.files.map((f) => f.date))].sort();
  }

  records(): number {
    return this.manifest.files.reduce((n, f) => n + f.rows, 0);
  }

  /** The turn's records in the named files (row groups chosen by turnId statistics). */
  async turnRecords(turnId: string, names: Iterable<string>): Promise<HotRecord[]> {
    const out: HotRecord[] = [];
    for (const name of names) {
      if (!this.has(name)) continue; // a stale index entry (a merge's, before its cleanup landed)
      const info = await this.fileInfo(name);
      const groups = info.groups.filter((g) => g.minTurn <= turnId && turnId <= g.maxTurn);
      if (groups.length === 0) continue;
      const rows = await readParquetRows(info, groups[0]!.rowStart, groups.at(-1)!.rowEnd);
      await decoding(info.path, () => {
        for (const row of rows) if (row.turnId === turnId) out.push(fromRow(row));
      });
    }
    return out;
  }

  /** Records with `from <= timestamp < to` from the given files (row groups chosen by ts statistics). */
  async rangeRecords(files: readonly ColdFile[], from: number, to: number): Promise<HotRecord[]> {
    const out: HotRecord[] = [];
    for (const f of files) {
      const info = await this.fileInfo(f.name);
      for (const [start, end] of runs(info.groups.filter((g) => g.maxTs >= from && g.minTs < to))) {
        const rows = await readParquetRows(info, start, end);
        await decoding(info.path, () => {
          for (const row of rows) {
            const ts = Number(row.timestamp);
            if (ts >= from && ts < to) out.push(fromRow(row));
          }
        });
      }
    }
    return out;
  }

  /** Every row of a file, as the hot tier's record shape. */
  async fileRecords(name: string): Promise<HotRecord[]> {
    const info = await this.fileInfo(name);
    const rows = await readParquetRows(info, 0, rowCount(info));
    return decoding(info.path, () => rows.map(fromRow));
  }

  /** Visits `(bodyHash hex, timestamp)` of the file's rows that have a body, reading only those columns. */
  async bodyRefs(name: string, visit: (hashHex: string, ts: number) => void): Promise<void> {
    const rows = await readParquetColumns(this.path(name), ["bodyHash", "timestamp"], this.entry(name));
    if (rows === undefined) throw new CorruptStoreError(`cold file ${name} is listed but missing`);
    for (const row of rows) if (typeof row.bodyHash === "string") visit(row.bodyHash, Number(row.timestamp));
  }

  /**
   * The ids (and sequence numbers, when asked: INT64 decoding costs as much again) of a file's rows, or
   * `undefined` when the file is gone: a dropped file is deleted only after its index entries are.
   */
  async rowIds(name: string, withSeq: boolean): Promise<{ id: string; seq: number }[] | undefined> {
    const rows = await readParquetColumns(
      this.path(name),
      withSeq ? ["id", "seq"] : ["id"],
      this.entry(name),
    );
    return rows?.map((r) => ({ id: r.id as string, seq: withSeq ? Number(r.seq) : -1 }));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** The manifest entry of a listed or dropped file. */
  private entry(name: string): ColdFile | undefined {
    return (
      this.manifest.files.find((f) => f.name === name) ?? this.manifest.dropped.find((f) => f.name === name)
    );
  }

  private fileInfo(name: string): Promise<ParquetFileInfo> {
    let info = this.info.get(name);
    if (!info) {
      const opening = this.openChecked(name);
      opening.catch(() => {
        if (this.info.get(name) === opening) this.info.delete(name);
      });
      if (this.info.size >= INFO_CACHE_FILES) this.info.delete(this.info.keys().next().value!);
      this.info.set(name, opening);
      info = opening;
    }
    return info;
  }

  /**
   * Checks the file whole against its manifest entry once per open (a 3 MB file, the largest compaction
   * writes, is read and summed in about 2 ms), while its footer is read: a damaged file's integrity
   * error wins over whatever its footer's decode said.
   */
  private async openChecked(name: string): Promise<ParquetFileInfo> {
    const path = this.path(name);
    const [integrity, info] = await Promise.allSettled([this.checkFile(name), readParquetInfo(path)]);
    const failed =
      integrity.status === "rejected" ? integrity : info.status === "rejected" ? info : undefined;
    if (failed) throw fileError(path, failed.reason);
    return (info as PromiseFulfilledResult<ParquetFileInfo>).value;
  }

  /** Size and checksum against the manifest entry (size only for an entry without a checksum). */
  private async checkFile(name: string): Promise<void> {
    const entry = this.entry(name);
    if (!entry || this.checked.has(name)) return;
    const path = this.path(name);
    if (entry.checksum === undefined) checkIntegrity(path, entry, (await stat(path)).size);
    else {
      const found = await checksumFile(path);
      checkIntegrity(path, entry, found.bytes, found.checksum);
    }
    this.checked.add(name);
  }

  /**
   * Removes what no manifest lists: temp files, files of uncommitted writes, files a merge replaced.
   * Dropped files stay until retention's clean-up has read them.
   */
  private async sweep(): Promise<void> {
    const live = new Set([...this.manifest.files, ...this.manifest.dropped].map((f) => f.name));
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) {
        if (entry.name !== MANIFEST_NAME) await unlink(join(this.dir, entry.name));
        continue;
      }
      const part = join(this.dir, entry.name);
      const names = await readdir(part);
      for (const n of names) if (!live.has(`${entry.name}/${n}`)) await unlink(join(part, n));
      if (names.every((n) => !live.has(`${entry.name}/${n}`))) await rmdir(part);
    }
  }
}

function rowCount(info: ParquetFileInfo): number {
  return info.groups.at(-1)?.rowEnd ?? 0;
}

/** Adjacent row groups as row ranges, so that a run of them is one read. */
function runs(groups: readonly RowGroupInfo[]): [number, number][] {
  const out: [number, number][] = [];
  for (const g of groups) {
    const last = out.at(-1);
    if (last && last[1] === g.rowStart) last[1] = g.rowEnd;
    else out.push([g.rowStart, g.rowEnd]);
  }
  return out;
}
