/**
 * `<dir>/collector/serve.json`: how the command line reaches the collector that holds a store. `serve`
 * publishes it once it listens and removes it on a clean shutdown. A kill leaves it behind, so it is
 * only a hint: the store's lock says whether a collector holds the store (a free lock: the file is
 * stale), and its pid says whether the file's writer still runs (docs/format.md has the format).
 */
import { mkdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileDurably } from "../base/durable-fs.js";

export const SERVE_FILE_VERSION = 1;

export interface ServeFile {
  version: number;
  /** The collector's base URL (`http://127.0.0.1:4318`). */
  url: string;
  pid: number;
  /** When it started listening (ISO 8601). */
  startedAt: string;
  /** Whether its API needs a bearer token (never the token itself). */
  token: boolean;
}

export function serveFilePath(dir: string): string {
  return join(dir, "collector", "serve.json");
}

/** Written atomically (temp + rename + directory fsync): a reader never sees half a file. */
export async function publishServeFile(dir: string, file: Omit<ServeFile, "version">): Promise<void> {
  const path = serveFilePath(dir);
  await mkdir(join(dir, "collector"), { recursive: true });
  const body = `${JSON.stringify({ version: SERVE_FILE_VERSION, ...file }, null, 2)}\n`;
  await writeFileDurably(`${path}.${process.pid}.tmp`, path, body);
}

/** Removes the file if this process wrote it (a second collector's file is not ours to remove). */
export async function removeServeFile(dir: string, pid = process.pid): Promise<void> {
  const current = await readServeFile(dir).catch(() => undefined);
  if (current?.pid !== pid) return;
  await unlink(serveFilePath(dir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** The published file, or undefined when there is none or it is not one this version can read. */
export async function readServeFile(dir: string): Promise<ServeFile | undefined> {
  let text: string;
  try {
    text = await readFile(serveFilePath(dir), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<ServeFile>;
    const sound =
      v.version === SERVE_FILE_VERSION &&
      typeof v.url === "string" &&
      /^https?:\/\//.test(v.url) &&
      Number.isSafeInteger(v.pid) &&
      (v.pid as number) > 0 && // 0 and negatives name process groups: kill(pid, 0) would say "alive"
      typeof v.startedAt === "string";
    return sound ? { ...(v as ServeFile), token: v.token === true } : undefined;
  } catch {
    return undefined; // a damaged hint is no hint
  }
}

/** Whether a process with this pid runs (and may be signalled by us, or exists as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
