/**
 * The manifest of live cold files, `cold/MANIFEST.json`: the cold tier's single commit point. A file
 * is part of the tier when, and only when, the manifest lists it. Committing writes a temporary file,
 * fsyncs it, renames it over the manifest and fsyncs the directory, so a crash leaves the old manifest
 * or the new one, never a mix.
 *
 *   { "version": 2, "generation": n, "files": [ColdFile…], "dropped": [ColdFile…] }
 *   ColdFile = { name, date, rows, bytes, minTs, maxTs, generation }
 *
 * `dropped` (version 2) lists files retention removed from the tier whose clean-up (their records' index
 * entries in the hot tier, then the files themselves) has not finished: they are no longer read, but
 * they are kept until the clean-up has what it needs from them. A version 1 manifest has none.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileDurably } from "../../src/durable-fs.js";
import { CorruptStoreError } from "../../src/errors.js";
import { MANIFEST_NAME } from "./layout.js";

export const MANIFEST_VERSION = 2;

export interface ColdFile {
  /** Path relative to the cold directory. */
  name: string;
  date: string;
  rows: number;
  bytes: number;
  minTs: number;
  maxTs: number;
  /** The manifest generation that added it. */
  generation: number;
}

export interface Manifest {
  version: typeof MANIFEST_VERSION;
  generation: number;
  files: ColdFile[];
  dropped: ColdFile[];
}

export const EMPTY_MANIFEST: Manifest = { version: MANIFEST_VERSION, generation: 0, files: [], dropped: [] };

export async function loadManifest(coldDir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(coldDir, MANIFEST_NAME), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_MANIFEST;
    throw err;
  }
  const m = JSON.parse(text) as Omit<Manifest, "version"> & { version: number };
  if (!(m.version === 1 || m.version === MANIFEST_VERSION) || !Array.isArray(m.files)) {
    throw new CorruptStoreError(`cold manifest has unknown version ${String(m.version)}`);
  }
  return { ...m, version: MANIFEST_VERSION, dropped: m.dropped ?? [] };
}

export async function commitManifest(coldDir: string, m: Manifest): Promise<void> {
  await writeFileDurably(
    join(coldDir, `.${MANIFEST_NAME}.tmp`),
    join(coldDir, MANIFEST_NAME),
    JSON.stringify(m),
  );
}
