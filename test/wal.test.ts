import { appendFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore } from "../src/index.js";
import { encodeFrame, encodeSegmentHeader, readFrame, SEGMENT_HEADER_BYTES } from "../wal/frame.js";
import { readWal } from "../wal/reader.js";
import { segmentName } from "../wal/segments.js";
import { WalWriter } from "../wal/writer.js";
import { crashBatch } from "./support/crash-workload.js";
import { installFaultFs } from "./support/fault-fs.js";
import { tempDir } from "./support/fixtures.js";
import { runChild } from "./support/spawn.js";

const payloads = fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 8 });

function writeSegment(dir: string, no: number, frames: Uint8Array[]): string {
  const path = join(dir, segmentName(no));
  writeFileSync(path, Buffer.concat([encodeSegmentHeader(no), ...frames.map(encodeFrame)]));
  return path;
}

const asArrays = (bufs: Buffer[]) => bufs.map((b) => [...b]);

describe("WAL framing", () => {
  it("reads back every frame written, in order", async () => {
    await fc.assert(
      fc.asyncProperty(payloads, async (ps) => {
        const dir = tempDir();
        writeSegment(dir, 1, ps);
        expect(asArrays((await readWal(dir)).frames)).toEqual(ps.map((p) => [...p]));
      }),
      { numRuns: 50 },
    );
  });

  it("cuts a torn tail at any length and keeps the frames before it", async () => {
    await fc.assert(
      fc.asyncProperty(payloads, fc.nat(), async (ps, cutSeed) => {
        const dir = tempDir();
        const path = writeSegment(dir, 1, ps);
        const full = readFileSync(path);
        const lastLen = encodeFrame(ps.at(-1)!).length;
        const cut = full.length - 1 - (cutSeed % lastLen); // somewhere inside the last frame
        writeFileSync(path, full.subarray(0, cut));
        const wal = await readWal(dir);
        expect(asArrays(wal.frames)).toEqual(ps.slice(0, -1).map((p) => [...p]));
        expect(readFileSync(path).length).toBe(full.length - lastLen);
      }),
      { numRuns: 50 },
    );
  });

  it("detects any flipped byte inside a frame that is followed by a valid one", async () => {
    await fc.assert(
      fc.asyncProperty(payloads, fc.nat(), fc.integer({ min: 1, max: 255 }), async (ps, at, mask) => {
        const dir = tempDir();
        const path = writeSegment(dir, 1, [...ps, new Uint8Array([1, 2, 3])]);
        const buf = readFileSync(path);
        const firstLen = encodeFrame(ps[0]!).length;
        const pos = SEGMENT_HEADER_BYTES + (at % firstLen);
        buf[pos]! ^= mask;
        writeFileSync(path, buf);
        await expect(readWal(dir)).rejects.toMatchObject({
          code: "ERR_CORRUPT_WAL",
          segment: segmentName(1),
        });
      }),
      { numRuns: 50 },
    );
  });

  it("treats a bad frame in an older segment as corruption even at its end", async () => {
    const dir = tempDir();
    const old = writeSegment(dir, 1, [new Uint8Array([1]), new Uint8Array([2])]);
    writeSegment(dir, 2, [new Uint8Array([3])]);
    appendFileSync(old, Buffer.from([0xa5, 0x7e, 1, 0xff]));
    await expect(readWal(dir)).rejects.toMatchObject({ code: "ERR_CORRUPT_WAL", offset: expect.any(Number) });
  });

  it("rejects a frame whose checksum does not match", () => {
    const frame = encodeFrame(Buffer.from("hello"));
    frame[frame.length - 1]! ^= 1;
    expect(readFrame(frame, 0)).toMatchObject({ ok: false, reason: "checksum mismatch" });
  });
});

describe("WAL writer", () => {
  it("shares fsyncs between concurrent appends (group commit)", async () => {
    const dir = tempDir();
    const w = await WalWriter.create(
      { dir, durability: "sync", syncIntervalMs: 100, segmentBytes: 1 << 30 },
      1,
    );
    await Promise.all(
      Array.from({ length: 64 }, (_, i) => w.append(encodeFrame(Buffer.from(`f${i}`)), i + 1)),
    );
    expect(w.stats.frames).toBe(64);
    expect(w.stats.syncs).toBeLessThan(64);
    await w.close();
    expect((await readWal(dir)).frames.map(String)).toEqual(Array.from({ length: 64 }, (_, i) => `f${i}`));
  });

  it("rolls over to a new segment past the size limit and keeps the order", async () => {
    const dir = tempDir();
    const w = await WalWriter.create({ dir, durability: "sync", syncIntervalMs: 100, segmentBytes: 100 }, 1);
    for (let i = 0; i < 10; i++) await w.append(encodeFrame(Buffer.alloc(40, i)), i + 1);
    await w.close();
    expect(readdirSync(dir).length).toBeGreaterThan(3);
    expect((await readWal(dir)).frames.map((f) => f[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("deletes only sealed segments whose records are all at or below the released seq", async () => {
    const dir = tempDir();
    const w = await WalWriter.create({ dir, durability: "none", syncIntervalMs: 100, segmentBytes: 60 }, 1);
    for (let i = 1; i <= 4; i++) await w.append(encodeFrame(Buffer.alloc(40)), i);
    const before = readdirSync(dir).length;
    await w.release(2);
    expect(readdirSync(dir).length).toBe(before - 2);
    await w.close();
  });
});

describe("reading the WAL back while the writer appends", () => {
  const seqOf = (payload: Buffer) => payload.readUInt32BE(0);
  function frameOf(seq: number): Buffer {
    const payload = Buffer.alloc(64 + (seq % 50), seq & 0xff);
    payload.writeUInt32BE(seq, 0);
    return encodeFrame(payload);
  }

  it("returns every frame acknowledged before the read, in order, whatever is being written", async () => {
    const dir = tempDir();
    const w = await WalWriter.create({ dir, durability: "none", syncIntervalMs: 100, segmentBytes: 1024 }, 1);
    let seq = 0;
    const appends: Promise<void>[] = [];
    const reads: { seqs: number[]; upTo: number }[] = [];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 5; i++) {
        seq++;
        appends.push(w.append(frameOf(seq), seq));
      }
      const { log, upTo } = await w.readAcknowledged(); // appends are still in flight here
      reads.push({ seqs: log.frames.map(seqOf), upTo });
    }
    await Promise.all(appends);
    await w.close();
    expect(readdirSync(dir).length).toBeGreaterThan(1); // it rolled over meanwhile
    for (const { seqs, upTo } of reads) {
      expect(seqs.slice(0, upTo)).toEqual(Array.from({ length: upTo }, (_, i) => i + 1));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1)); // nothing torn read
    }
    expect(reads.at(-1)!.upTo).toBeGreaterThan(0);
  });
});

describe("WAL writer failures", () => {
  const opts = (dir: string, segmentBytes = 1 << 20) =>
    ({ dir, durability: "sync", syncIntervalMs: 100, segmentBytes }) as const;

  it("cuts a failed write back to the last whole frame, refuses appends until resumed, then appends again", async () => {
    const fs = installFaultFs();
    const dir = tempDir();
    const w = await WalWriter.create(opts(dir), 1);
    await w.append(encodeFrame(Buffer.from("one")), 1);
    const size = readFileSync(join(dir, segmentName(1))).length;
    fs.inject({ op: "write", path: /\.wal$/, kind: "short" });
    await expect(w.append(encodeFrame(Buffer.alloc(500, 7)), 2)).rejects.toMatchObject({
      code: "ERR_DISK_FULL",
    });
    expect(readFileSync(join(dir, segmentName(1))).length).toBe(size);
    await expect(w.append(encodeFrame(Buffer.from("refused")), 3)).rejects.toMatchObject({
      code: "ERR_DISK_FULL",
    });
    w.resume();
    await w.append(encodeFrame(Buffer.from("three")), 3);
    await w.close();
    expect((await readWal(dir)).frames.map(String)).toEqual(["one", "three"]);
  });

  it("keeps the active segment when creating the next one fails, and rolls over on a later append", async () => {
    const fs = installFaultFs();
    const dir = tempDir();
    const w = await WalWriter.create(opts(dir, 40), 1);
    await w.append(encodeFrame(Buffer.alloc(40, 1)), 1);
    fs.inject({ op: "datasync", path: new RegExp(`${segmentName(2)}$`), kind: "ENOSPC" });
    await expect(w.append(encodeFrame(Buffer.alloc(40, 2)), 2)).rejects.toMatchObject({
      code: "ERR_DISK_FULL",
    });
    expect(readdirSync(dir)).toEqual([segmentName(1)]);
    w.resume();
    await w.append(encodeFrame(Buffer.alloc(40, 3)), 3);
    await w.close();
    expect((await readWal(dir)).frames.map((f) => f[0])).toEqual([1, 3]);
  });

  it("fails for good after an fsync error, whatever comes later (ERR_WAL_FAILED)", async () => {
    const fs = installFaultFs();
    const w = await WalWriter.create(opts(tempDir()), 1);
    fs.inject({ op: "datasync", path: /\.wal$/, kind: "EIO" });
    await expect(w.append(encodeFrame(Buffer.from("x")), 1)).rejects.toMatchObject({
      code: "ERR_WAL_FAILED",
    });
    fs.clear();
    w.resume();
    await expect(w.append(encodeFrame(Buffer.from("y")), 2)).rejects.toMatchObject({
      code: "ERR_WAL_FAILED",
    });
    await w.close();
  });
});

describe("WAL recovery through the store", () => {
  async function leftBehind(batches: number): Promise<{ dir: string; segment: string }> {
    const dir = tempDir();
    await runChild(["insert-n", dir, String(batches)]);
    const walDir = join(dir, "wal");
    const segs = readdirSync(walDir).filter((n) => n.endsWith(".wal"));
    return { dir, segment: join(walDir, segs.at(-1)!) };
  }

  it("opens after garbage is appended to the newest segment, with every record", async () => {
    const { dir, segment } = await leftBehind(5);
    appendFileSync(segment, Buffer.from("\xa5\x7e\x01garbage that is not a frame", "latin1"));
    const store = await openStore({ dir });
    expect((await store.stats()).hotRecords).toBe(100);
    for (let b = 0; b < 5; b++)
      expect(await store.insertRecords(crashBatch(b))).toEqual({ inserted: 0, duplicates: 20 });
    await store.close();
  });

  it("refuses to open with ERR_CORRUPT_WAL naming segment and offset for a flipped byte mid-log", async () => {
    const { dir, segment } = await leftBehind(6);
    const buf = readFileSync(segment);
    // the second frame's payload: past the header and the first frame
    const first = readFrame(buf, SEGMENT_HEADER_BYTES);
    if (!first.ok) throw new Error("expected a frame");
    buf[first.next + 20]! ^= 0x40;
    writeFileSync(segment, buf);
    const err = await openStore({ dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_CORRUPT_WAL", offset: first.next });
    expect((err as { segment: string }).segment).toBe(segment.split("/").at(-1));
    expect((err as Error).message).toContain(`offset ${first.next}`);
  });

  it("replays a WAL left by a process that never closed", async () => {
    const { dir } = await leftBehind(3);
    const store = await openStore({ dir });
    const all = await store.query({ bodies: true });
    expect(all).toHaveLength(60);
    expect(all.filter((r) => r.body !== undefined)).toHaveLength(45);
    await store.close();
    expect(readdirSync(join(dir, "wal"))).toHaveLength(1); // replayed segments are released after a checkpoint
  });

  it("opens an empty WAL directory and a missing one", async () => {
    const dir = tempDir();
    await mkdir(join(dir, "wal"), { recursive: true });
    const store = await openStore({ dir });
    expect((await store.stats()).hotRecords).toBe(0);
    await store.close();
  });
});
