/**
 * The manifest of live cold files, `cold/MANIFEST.json`: the cold tier's single commit point. A file
 * is part of the tier when, and only when, the manifest lists it. Committing writes a temporary file,
 * fsyncs it, renames it over the manifest and fsyncs the directory, so a crash leaves the old manifest
 * or the new one, never a mix.
 *
 *   { "version": 1, "generation": n, "files": [ { name, date, rows, bytes, minTs, maxTs, generation } ] }
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileDurably } from "../../src/durable-fs.js";
import { CorruptStoreError } from "../../src/errors.js";
import { MANIFEST_NAME } from "./layout.js";

export const MANIFEST_VERSION = 1;

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
}

export const EMPTY_MANIFEST: Manifest = { version: MANIFEST_VERSION, generation: 0, files: [] };

export async function loadManifest(coldDir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(coldDir, MANIFEST_NAME), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_MANIFEST;
    throw err;
  }
  const m = JSON.parse(text) as Manifest;
  if (m.version !== MANIFEST_VERSION || !Array.isArray(m.files)) {
    throw new CorruptStoreError(`cold manifest has unknown version ${String(m.version)}`);
  }
  return m;
}

export async function commitManifest(coldDir: string, m: Manifest): Promise<void> {
  await writeFileDurably(
    join(coldDir, `.${MANIFEST_NAME}.tmp`),
    join(coldDir, MANIFEST_NAME),
    JSON.stringify(m),
  );
}
