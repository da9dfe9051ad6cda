/**
 * The fs seam: every file operation of the engine's write side (WAL segments, cold files, manifests,
 * the durable-write steps of src/base/durable-fs.ts) goes through `fsys`, one small interface modelled on
 * pebble's `vfs.FS` / errorfs. The default implementation is node:fs/promises; tests swap in one that
 * injects ENOSPC, EIO or short writes at chosen calls (test/support/fault-fs.ts) with `setFs`, which is
 * internal (not exported from src/index.ts).
 *
 * Errors leave the seam coded, with the operation and path in the message and the errno error as
 * `cause`: ENOSPC/EDQUOT as `DiskFullError` (ERR_DISK_FULL), other failures as `IoError` (ERR_IO).
 * ENOENT, EEXIST and ENOTEMPTY pass through unchanged: they are answers callers branch on (a missing
 * manifest, a directory still in use), not failures of the disk.
 *
 * LevelDB (the hot tier) does its own I/O in C++; `native` is the point where a test can fail its
 * writes and opens as well (tiers/hot/tier.ts calls it), so that every maintenance step can be faulted.
 */
import * as nodeFs from "node:fs/promises";
import { DiskFullError, IoError, isDiskFull, TracetierError } from "./errors.js";

export interface FsFile {
  /** Writes `buf` at `position`; returns the bytes written (a short write returns fewer). */
  write(buf: Uint8Array, position: number): Promise<number>;
  writev(bufs: Uint8Array[], position: number): Promise<number>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export type OpenFlags = "r" | "r+" | "w" | "wx";

/** Operations of LevelDB that a test may fail (`native` below). */
export type NativeOp = "leveldb.open" | "leveldb.reopen" | "leveldb.write" | "leveldb.compact";

export interface Fs {
  open(path: string, flags: OpenFlags): Promise<FsFile>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** Called before a LevelDB operation on `path`; throws to fail it (the default never does). */
  native(op: NativeOp, path: string): void;
}

/** node:fs/promises, unwrapped (the seam codes its errors). */
export const nodeFileSystem: Fs = {
  async open(path, flags) {
    const fh = await nodeFs.open(path, flags);
    return {
      write: async (buf, position) => (await fh.write(buf, 0, buf.length, position)).bytesWritten,
      writev: async (bufs, position) => (await fh.writev(bufs, position)).bytesWritten,
      datasync: () => fh.datasync(),
      sync: () => fh.sync(),
      truncate: (length) => fh.truncate(length),
      close: () => fh.close(),
    };
  },
  readFile: (path) => nodeFs.readFile(path),
  readdir: (path) => nodeFs.readdir(path),
  mkdir: async (path) => {
    await nodeFs.mkdir(path, { recursive: true });
  },
  rename: (from, to) => nodeFs.rename(from, to),
  unlink: (path) => nodeFs.unlink(path),
  rmdir: (path) => nodeFs.rmdir(path),
  native: () => {},
};

let current: Fs = nodeFileSystem;

/** Installs `fs` for everything that follows (tests only); returns a function that puts back the previous one. */
export function setFs(fs: Fs): () => void {
  const previous = current;
  current = fs;
  return () => {
    current = previous;
  };
}

const PASS_THROUGH = new Set(["ENOENT", "EEXIST", "ENOTEMPTY"]);

/** The coded form of an error the file system gave for `what` (an operation and its path). */
export function fsError(what: string, err: unknown): unknown {
  if (err instanceof TracetierError) return err;
  if (isDiskFull(err)) return new DiskFullError(what, err);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && PASS_THROUGH.has(code)) return err;
  return new IoError(what, err);
}

async function coded<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fsError(what, err);
  }
}

function codedFile(path: string, f: FsFile): FsFile {
  return {
    write: (buf, position) => coded(`writing ${path}`, () => f.write(buf, position)),
    writev: (bufs, position) => coded(`writing ${path}`, () => f.writev(bufs, position)),
    datasync: () => coded(`fsync of ${path}`, () => f.datasync()),
    sync: () => coded(`fsync of ${path}`, () => f.sync()),
    truncate: (length) => coded(`truncating ${path}`, () => f.truncate(length)),
    close: () => coded(`closing ${path}`, () => f.close()),
  };
}

/** The seam the engine calls: the installed implementation, with coded errors. */
export const fsys: Fs = {
  open: async (path, flags) =>
    codedFile(path, await coded(`opening ${path}`, () => current.open(path, flags))),
  readFile: (path) => coded(`reading ${path}`, () => current.readFile(path)),
  readdir: (path) => coded(`listing ${path}`, () => current.readdir(path)),
  mkdir: (path) => coded(`creating directory ${path}`, () => current.mkdir(path)),
  rename: (from, to) => coded(`renaming ${from} to ${to}`, () => current.rename(from, to)),
  unlink: (path) => coded(`deleting ${path}`, () => current.unlink(path)),
  rmdir: (path) => coded(`deleting directory ${path}`, () => current.rmdir(path)),
  native: (op, path) => current.native(op, path),
};
