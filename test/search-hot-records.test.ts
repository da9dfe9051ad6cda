/**
 * The hot records' in-memory search index (src/search/hot-records.ts): built by one pass at the first
 * search, then kept by the hot tier's write watcher; it only proposes candidates, so what matters is
 * that it never misses a hot record and drops what leaves the hot tier.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HotRecordIndex } from "../src/search/hot-records.js";
import { termOf } from "../src/search/text.js";
import type { TraceRecord } from "../src/types.js";
import { HotTier } from "../tiers/hot/tier.js";
import { encodeRecord, type HotRecord, recordDeletes, recordPuts, recordValue } from "../tiers/hot/values.js";
import { tempDir } from "./support/fixtures.js";

const T0 = Date.UTC(2026, 9, 1);

async function tier(): Promise<HotTier> {
  const dir = tempDir();
  return HotTier.open(join(dir, "hot"), dir);
}

function hotRecord(
  seq: number,
  msg: string,
  bodyHash: Uint8Array | null = null,
): { r: HotRecord; value: Uint8Array } {
  const record = { kind: "log", level: "info", msg, timestamp: T0 + seq, extensionId: "x" } as TraceRecord;
  const r: HotRecord = { id: seq.toString(16).padStart(16, "0"), seq, record, bodyHash };
  return { r, value: recordValue(r.id, seq, encodeRecord(record), bodyHash) };
}

async function put(hot: HotTier, ...records: { r: HotRecord; value: Uint8Array }[]): Promise<void> {
  await hot.write(records.flatMap(({ r, value }) => recordPuts(r, value)));
}

const seqs = (keys: { seq: number }[]) => keys.map((k) => k.seq).sort((a, b) => a - b);

describe("the hot records' search index", () => {
  it("holds the records written before its first use and those written after", async () => {
    const hot = await tier();
    await put(hot, hotRecord(1, "alpha beta"), hotRecord(2, "beta"));
    const index = new HotRecordIndex(hot);
    expect(index.lookup(termOf("beta"))).toEqual([]); // nothing before it is asked for
    await index.ready();
    await put(hot, hotRecord(3, "beta gamma"));
    expect(seqs(index.lookup(termOf("beta")))).toEqual([1, 2, 3]);
    expect(seqs(index.lookup(termOf("alpha")))).toEqual([1]);
    expect(index.lookup(termOf("beta"), T0 + 2, T0 + 3)).toEqual([{ ts: T0 + 2, seq: 2 }]);
    index.close();
    await hot.close();
  });

  it("finds a record by its body's hash prefix, and forgets deleted records", async () => {
    const hot = await tier();
    const hash = Buffer.alloc(32, 7);
    const a = hotRecord(1, "one", hash);
    const b = hotRecord(2, "two", hash);
    await put(hot, a, b);
    const index = new HotRecordIndex(hot);
    await index.ready();
    expect(seqs(index.recordsOfBodies([hash.subarray(0, 8)]))).toEqual([1, 2]);
    await hot.write(recordDeletes(a.r));
    expect(seqs(index.recordsOfBodies([hash.subarray(0, 8)]))).toEqual([2]);
    expect(index.lookup(termOf("one"))).toEqual([]);
    index.close();
    await hot.close();
  });

  it("keeps finding the live records after most of them were deleted and the postings compacted", async () => {
    const hot = await tier();
    const index = new HotRecordIndex(hot);
    await index.ready();
    const all = Array.from({ length: 10_000 }, (_, i) => hotRecord(i + 1, i % 2 ? "odd word" : "even word"));
    for (let i = 0; i < all.length; i += 1000) await put(hot, ...all.slice(i, i + 1000));
    // deleting 9,000 of them passes the compaction threshold (half the slots, at least 4,096)
    await hot.write(all.slice(0, 9000).flatMap(({ r }) => recordDeletes(r)));
    const live = all.slice(9000).map(({ r }) => r.seq);
    expect(seqs(index.lookup(termOf("word")))).toEqual(live);
    expect(seqs(index.lookup(termOf("odd")))).toEqual(live.filter((s) => (s - 1) % 2 === 1));
    await put(hot, hotRecord(20_000, "odd again"));
    expect(seqs(index.lookup(termOf("again")))).toEqual([20_000]);
    index.close();
    await hot.close();
  });

  it("does not add back a record deleted while its first pass runs", async () => {
    const hot = await tier();
    const records = Array.from({ length: 3000 }, (_, i) => hotRecord(i + 1, "delta"));
    for (let i = 0; i < records.length; i += 500) await put(hot, ...records.slice(i, i + 500));
    const index = new HotRecordIndex(hot);
    const pass = index.ready();
    await hot.write(records.slice(0, 2500).flatMap(({ r }) => recordDeletes(r)));
    await pass;
    expect(seqs(index.lookup(termOf("delta")))).toEqual(records.slice(2500).map(({ r }) => r.seq));
    index.close();
    await hot.close();
  });

  it("reads the hot tier again after a reopen of its database", async () => {
    const hot = await tier();
    await put(hot, hotRecord(1, "epsilon"));
    const index = new HotRecordIndex(hot);
    await index.ready();
    await hot.reopen();
    await put(hot, hotRecord(2, "epsilon"));
    await index.ready();
    expect(seqs(index.lookup(termOf("epsilon")))).toEqual([1, 2]);
    index.close();
    await hot.close();
  });
});

describe("the hot records' search index at close", () => {
  it("fails a first pass that a close interrupts with ERR_CLOSED, without starting another", async () => {
    const hot = await tier();
    const records = Array.from({ length: 5000 }, (_, i) => hotRecord(i + 1, "zeta"));
    for (let i = 0; i < records.length; i += 1000) await put(hot, ...records.slice(i, i + 1000));
    const index = new HotRecordIndex(hot);
    const pass = index.ready();
    index.close();
    await expect(pass).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(index.lookup(termOf("zeta")).length).toBeLessThan(records.length);
    await hot.close();
  });
});
