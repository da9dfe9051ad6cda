/** Reads a closed store's hot tier directly, to check what the public API cannot see. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { decodeManifest } from "../../src/bodies/manifest.js";

export interface HotInventory {
  ids: number;
  bodies: number;
  bodyBytes: number;
  chunkBytes: number;
  /** Chunks a body manifest lists that are not stored. */
  missingChunks: number;
  /** turn → file entries naming a file the cold manifest does not list. */
  staleTurnFiles: number;
  /** Keys by keyspace (their first byte, as a letter). */
  keys: Record<string, number>;
}

export async function inspectHot(dir: string): Promise<HotInventory> {
  const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    files: { name: string }[];
  };
  const live = new Set(manifest.files.map((f) => f.name));
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
  });
  const inv: HotInventory = {
    ids: 0,
    bodies: 0,
    bodyBytes: 0,
    chunkBytes: 0,
    missingChunks: 0,
    staleTurnFiles: 0,
    keys: {},
  };
  const chunks = new Set<string>();
  const listed: string[] = [];
  try {
    for await (const [key, value] of db.iterator()) {
      const p = String.fromCharCode(key[0]!);
      inv.keys[p] = (inv.keys[p] ?? 0) + 1;
      if (p === "i") inv.ids++;
      else if (p === "k") {
        chunks.add(key.toString("hex", 1));
        inv.chunkBytes += value.length;
      } else if (p === "b") {
        inv.bodies++;
        inv.bodyBytes += value.length;
        const m = decodeManifest(value);
        if (m.layout === "chunked") listed.push(...m.chunks.map((c) => c.toString("hex")));
      } else if (p === "f") {
        const len = key.readUInt32BE(1);
        if (!live.has(key.toString("utf8", 5 + len))) inv.staleTurnFiles++;
      }
    }
  } finally {
    await db.close();
  }
  inv.missingChunks = listed.filter((c) => !chunks.has(c)).length;
  return inv;
}

/** Runs `use` on the store's hot LevelDB, opened directly (the store must be closed), then closes it. */
export async function withHot<T>(
  dir: string,
  use: (db: ClassicLevel<Buffer, Buffer>) => Promise<T>,
): Promise<T> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
  });
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}
