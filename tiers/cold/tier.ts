/**
 * The cold tier: date-partitioned Parquet files under `dir/cold/`, listed by the manifest.
 *
 * The tier owns its lookup structures, committed with its files (filters.ts): reads open only the
 * files that can hold what is asked. A turn's files are those whose turn filter (in the manifest, in
 * memory) may hold it, and inside a file only the row groups whose turnId statistics bracket the turn
 * are read (rows are sorted by turnId). Whether a record exists is asked of the files of its hour, by
 * their record-id filters (in their footers), and confirmed against their rows. A time range picks
 * files by their [minTs, maxTs] and row groups by their timestamp statistics. The hot tier keeps
 * nothing per cold record.
 *
 * Damage: the first read of a file in an open tier checks the whole file against the size and checksum
 * its manifest entry recorded at commit (a listed file never changes, so the verdict is kept for the
 * life of the tier); a damaged, missing or undecodable file fails that read with ERR_CORRUPT_STORE
 * naming the file, and every other file stays readable. A file whose entry has no checksum (written by
 * a version before manifest v3) is checked for its size only.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { CorruptStoreError } from "../../src/base/errors.js";
import { fsError, fsys } from "../../src/base/fs.js";
import type { TierRecord } from "../record.js";
import { checksumFile } from "./checksum.js";
import { BloomFilter, idHash, textHash } from "./filter.js";
import { dateOf, MANIFEST_NAME } from "./layout.js";
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
import { type ColdFileIndex, sidecarName } from "./sidecar.js";
import { SidecarCache } from "./sidecars.js";

/** Parsed footers kept (a few KB each, and their record-id filters): a month of hourly files is 720. */
const INFO_CACHE_FILES = 4096;
/** Record-id filters kept in memory at most (12 bits a record: 22M records' worth). */
const ID_FILTER_BUDGET_BYTES = 32 * 2 ** 20;

export class ColdTier {
  readonly dir: string;
  manifest: Manifest;
  /** Footers being read or read, by file name, least recently used first (fileInfo). */
  private readonly info = new Map<string, Promise<ParquetFileInfo>>();
  /** The record-id filter bytes of each read footer, and their sum. */
  private readonly infoBytes = new Map<string, number>();
  private idFilterBytes = 0;
  /** Files whose bytes were found as committed, in this open (files are immutable once listed). */
  private readonly checked = new Set<string>();

  /** Search sidecars loaded, by file name (sidecars.ts). */
  private readonly sidecars = new SidecarCache((name) => this.path(name));

  /** Turn filters of the listed files that have one, decoded from the manifest. */
  private turnFilters = new Map<string, BloomFilter>();
  /** Listed files by partition date, for the lookups of a record's hour. */
  private byDate = new Map<string, ColdFile[]>();
  /** The newest timestamp any listed file holds. */
  private newestTs = Number.NEGATIVE_INFINITY;

  private constructor(dir: string, manifest: Manifest) {
    this.dir = dir;
    this.manifest = manifest;
    this.index();
  }

  /** Opens the tier; files the manifest does not list (a crash before their commit, or after a merge) go. */
  static async open(dir: string): Promise<ColdTier> {
    await fsys.mkdir(dir);
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

  /**
   * Commits a change to the tier as the next manifest generation: files added (complete and synced
   * under their final names, with their filters), files removed (merged away or dropped by retention;
   * their unlinking is the caller's, once no read can still open them), and an older version's
   * `dropped` list cleared once its files are gone. Returns the generation.
   */
  async apply(change: ColdChange): Promise<number> {
    const generation = this.manifest.generation + 1;
    const gone = new Set((change.remove ?? []).map((f) => f.name));
    const added = (change.add ?? []).map((f) => ({ ...f, generation }));
    await this.commit({
      ...this.manifest,
      generation,
      files: [...this.manifest.files.filter((f) => !gone.has(f.name)), ...added],
      dropped: change.clearDropped ? [] : this.manifest.dropped,
    });
    return generation;
  }

  /**
   * Names a listed file's search sidecar (written durably under its final name) in its manifest entry,
   * as the next generation; the file's own generation is unchanged (its rows did not move).
   */
  async addIndex(name: string, index: NonNullable<ColdFile["index"]>): Promise<void> {
    await this.commit({
      ...this.manifest,
      generation: this.manifest.generation + 1,
      files: this.manifest.files.map((f) => (f.name === name ? { ...f, index } : f)),
    });
  }

  /**
   * Commits `next` as the manifest. A failure can come after the rename that is the commit point (the
   * directory's fsync failed): the disk then lists `next`, and so must memory, or the next commit would
   * reuse its generation and file names and overwrite a file the disk's manifest lists. So on failure
   * the manifest is read back, and adopted when it is `next`; the error is still thrown (whether the
   * rename survives a crash is unknown). If it cannot be read back either, memory keeps the old one and
   * `settled` is false.
   */
  private async commit(next: Manifest): Promise<void> {
    try {
      await commitManifest(this.dir, next);
    } catch (err) {
      const onDisk = await loadManifest(this.dir).catch(() => undefined);
      if (onDisk?.generation === next.generation) this.adopt(next);
      else this.settled = onDisk !== undefined;
      throw err;
    }
    this.adopt(next);
  }

  /**
   * False after a failed commit whose manifest could not be read back: memory may be behind the disk,
   * so a file memory does not list may be listed there (the next commit, or an open, settles it).
   */
  settled = true;

  private adopt(next: Manifest): void {
    this.manifest = next;
    this.index();
    this.settled = true;
    for (const name of [...this.info.keys()]) if (!this.has(name)) this.forgetInfo(name);
    for (const name of this.checked) if (!this.has(name)) this.checked.delete(name);
    this.sidecars.forget((name) => !this.has(name));
  }

  /** Decodes what lookups need from the manifest (its filters were checked when it was read). */
  private index(): void {
    const filters = new Map<string, BloomFilter>();
    const byDate = new Map<string, ColdFile[]>();
    for (const f of this.manifest.files) {
      const known = this.turnFilters.get(f.name);
      const filter = known ?? (f.turns === undefined ? undefined : BloomFilter.decode(f.turns));
      if (filter) filters.set(f.name, filter);
      const list = byDate.get(f.date);
      if (list) list.push(f);
      else byDate.set(f.date, [f]);
    }
    this.turnFilters = filters;
    this.byDate = byDate;
    this.newestTs = this.manifest.files.reduce((m, f) => Math.max(m, f.maxTs), Number.NEGATIVE_INFINITY);
  }

  /** Bytes of filters in memory: every file's turn filter, and the record-id filters of open files. */
  filterBytes(): number {
    let n = 0;
    for (const f of this.turnFilters.values()) n += f.bytes;
    return n + this.idFilterBytes;
  }

  /**
   * The listed files (or those of `among`) that may hold the turn: those whose turn filter says so, and
   * those without one (a file no longer listed has none here: it may hold anything).
   */
  filesOfTurn(turnId: string, among: readonly ColdFile[] = this.manifest.files): ColdFile[] {
    const key = textHash(turnId);
    return among.filter((f) => this.turnFilters.get(f.name)?.mayHave(key) ?? true);
  }

  /**
   * The ids among `records` that a listed file holds. A record's timestamp names its hour, so only the
   * files of its partition whose time bounds cover it are asked, by their record-id filters; a yes is
   * confirmed against the rows of the record's turn in that file (the filter may err, the rows do not).
   */
  async existingIds(records: readonly ColdKey[]): Promise<Set<string>> {
    const found = new Set<string>();
    const asked = new Map<string, Map<string, ColdKey[]>>(); // file -> turn -> records to confirm
    for (const r of records) {
      if (r.timestamp > this.newestTs) continue; // the common case: newer than anything cold
      for (const f of this.byDate.get(dateOf(r.timestamp)) ?? []) {
        if (r.timestamp < f.minTs || r.timestamp > f.maxTs) continue;
        if (!(await this.mayHoldId(f.name, r.id))) continue;
        const turns = asked.get(f.name) ?? new Map<string, ColdKey[]>();
        asked.set(f.name, turns);
        const list = turns.get(r.turnId ?? "");
        if (list) list.push(r);
        else turns.set(r.turnId ?? "", [r]);
      }
    }
    for (const [name, turns] of asked) {
      for (const [turnId, rs] of turns) {
        const ids = new Set((await this.turnRecords(turnId, [name])).map((r) => r.id));
        for (const r of rs) if (ids.has(r.id)) found.add(r.id);
      }
    }
    return found;
  }

  /**
   * A cold record by id: asked of every file's record-id filter (no timestamp narrows it), newest files
   * first (recent records are the ones asked for). A damaged file does not hide the others: its error is
   * thrown only when no other file holds the record.
   */
  async recordById(id: string): Promise<TierRecord | undefined> {
    let damage: unknown;
    for (const f of [...this.manifest.files].sort((a, b) => b.maxTs - a.maxTs)) {
      try {
        const found = await this.recordIn(f, id);
        if (found) return found;
      } catch (err) {
        if (!(err instanceof CorruptStoreError)) throw err;
        damage ??= err;
      }
    }
    if (damage) throw damage;
    return undefined;
  }

  private async recordIn(f: ColdFile, id: string): Promise<TierRecord | undefined> {
    const info = await this.fileInfo(f.name); // checked whole once per open: not read again here
    if (info.ids !== undefined && !info.ids.mayHave(idHash(id))) return undefined;
    const rows = await readParquetRows(info, 0, rowCount(info), ["id", "turnId"]);
    const row = rows.find((r) => r.id === id);
    if (row === undefined) return undefined;
    const turn = typeof row.turnId === "string" ? row.turnId : "";
    return (await this.turnRecords(turn, [f.name])).find((r) => r.id === id);
  }

  private async mayHoldId(name: string, id: string): Promise<boolean> {
    const ids = (await this.fileInfo(name)).ids;
    return ids === undefined || ids.mayHave(idHash(id));
  }

  /** Live files whose [minTs, maxTs] meets [from, to), newest maxTs first (search-contract §4). */
  searchFiles(from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): ColdFile[] {
    return this.manifest.files
      .filter((f) => f.maxTs >= from && f.minTs < to)
      .sort((a, b) => b.maxTs - a.maxTs || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  }

  /**
   * The file's search sidecar, loaded once and cached (by file name, bounded in bytes), or `undefined`
   * when the file has none yet (written before manifest v5) or its sidecar is missing or damaged: the
   * caller then scans the file, so a bad sidecar makes a search slower, never wrong (verify reports it,
   * `verify --repair` rewrites it). An I/O error reading it is ERR_IO.
   */
  fileIndex(file: ColdFile): Promise<ColdFileIndex | undefined> {
    const entry = this.entry(file.name) ?? file;
    return this.sidecars.load(entry);
  }

  /**
   * Those rows of the file (row numbers as its sidecar gives them), as TierRecords in row order, reading
   * only the row groups that hold them (and in each only the span from its first wanted row to its last).
   * Rows at or past the file's end are ignored.
   */
  async readRows(file: ColdFile, rows: readonly number[]): Promise<TierRecord[]> {
    if (rows.length === 0) return [];
    const info = await this.fileInfo(file.name);
    const wanted = [...new Set(rows)].sort((a, b) => a - b);
    const out: TierRecord[] = [];
    let i = 0;
    for (const g of info.groups) {
      while (i < wanted.length && wanted[i]! < g.rowStart) i++;
      if (i === wanted.length) break;
      if (wanted[i]! >= g.rowEnd) continue;
      const picks: number[] = [];
      for (; i < wanted.length && wanted[i]! < g.rowEnd; i++) picks.push(wanted[i]!);
      const first = picks[0]!;
      const got = await readParquetRows(info, first, picks.at(-1)! + 1);
      await decoding(info.path, () => {
        for (const r of picks) out.push(fromRow(got[r - first]!));
      });
    }
    return out;
  }

  partitions(): string[] {
    return [...new Set(this.manifest.files.map((f) => f.date))].sort();
  }

  records(): number {
    return this.manifest.files.reduce((n, f) => n + f.rows, 0);
  }

  /**
   * The turn's records in the named files (default: every file whose filter may hold the turn), row
   * groups chosen by turnId statistics.
   */
  async turnRecords(
    turnId: string,
    names: Iterable<string> = this.filesOfTurn(turnId).map((f) => f.name),
  ): Promise<TierRecord[]> {
    const out: TierRecord[] = [];
    // Names come from a snapshot of the manifest: a file a commit has unlisted since (a merge, a drop)
    // is still read, since unlinks wait for the reads in flight and its records may be nowhere else yet
    // for this caller (a dedup or getBody that found the id in it must find the row there too).
    for (const name of names) {
      const info = await this.fileInfo(name);
      const groups = groupsOfTurn(info.groups, turnId);
      if (groups.length === 0) continue;
      const rows = await readParquetRows(info, groups[0]!.rowStart, groups.at(-1)!.rowEnd);
      await decoding(info.path, () => {
        for (const row of rows) if ((row.turnId ?? "") === turnId) out.push(fromRow(row));
      });
    }
    return out;
  }

  /** Records with `from <= timestamp < to` from the given files (row groups chosen by ts statistics). */
  async rangeRecords(files: readonly ColdFile[], from: number, to: number): Promise<TierRecord[]> {
    const out: TierRecord[] = [];
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

  /** Every row of a file, as the tiers' record shape. */
  async fileRecords(name: string): Promise<TierRecord[]> {
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

  path(name: string): string {
    return join(this.dir, name);
  }

  /** The manifest entry of a listed or dropped file. */
  private entry(name: string): ColdFile | undefined {
    return (
      this.manifest.files.find((f) => f.name === name) ?? this.manifest.dropped.find((f) => f.name === name)
    );
  }

  /**
   * A file's parsed footer, kept in a least-recently-used cache bounded in files and in the bytes of
   * the record-id filters it holds (the filters of a year of hourly files would not fit in memory).
   */
  private fileInfo(name: string): Promise<ParquetFileInfo> {
    const cached = this.info.get(name);
    if (cached) {
      this.info.delete(name); // most recently used last
      this.info.set(name, cached);
      return cached;
    }
    const opening = this.openChecked(name);
    opening.then(
      (info) => {
        if (this.info.get(name) !== opening) return;
        this.infoBytes.set(name, info.ids?.bytes ?? 0);
        this.idFilterBytes += info.ids?.bytes ?? 0;
        this.trimInfo();
      },
      () => {
        if (this.info.get(name) === opening) this.forgetInfo(name); // a failure may be transient
      },
    );
    this.info.set(name, opening);
    this.trimInfo();
    return opening;
  }

  private forgetInfo(name: string): void {
    this.info.delete(name);
    this.idFilterBytes -= this.infoBytes.get(name) ?? 0;
    this.infoBytes.delete(name);
  }

  private trimInfo(): void {
    while (this.info.size > INFO_CACHE_FILES || this.idFilterBytes > ID_FILTER_BUDGET_BYTES)
      this.forgetInfo(this.info.keys().next().value!);
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
    const live = new Set<string>();
    for (const f of [...this.manifest.files, ...this.manifest.dropped]) {
      live.add(f.name);
      if (f.index !== undefined) live.add(sidecarName(f.name)); // an unlisted sidecar goes too
    }
    for (const entry of await coded(`listing ${this.dir}`, () =>
      readdir(this.dir, { withFileTypes: true }),
    )) {
      if (!entry.isDirectory()) {
        if (entry.name !== MANIFEST_NAME) await fsys.unlink(join(this.dir, entry.name));
        continue;
      }
      const part = join(this.dir, entry.name);
      const names = await fsys.readdir(part);
      for (const n of names) if (!live.has(`${entry.name}/${n}`)) await fsys.unlink(join(part, n));
      if (names.every((n) => !live.has(`${entry.name}/${n}`))) await fsys.rmdir(part);
    }
  }
}

/** A file-system call outside the fs seam (src/base/fs.ts has no typed readdir), coded as the seam codes. */
async function coded<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fsError(what, err);
  }
}

/** A change committed as one manifest generation (ColdTier.apply). */
export interface ColdChange {
  add?: readonly Omit<ColdFile, "generation">[];
  remove?: readonly ColdFile[];
  clearDropped?: boolean;
}

/** What identifies a record for the cold tier's existence lookups. */
export interface ColdKey {
  id: string;
  turnId?: string;
  timestamp: number;
}

/**
 * The row groups that can hold the turn's rows, by their turnId statistics. Records without a turn
 * ("") sort first and statistics leave nulls out, so theirs are the leading groups up to the first
 * whose smallest turn is not empty.
 */
function groupsOfTurn(groups: readonly RowGroupInfo[], turnId: string): RowGroupInfo[] {
  if (turnId !== "") return groups.filter((g) => g.minTurn <= turnId && turnId <= g.maxTurn);
  const end = groups.findIndex((g) => g.minTurn !== "");
  return groups.slice(0, end === -1 ? groups.length : end + 1);
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
