/**
 * The file-system steps every commit point is built from. A new file becomes visible under its final
 * name only when complete and on stable storage: write a temporary file, fsync it, rename it over the
 * final name, fsync the directory (so the rename itself survives a crash).
 */
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` atomically and durably, through `temp` (same directory as `path`). */
export async function writeFileDurably(temp: string, path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(temp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}
