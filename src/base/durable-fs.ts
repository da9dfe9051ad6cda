/**
 * The file-system steps every commit point is built from. A new file becomes visible under its final
 * name only when complete and on stable storage: write a temporary file, fsync it, rename it over the
 * final name, fsync the directory (so the rename itself survives a crash). Every step goes through the
 * fs seam (src/base/fs.ts), so a full disk comes out as ERR_DISK_FULL naming the file.
 */
import { dirname } from "node:path";
import { IoError } from "./errors.js";
import { type FsFile, fsys } from "./fs.js";

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsys.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `data` at `position`, going on after short writes. */
export async function writeFully(fh: FsFile, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const n = await fh.write(data.subarray(done), position + done);
    if (n <= 0) throw new IoError(`writing at ${position + done}`, new Error("a write made no progress"));
    done += n;
  }
}

/**
 * Writes `data` to `path` atomically and durably, through `temp` (same directory as `path`). When a step
 * fails (a full disk), the temporary file is removed: it would otherwise hold the space that is short.
 */
export async function writeFileDurably(temp: string, path: string, data: Uint8Array | string): Promise<void> {
  await writeFileSynced(temp, path, typeof data === "string" ? Buffer.from(data, "utf8") : data);
  await fsyncDir(dirname(path));
}

/**
 * writeFileDurably without the directory fsync: for a file written beside another whose own
 * writeFileDurably comes next (one directory fsync covers both renames).
 */
export async function writeFileSynced(temp: string, path: string, data: Uint8Array): Promise<void> {
  try {
    const fh = await fsys.open(temp, "w");
    try {
      await writeFully(fh, data, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsys.rename(temp, path);
  } catch (err) {
    await fsys.unlink(temp).catch(() => {});
    throw err;
  }
}
