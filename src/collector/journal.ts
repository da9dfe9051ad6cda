/**
 * Tails an NDJSON journal (one record a line, as the seed's journal sink writes it) into the store.
 *
 * Exactly once, across rotation and restarts: the position (inode, offset, line number, and the file's
 * first bytes) is saved durably and atomically after the lines before it are durable in the store; a
 * crash in between re-reads lines that are then duplicates (ids are content hashes), never loses one.
 * - A partial last line waits for its newline.
 * - Rotation by rename (PATH → PATH.1, a new PATH): the old file is found by its inode and read to its
 *   end before the new one is started, also after a restart in between.
 * - Rotation by truncation: the file is shorter than the position, or its first bytes changed (it was
 *   truncated and written past the old position): read again from the start.
 * - A bad line (not JSON, or not a valid record) is counted, reported with its file and line number,
 *   appended to the rejects file next to the data, and skipped.
 */
import { createHash } from "node:crypto";
import { appendFile, mkdir, open, readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { writeFileDurably } from "../base/durable-fs.js";
import { fsError } from "../base/fs.js";
import { validateRecords } from "../records/validate.js";
import type { TraceStore } from "../store.js";
import type { TraceRecord } from "../types.js";
import type { CollectorMetrics } from "./metrics.js";

export interface JournalOptions {
  path: string;
  store: TraceStore;
  /** Where positions and the rejects file live (the collector uses `<data dir>/collector`). */
  stateDir: string;
  metrics?: CollectorMetrics;
  /** How often the file is looked at. Default 250 ms. */
  pollMs?: number;
  log?: (line: string) => void;
}

interface Position {
  dev: number;
  ino: number;
  offset: number;
  /** Lines consumed so far (for line numbers in reports). */
  line: number;
  /** The first bytes of the file (base64), to tell a truncated-and-rewritten file from the old one. */
  head: string;
}

const STATE_VERSION = 1;

/** The position a state file holds, or undefined when it is not one (damaged, or another version). */
function savedPosition(text: string): Position | undefined {
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    return undefined;
  }
  const { version, position: p } = (saved ?? {}) as { version?: unknown; position?: Partial<Position> };
  if (version !== STATE_VERSION || typeof p !== "object" || p === null) return undefined;
  const counts = [p.dev, p.ino, p.offset, p.line];
  if (!counts.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) return undefined;
  return typeof p.head === "string" ? (p as Position) : undefined;
}
const HEAD_BYTES = 64;
const READ_BYTES = 4 * 1024 * 1024;
const BATCH_LINES = 5000;
/** A line may be this long (a record with a large body); longer ones are read as they are and rejected. */
const MAX_LINE_BYTES = 256 * 1024 * 1024;

export class JournalTailer {
  readonly path: string;
  private readonly opts: JournalOptions;
  private readonly stateFile: string;
  private pos: Position | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  /** Lines stored and lines rejected since start (for tests and the summary on shutdown). */
  readonly counts = { stored: 0, duplicates: 0, rejected: 0 };

  private constructor(opts: JournalOptions, pos: Position | undefined) {
    this.opts = opts;
    this.path = resolve(opts.path);
    this.stateFile = stateFileOf(opts.stateDir, this.path);
    this.pos = pos;
  }

  static async open(opts: JournalOptions): Promise<JournalTailer> {
    await mkdir(join(opts.stateDir, "journals"), { recursive: true });
    const file = stateFileOf(opts.stateDir, resolve(opts.path));
    let text: string | undefined;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(`reading ${file}`, err);
    }
    const pos = text === undefined ? undefined : savedPosition(text);
    if (text !== undefined && pos === undefined) {
      // Starting over is safe: inserts are idempotent, so lines read again answer "duplicate".
      (opts.log ?? console.error)(
        `journal ${opts.path}: the saved position in ${file} is damaged; reading from the start`,
      );
    }
    return new JournalTailer(opts, pos);
  }

  start(): void {
    this.timer = setInterval(
      () => void this.drain().catch((err) => this.report(`journal ${this.path}: ${(err as Error).message}`)),
      this.opts.pollMs ?? 250,
    );
    this.timer.unref();
  }

  /** Reads and stores every complete line there is now; one pass at a time. */
  drain(): Promise<void> {
    const run = this.running.then(() => this.pass());
    this.running = run.catch(() => {});
    return run;
  }

  /** Stops polling and drains once more. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.drain();
  }

  private async pass(): Promise<void> {
    const st = await statOrUndefined(this.path);
    if (this.pos && (!st || st.ino !== this.pos.ino || st.dev !== this.pos.dev)) {
      // Renamed away: finish the old file (found by inode), then start the new one.
      const old = await this.findRotated(this.pos);
      if (old) await this.consume(old, this.pos, st !== undefined);
      if (!st) return;
      if (!old)
        this.report(
          `journal ${this.path}: the rotated file was not found; lines after offset ${this.pos.offset} of it are missing`,
        );
      this.pos = undefined;
    }
    if (!st) return;
    this.pos ??= { dev: st.dev, ino: st.ino, offset: 0, line: 0, head: "" };
    if (st.size < this.pos.offset || !(await this.sameHead(this.pos))) {
      this.pos = { ...this.pos, offset: 0, line: 0, head: "" }; // truncated
    }
    await this.consume(this.path, this.pos, false);
    this.opts.metrics?.journalLag.set({ journal: this.path }, Math.max(0, st.size - this.pos.offset));
  }

  /**
   * Reads `file` from the position to its end, stores the complete lines, and moves the position.
   * `final`: the file will not grow again (rotated away), so a last line without a newline counts.
   */
  private async consume(file: string, pos: Position, final: boolean): Promise<void> {
    const fh = await open(file, "r");
    try {
      if (pos.head === "") pos.head = (await readAt(fh, 0, HEAD_BYTES)).toString("base64");
      for (let size = READ_BYTES; ; ) {
        const chunk = await readAt(fh, pos.offset, size);
        if (chunk.length === 0) return;
        const atEnd = chunk.length < size;
        let end = chunk.lastIndexOf(0x0a) + 1;
        if (end === 0 && !atEnd && size < MAX_LINE_BYTES) {
          size *= 2; // one line longer than what was read: read more of it
          continue;
        }
        if (final && (atEnd || end === 0)) end = chunk.length; // a rotated file's last line needs no newline
        if (end === 0) return; // a partial line waits for its newline
        await this.storeLines(file, pos, chunk.subarray(0, end));
        size = READ_BYTES;
      }
    } finally {
      await fh.close();
    }
  }

  /** Stores the lines of `bytes` (which ends at a line's end) in batches, saving the position after each. */
  private async storeLines(file: string, pos: Position, bytes: Buffer): Promise<void> {
    const base = pos.offset;
    let at = 0;
    while (at < bytes.length) {
      const from = at;
      const good: TraceRecord[] = [];
      const bad: { line: number; error: string; text: string }[] = [];
      let lines = 0;
      for (; lines < BATCH_LINES && at < bytes.length; lines++) {
        const nl = bytes.indexOf(0x0a, at);
        const stop = nl === -1 ? bytes.length : nl;
        const text = bytes.toString("utf8", at, stop);
        at = stop + 1;
        if (text.trim() === "") continue;
        try {
          const rec: unknown = JSON.parse(text);
          validateRecords([rec]);
          good.push(rec as TraceRecord);
        } catch (err) {
          bad.push({
            line: pos.line + lines + 1,
            error: (err as Error).message.replace(/^record 0: /, ""),
            text,
          });
        }
      }
      if (bad.length > 0) await this.reject(file, bad);
      if (good.length > 0) {
        const r = await this.opts.store.insertRecords(good);
        this.counts.stored += r.inserted;
        this.counts.duplicates += r.duplicates;
        this.opts.metrics?.ingested.inc({ source: "journal" }, r.inserted);
        this.opts.metrics?.duplicates.inc({ source: "journal" }, r.duplicates);
      }
      at = Math.min(at, bytes.length); // the last line of a rotated file may have no newline
      this.opts.metrics?.ingestedBytes.inc({ source: "journal" }, at - from);
      pos.offset = base + at;
      pos.line += lines;
      await this.save(pos);
    }
  }

  private async reject(file: string, bad: { line: number; error: string; text: string }[]): Promise<void> {
    this.counts.rejected += bad.length;
    this.opts.metrics?.rejects.inc({ reason: "journal_bad_line" }, bad.length);
    for (const b of bad) this.report(`journal ${file}:${b.line}: skipped a bad line: ${b.error}`);
    const lines = bad.map(
      (b) => `${JSON.stringify({ journal: this.path, file, line: b.line, error: b.error, text: b.text })}\n`,
    );
    await appendFile(join(this.opts.stateDir, "rejects.ndjson"), lines.join(""));
  }

  private async save(pos: Position): Promise<void> {
    const body = JSON.stringify({ version: STATE_VERSION, journal: this.path, position: pos });
    await writeFileDurably(`${this.stateFile}.tmp`, this.stateFile, body);
  }

  /** Whether the file still starts with the bytes it started with when it was first read. */
  private async sameHead(pos: Position): Promise<boolean> {
    if (pos.head === "") return true;
    const want = Buffer.from(pos.head, "base64");
    const fh = await open(this.path, "r");
    try {
      return (await readAt(fh, 0, want.length)).equals(want);
    } finally {
      await fh.close();
    }
  }

  /** A file beside the journal, named after it, with the inode the position was in. */
  private async findRotated(pos: Position): Promise<string | undefined> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    for (const name of await readdir(dir)) {
      if (!name.startsWith(`${base}.`) && !name.startsWith(`${base}-`)) continue;
      const st = await statOrUndefined(join(dir, name));
      if (st && st.ino === pos.ino && st.dev === pos.dev) return join(dir, name);
    }
    return undefined;
  }

  private report(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}

function stateFileOf(stateDir: string, journal: string): string {
  return join(
    stateDir,
    "journals",
    `${createHash("sha256").update(journal).digest("hex").slice(0, 16)}.json`,
  );
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function readAt(fh: Awaited<ReturnType<typeof open>>, at: number, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  const { bytesRead } = await fh.read(buf, 0, n, at);
  return buf.subarray(0, bytesRead);
}
