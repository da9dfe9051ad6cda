/**
 * The WAL writer: appends frames to the active segment with group commit.
 *
 * Callers queue frames; one flush at a time writes everything queued (one writev) and, under
 * `durability: "sync"`, one fdatasync, then resolves every frame of the group. Callers that arrive while
 * a flush runs form the next group, so N concurrent inserts cost about one fsync per round trip, not N.
 *
 * After a write or sync error the file's state is unknown: the writer fails every pending and future
 * append (ERR_WAL_FAILED) rather than acknowledge a record it may have lost.
 */
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "../src/durable-fs.js";
import { WalFailedError } from "../src/errors.js";
import type { Durability } from "../src/types.js";
import { encodeSegmentHeader } from "./frame.js";
import { segmentName } from "./segments.js";

export interface WalWriterOptions {
  dir: string;
  durability: Durability;
  syncIntervalMs: number;
  segmentBytes: number;
}

interface Pending {
  frame: Uint8Array;
  lastSeq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Segment {
  no: number;
  path: string;
  bytes: number;
  /** Highest record sequence number in the segment (0 when it holds no frame). */
  lastSeq: number;
}

const IOV_MAX = 1024;

/** Counters for metrics and tests: how many fsyncs, how long they took in all, how many frames. */
export interface WalWriterStats {
  syncs: number;
  syncMs: number;
  frames: number;
}

export class WalWriter {
  private readonly opts: WalWriterOptions;
  private active: Segment;
  private fh: FileHandle;
  /** Rolled-over segments, oldest first, waiting until the hot tier holds their records durably. */
  private readonly sealed: Segment[] = [];
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private dirty = false;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly stats: WalWriterStats = { syncs: 0, syncMs: 0, frames: 0 };

  private constructor(opts: WalWriterOptions, active: Segment, fh: FileHandle) {
    this.opts = opts;
    this.active = active;
    this.fh = fh;
    if (opts.durability === "interval") {
      this.timer = setInterval(() => void this.syncIfDirty().catch(() => {}), opts.syncIntervalMs);
      this.timer.unref();
    }
  }

  /** Starts a new segment numbered `segmentNo`; older segments on disk are the caller's business. */
  static async create(opts: WalWriterOptions, segmentNo: number): Promise<WalWriter> {
    const { segment, fh } = await createSegment(opts.dir, segmentNo);
    return new WalWriter(opts, segment, fh);
  }

  /** Resolves once the frame is written (and, under "sync", on stable storage). Frames land in call order. */
  append(frame: Uint8Array, lastSeq: number): Promise<void> {
    if (this.failure) return Promise.reject(new WalFailedError(this.failure));
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, lastSeq, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Bytes of every WAL segment this writer knows of. */
  bytes(): number {
    return this.sealed.reduce((n, s) => n + s.bytes, this.active.bytes);
  }

  /** Sealed segments whose records are all at or below `seq`: the caller checkpoints, then releases. */
  releasableUpTo(seq: number): number {
    return this.sealed.filter((s) => s.lastSeq <= seq).length;
  }

  /**
   * Deletes sealed segments whose records are all at or below `durableSeq`. The caller guarantees the
   * hot tier holds those records on stable storage (a synced checkpoint), so nothing is lost with them.
   */
  async release(durableSeq: number): Promise<void> {
    while (this.sealed.length > 0 && this.sealed[0]!.lastSeq <= durableSeq) {
      const seg = this.sealed.shift()!;
      await unlink(seg.path);
    }
  }

  /** Seals the active segment and starts the next, so that everything written so far can be released. */
  async rotate(): Promise<void> {
    await this.exclusive(() => this.rollOver());
  }

  /** Waits for queued frames, then makes everything written durable (whatever the durability mode). */
  async sync(): Promise<void> {
    await this.exclusive(() => this.syncNow());
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      if (!this.failure) await this.sync();
    } catch {
      // the failure is already recorded and was reported to the callers whose frames it concerned
    } finally {
      await this.fh.close();
    }
  }

  /**
   * Runs `op` when no flush or other file operation is running: writes, roll-overs and syncs never
   * interleave on the file handle. Frames queued meanwhile are flushed right after.
   */
  private async exclusive(op: () => Promise<void>): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw new WalFailedError(this.failure);
    const run = op().catch((err: unknown) => this.fail(err, []));
    this.flushing = run.finally(() => {
      this.flushing = this.queue.length > 0 ? this.flushLoop() : undefined;
    });
    await run;
    if (this.failure) throw new WalFailedError(this.failure);
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        await this.writeGroup(group).then(
          () => {
            for (const p of group) p.resolve();
          },
          (err: unknown) => this.fail(err, group),
        );
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    if (this.active.bytes >= this.opts.segmentBytes) await this.rollOver();
    for (let i = 0; i < group.length; i += IOV_MAX) {
      const bufs = group.slice(i, i + IOV_MAX).map((p) => p.frame);
      await writeAll(this.fh, bufs, this.active.bytes);
      for (const b of bufs) this.active.bytes += b.length;
    }
    this.active.lastSeq = group.reduce((max, p) => Math.max(max, p.lastSeq), this.active.lastSeq);
    this.stats.frames += group.length;
    if (this.opts.durability === "sync") await this.datasync();
    else this.dirty = true;
  }

  private fail(err: unknown, group: Pending[]): void {
    this.failure = err instanceof Error ? err : new Error(String(err));
    const failed = new WalFailedError(this.failure);
    for (const p of [...group, ...this.queue.splice(0)]) p.reject(failed);
  }

  private async rollOver(): Promise<void> {
    // The sealed segment is synced whatever the durability mode: release() relies on sealed segments
    // holding exactly what was written to them.
    await this.fh.datasync();
    await this.fh.close();
    this.sealed.push(this.active);
    const next = await createSegment(this.opts.dir, this.active.no + 1);
    this.active = next.segment;
    this.fh = next.fh;
  }

  private async syncNow(): Promise<void> {
    this.dirty = false;
    await this.datasync();
  }

  private async datasync(): Promise<void> {
    const start = performance.now();
    await this.fh.datasync();
    this.stats.syncs++;
    this.stats.syncMs += performance.now() - start;
  }

  /** The interval timer's tick: skipped while a flush runs (the next tick catches up). */
  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.failure || this.flushing) return;
    await this.exclusive(() => this.syncNow());
  }
}

async function createSegment(dir: string, no: number): Promise<{ segment: Segment; fh: FileHandle }> {
  const path = join(dir, segmentName(no));
  const fh = await open(path, "wx");
  const header = encodeSegmentHeader(no);
  await fh.write(header, 0, header.length, 0);
  await fh.datasync();
  await fsyncDir(dir); // the new name must survive a crash before any frame in it is acknowledged
  return { segment: { no, path, bytes: header.length, lastSeq: 0 }, fh };
}

async function writeAll(fh: FileHandle, bufs: Uint8Array[], position: number): Promise<void> {
  let { bytesWritten } = await fh.writev(bufs, position);
  const total = bufs.reduce((n, b) => n + b.length, 0);
  while (bytesWritten < total) {
    const rest = Buffer.concat(bufs).subarray(bytesWritten);
    const r = await fh.write(rest, 0, rest.length, position + bytesWritten);
    bytesWritten += r.bytesWritten;
  }
}
