/**
 * Where cold files live: `dir/cold/date=YYYY-MM-DD/<name>.parquet`, Hive style, so that
 * `read_parquet('dir/cold/*\/*.parquet', hive_partitioning = true)` reads the tier as it lies. A file
 * is written under a hidden temporary name that does not end in `.parquet` (a reader that globs the
 * directory never sees a half-written file) and renamed into place once it is complete and synced.
 */
import { join } from "node:path";

export const MANIFEST_NAME = "MANIFEST.json";

/** The UTC date of a timestamp, as the partition names it. */
export function dateOf(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10);
}

export function partitionDir(coldDir: string, date: string): string {
  return join(coldDir, `date=${date}`);
}

/** A file's path relative to the cold directory: `date=YYYY-MM-DD/g<generation>-<n>.parquet`. */
export function fileName(date: string, generation: number, n: number): string {
  return `date=${date}/g${String(generation).padStart(10, "0")}-${n}.parquet`;
}

/** The temporary name a file is written under before it is renamed into place. */
export function tempPath(coldDir: string, name: string): string {
  const slash = name.indexOf("/");
  return join(coldDir, name.slice(0, slash), `.${name.slice(slash + 1)}.tmp`);
}

/** First and last ms of a UTC date. */
export function dayRange(date: string): { start: number; end: number } {
  const start = Date.parse(`${date}T00:00:00.000Z`);
  return { start, end: start + 86_400_000 };
}
