/**
 * Reads the WAL back at open. Every frame of every segment is checksummed. A bad frame with nothing
 * valid after it, in the newest segment, is a torn tail (a crash mid-append): it is cut off, since
 * nothing in it was acknowledged. A bad frame anywhere else is corruption: ERR_CORRUPT_WAL.
 */
import { basename } from "node:path";
import { fsyncDir } from "../src/base/durable-fs.js";
import { CorruptWalError } from "../src/base/errors.js";
import { fsys } from "../src/base/fs.js";
import { decodeSegmentHeader, readFrame, SEGMENT_HEADER_BYTES, validFrameAfter } from "./frame.js";
import { listSegments, type SegmentFile } from "./segments.js";

export interface WalContents {
  /** Segments that were read, oldest first (the torn tail already cut off). */
  segments: SegmentFile[];
  /** Payloads in log order. */
  frames: Buffer[];
  /** Where each of `frames` starts (segment file name, byte offset), for errors. */
  positions: { segment: string; offset: number }[];
  /** The highest segment number seen (0 when the WAL is empty). */
  lastSegmentNo: number;
  /** Bytes cut off a torn tail (0 when the log ended cleanly). */
  tornBytes: number;
  /** Where the valid log ends: the last segment read and the offset after its last whole frame. */
  end: { segment: string; offset: number } | undefined;
}

export interface ReadWalOptions {
  /**
   * True (the default) at open: a torn tail is cut off and a short newest segment removed. False while
   * a writer appends (the write path's recovery, WalWriter.readAcknowledged): nothing is changed, the
   * newest segment's tail may be a frame being written (the read stops at its first bad frame, even
   * with whole frames after it: a read racing a write may see a later page before an earlier one; the
   * caller checks that what it needs was read, WalWriter.readAcknowledged), and a segment deleted
   * since the listing was released by a checkpoint (everything in it is durably applied) and is skipped.
   */
  repair?: boolean;
}

export async function readWal(dir: string, opts: ReadWalOptions = {}): Promise<WalContents> {
  const repair = opts.repair ?? true;
  const files = await listSegments(dir);
  const out: WalContents = {
    segments: [],
    frames: [],
    positions: [],
    lastSegmentNo: 0,
    tornBytes: 0,
    end: undefined,
  };
  for (let s = 0; s < files.length; s++) {
    const file = files[s]!;
    const isLast = s === files.length - 1;
    out.lastSegmentNo = file.no;
    const buf = await readSegment(file.path, repair);
    if (buf === undefined) continue;
    if (decodeSegmentHeader(buf) !== file.no) {
      // A crash between creating the newest segment and syncing its header leaves it short: nothing in
      // it was acknowledged. Anywhere else a bad header is damage.
      if (isLast && buf.length <= SEGMENT_HEADER_BYTES) {
        if (repair) {
          await fsys.unlink(file.path);
          await fsyncDir(dir); // before a newer segment exists, or this one would look mid-log after a crash
        }
        out.tornBytes += buf.length;
        continue;
      }
      throw new CorruptWalError(basename(file.path), 0, "bad segment header");
    }
    const end = collectFrames(buf, file, isLast, repair, out);
    out.end = { segment: basename(file.path), offset: end };
    if (end < buf.length) {
      if (repair) await cutTail(file.path, end);
      out.tornBytes += buf.length - end;
    }
    out.segments.push(file);
  }
  return out;
}

/** A segment's bytes; `undefined` when, read without repair, it was released since it was listed. */
async function readSegment(path: string, repair: boolean): Promise<Buffer | undefined> {
  try {
    return await fsys.readFile(path);
  } catch (err) {
    if (!repair && (err as { code?: unknown }).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Appends the segment's frames to `frames`; returns where the valid log ends. */
function collectFrames(
  buf: Buffer,
  file: SegmentFile,
  isLast: boolean,
  repair: boolean,
  out: WalContents,
): number {
  let at = SEGMENT_HEADER_BYTES;
  while (at < buf.length) {
    const frame = readFrame(buf, at);
    if (frame.ok) {
      out.frames.push(frame.payload);
      out.positions.push({ segment: basename(file.path), offset: at });
      at = frame.next;
      continue;
    }
    if (!isLast || (repair && validFrameAfter(buf, at))) {
      throw new CorruptWalError(basename(file.path), at, frame.reason);
    }
    return at;
  }
  return at;
}

/** The cut must be durable before a newer segment exists, or after a crash this one would be mid-log. */
async function cutTail(path: string, end: number): Promise<void> {
  const fh = await fsys.open(path, "r+");
  try {
    await fh.truncate(end);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface SegmentReport {
  file: string;
  no: number | undefined;
  bytes: number;
  /** Valid frames, in order, with where each starts. */
  frames: { offset: number; payload: Buffer }[];
  /** The first bad frame (or header), if any; `tornTail` when nothing valid follows it in the newest segment. */
  bad?: { offset: number; reason: string; tornTail: boolean };
}

/**
 * Reads every segment without changing anything (verify, dump): each frame checksummed, the first bad
 * one of a segment reported, and whether it is a torn tail (harmless) or corruption.
 */
export async function inspectWal(dir: string): Promise<SegmentReport[]> {
  const files = await listSegments(dir);
  const out: SegmentReport[] = [];
  for (let s = 0; s < files.length; s++) {
    const file = files[s]!;
    const isLast = s === files.length - 1;
    const buf = await fsys.readFile(file.path);
    const report: SegmentReport = { file: basename(file.path), no: file.no, bytes: buf.length, frames: [] };
    out.push(report);
    if (decodeSegmentHeader(buf) !== file.no) {
      report.bad = {
        offset: 0,
        reason: "bad segment header",
        tornTail: isLast && buf.length <= SEGMENT_HEADER_BYTES,
      };
      continue;
    }
    for (let at = SEGMENT_HEADER_BYTES; at < buf.length; ) {
      const frame = readFrame(buf, at);
      if (!frame.ok) {
        report.bad = { offset: at, reason: frame.reason, tornTail: isLast && !validFrameAfter(buf, at) };
        break;
      }
      report.frames.push({ offset: at, payload: frame.payload });
      at = frame.next;
    }
  }
  return out;
}
