/** Bytes a directory tree occupies on disk: allocated blocks of its files and directories, as `du` counts them. */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { IoError, TracetierError } from "./errors.js";

/**
 * `withSelf`: count the directory's own blocks too (`du` does; a caller summing children may not want to).
 *
 * The tree may change while it is measured: LevelDB deletes table files and logs whenever it compacts,
 * so an entry listed by `readdir` can be gone by the time it is stat'ed (or listed, for a directory).
 * Such an entry counts as zero bytes. Any other failure, or the root itself missing, is an `IoError`
 * naming the path.
 */
export function diskBytes(dir: string, withSelf = false): Promise<number> {
  return treeBytes(dir, withSelf, false);
}

async function treeBytes(dir: string, withSelf: boolean, child: boolean): Promise<number> {
  let total = 0;
  try {
    if (withSelf) total = (await stat(dir)).blocks * 512;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) total += await treeBytes(path, true, true);
      else if (entry.isFile()) total += await fileBytes(path);
    }
  } catch (err) {
    if (child && isGone(err)) return 0; // removed while measured
    if (err instanceof TracetierError) throw err;
    throw new IoError(`measuring ${dir}`, err);
  }
  return total;
}

async function fileBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).blocks * 512;
  } catch (err) {
    if (isGone(err)) return 0; // removed between readdir and stat
    throw new IoError(`measuring ${path}`, err);
  }
}

function isGone(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
