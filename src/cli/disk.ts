/** Bytes a directory tree occupies on disk (allocated blocks, as `du` counts them). */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";

export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await diskBytes(path);
    else if (entry.isFile()) total += (await stat(path)).blocks * 512;
  }
  return total;
}
