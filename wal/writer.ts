/**
 * The WAL writer: appends frames to the active segment with group commit.
 *
 * Callers queue frames; one flush at a time writes everything queued (one writev) and, under
 * `durability: "sync"`, one fdatasync, then resolves every frame of the group. Callers that arrive while
 * a flush runs form the next group, so N concurrent inserts cost about one fsync per round trip, not N.
 *
 * Failures, and why each is handled the way it is (replay must never meet a half frame mid-log):
 * - A failed `write` (ENOSPC, EIO, a short write followed by an error) may leave part of the group after
 *   the last good frame. The segment is truncated back to that offset and synced, so the file is again
 *   exactly the frames acknowledged so far; the group (and every frame queued behind it) is rejected
 *   with the coded error (ERR_DISK_FULL for ENOSPC/EDQUOT, ERR_IO otherwise), and the writer is
 *   *blocked*: it refuses appends until the write path, once every batch staged before the failure has
 *   settled, calls `resume()` (a batch staged meanwhile may refer to bodies of a rejected one). This is
 *   not sticky: once space comes back, the same writer appends again.
 * - Creating the next segment at roll-over can fail the same way: the half-made file is removed and the
 *   active segment stays active (it is still whole), so the roll-over is retried by the next group.
 * - A failed `fsync` leaves the file's state unknown: Linux may have dropped the dirty pages and marked
 *   them clean, so a retried fsync would "succeed" over lost data (PostgreSQL's fsyncgate). The frames
 *   of that group could be re-written into a fresh segment, but the old segment's tail would still be
 *   whatever the kernel kept, mid-log once a newer segment exists, and cleaning it up needs the very
 *   fsync that just failed. So the writer fails for good (ERR_WAL_FAILED) until the store is reopened,
 *   where replay reads what actually reached the disk. A failed truncate (the clean-up above) is the
 *   same: the file's state is unknown.
 */
import { join } from "node:path";
import { fsyncDir, writeFully } from "../src/base/durable-fs.js";
import { CorruptWalError, WalFailedError } from "../src/base/errors.js";
import { type FsFile, fsys } from "../src/base/fs.js";
import type { Durability } from "../src/types.js";
import { encodeSegmentHeader } from "./frame.js";
import { readWal, type WalContents } from "./reader.js";
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
  /** Bytes of whole frames (and the header): where the next frame goes, and where a failed write is cut back to. */
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

/** A failure that leaves the segment whole (the caller may go on once it has settled). */
class Recoverable {
  constructor(readonly error: Error) {}
}

export class WalWriter {
  private readonly opts: WalWriterOptions;
  private active: Segment;
  private fh: FsFile;
  /** Rolled-over segments, oldest first, waiting until the hot tier holds their records durably. */
  private readonly sealed: Segment[] = [];
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private dirty = false;
  /** Sticky: the file's state is unknown (a failed fsync or truncate). */
  private failure: Error | undefined;
  /** Not sticky: a write failed and was cut back; appends are refused until `resume()`. */
  private blockedBy: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The highest sequence number of a frame whose append resolved (written, and synced under "sync"). */
  private ackedSeq = 0;
  readonly stats: WalWriterStats = { syncs: 0, syncMs: 0, frames: 0 };

  private constructor(opts: WalWriterOptions, active: Segment, fh: FsFile) {
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
    if (this.blockedBy) return Promise.reject(this.blockedBy);
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, lastSeq, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Whether a failed write blocks appends until `resume()`. */
  get blocked(): boolean {
    return this.blockedBy !== undefined;
  }

  /** Accepts appends again after a failed write (the caller has settled everything staged before it). */
  resume(): void {
    this.blockedBy = undefined;
  }

  /** Refuses appends until `resume()`: the write path failed a batch after its frame was written. */
  block(err: Error): void {
    this.blockedBy ??= err;
  }

  /**
   * The segments as they are now, read back without changing them while appends may go on, and the
   * highest sequence number `upTo` of a frame acknowledged before the read began: every frame at or
   * below it is whole in the segments read (frames land in sequence order, a failed write is cut back
   * only past acknowledged frames, and a segment that vanished meanwhile was released: all of it is
   * durably applied). A frame above `upTo` may be half written or about to be cut back: the caller
   * ignores it. The write path replays from here after reopening the hot tier.
   */
  async readAcknowledged(): Promise<{ log: WalContents; upTo: number }> {
    const upTo = this.ackedSeq; // before the listing: see above
    return { log: await readWal(this.opts.dir, { repair: false }), upTo };
  }

  /**
   * Refuses a read back that ends before the frame acknowledged as `upTo` (damage in the newest
   * segment, which a read back does not tell from a frame being written): replaying it would leave
   * acknowledged batches out. `lastSeq` is the highest sequence number of the frames read.
   */
  static checkReadBack(log: WalContents, upTo: number, lastSeq: number): void {
    if (lastSeq >= upTo) return;
    const { segment, offset } = log.end ?? { segment: "(none)", offset: 0 };
    throw new CorruptWalError(
      segment,
      offset,
      `the log ends at sequence number ${lastSeq}, before the acknowledged ${upTo}`,
    );
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
      await fsys.unlink(this.sealed[0]!.path).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== "ENOENT") throw err; // gone already: released
      });
      this.sealed.shift();
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
      await this.fh.close().catch(() => {});
    }
  }

  /**
   * Runs `op` when no flush or other file operation is running: writes, roll-overs and syncs never
   * interleave on the file handle. Frames queued meanwhile are flushed right after.
   */
  private async exclusive(op: () => Promise<void>): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw new WalFailedError(this.failure);
    let recoverable: Error | undefined;
    const run = op().catch((err: unknown) => {
      if (err instanceof Recoverable) recoverable = err.error;
      else this.fail(err, []);
    });
    this.flushing = run.finally(() => {
      this.flushing = this.queue.length > 0 ? this.flushLoop() : undefined;
    });
    await run;
    if (this.failure) throw new WalFailedError(this.failure);
    if (recoverable) throw recoverable;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        await this.writeGroup(group).then(
          () => {
            for (const p of group) {
              this.ackedSeq = Math.max(this.ackedSeq, p.lastSeq);
              p.resolve();
            }
          },
          (err: unknown) => {
            if (err instanceof Recoverable) this.refuse(err.error, group);
            else this.fail(err, group);
          },
        );
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async writeGroup(group: Pending[]): Promise<void> {
    if (this.active.bytes >= this.opts.segmentBytes) await this.rollOver();
    const start = this.active.bytes;
    let at = start;
    try {
      for (let i = 0; i < group.length; i += IOV_MAX) {
        at = await writeAll(
          this.fh,
          group.slice(i, i + IOV_MAX).map((p) => p.frame),
          at,
        );
      }
    } catch (err) {
      await this.cutBack(start, err);
    }
    this.active.bytes = at;
    this.active.lastSeq = group.reduce((max, p) => Math.max(max, p.lastSeq), this.active.lastSeq);
    this.stats.frames += group.length;
    if (this.opts.durability === "sync") await this.datasync();
    else this.dirty = true;
  }

  /**
   * After a failed write: the segment is cut back to its last whole frame and that cut is synced, so
   * nothing of the failed group can turn up mid-log later. Throws `Recoverable` when that worked; when
   * it did not, the file's state is unknown and the error goes out as it is (sticky).
   */
  private async cutBack(goodEnd: number, cause: unknown): Promise<never> {
    try {
      await this.fh.truncate(goodEnd);
      await this.fh.datasync();
    } catch (err) {
      throw err instanceof Error
        ? new Error(`${errorText(cause)}; truncating back failed`, { cause: err })
        : err;
    }
    throw new Recoverable(cause instanceof Error ? cause : new Error(String(cause)));
  }

  private refuse(err: Error, group: Pending[]): void {
    this.blockedBy = err;
    for (const p of [...group, ...this.queue.splice(0)]) p.reject(err);
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
    let next: { segment: Segment; fh: FsFile };
    try {
      next = await createSegment(this.opts.dir, this.active.no + 1);
    } catch (err) {
      throw new Recoverable(err instanceof Error ? err : new Error(String(err))); // the active segment is whole
    }
    await this.fh.close().catch(() => {}); // synced above: nothing is left to lose with the handle
    this.sealed.push(this.active);
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

/**
 * A new segment: header written and synced, name made durable before any frame in it is acknowledged.
 * When a step fails, the file is removed again (a header-only or empty newest segment is harmless at
 * replay, but it would hold the name the retried roll-over needs).
 */
async function createSegment(dir: string, no: number): Promise<{ segment: Segment; fh: FsFile }> {
  const path = join(dir, segmentName(no));
  const fh = await fsys.open(path, "wx");
  try {
    const header = encodeSegmentHeader(no);
    await writeFully(fh, header, 0);
    await fh.datasync();
    await fsyncDir(dir);
    return { segment: { no, path, bytes: header.length, lastSeq: 0 }, fh };
  } catch (err) {
    await fh.close().catch(() => {});
    await fsys.unlink(path).catch(() => {});
    throw err;
  }
}

/** Writes the frames at `position`, going on after short writes; returns the end offset. */
async function writeAll(fh: FsFile, bufs: Uint8Array[], position: number): Promise<number> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const written = await fh.writev(bufs, position);
  if (written < total) await writeFully(fh, Buffer.concat(bufs).subarray(written), position + written);
  return position + total;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
