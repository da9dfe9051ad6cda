/** Bytes a directory tree occupies on disk: allocated blocks of its files and directories, as `du` counts them. */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

/** `withSelf`: count the directory's own blocks too (`du` does; a caller summing children may not want to). */
export async function diskBytes(dir: string, withSelf = false): Promise<number> {
  let total = withSelf ? (await stat(dir)).blocks * 512 : 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskBytes(path, true);
    else if (entry.isFile()) total += (await stat(path)).blocks * 512;
  }
  return total;
}
