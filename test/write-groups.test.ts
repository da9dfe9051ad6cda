/** Group staging: concurrent callers share WAL frames and fsyncs, and keep their own results and errors. */
import { describe, expect, it, vi } from "vitest";
import { TracetierError } from "../src/index.js";
import type { TraceRecord } from "../src/types.js";
import { WalWriter } from "../wal/writer.js";
import { log, tempStore } from "./support/fixtures.js";

const CALLERS = 32;
const ROUNDS = 8;

/** `CALLERS` callers, each inserting its own records one at a time, `ROUNDS` each. */
function oneRecordCallers(): TraceRecord[][] {
  return Array.from({ length: CALLERS }, (_, c) =>
    Array.from({ length: ROUNDS }, (_, r) =>
      log(`caller ${c} record ${r}`, 1_000 * c + r, { turnId: `t${c}` }),
    ),
  );
}

describe("group staging", () => {
  it("stages concurrent one-record callers in groups: a WAL frame and fsync per group, not per call", async () => {
    const { store } = await tempStore();
    const before = (await store.stats()).walSyncs;
    const appends = vi.spyOn(WalWriter.prototype, "append");
    const callers = oneRecordCallers();
    const results = await Promise.all(
      callers.map(async (records) => {
        const counts = [];
        for (const r of records) counts.push(await store.insertRecords([r]));
        return counts;
      }),
    );
    const syncs = (await store.stats()).walSyncs - before;
    const frames = appends.mock.calls.length;
    appends.mockRestore();
    expect(results.flat()).toEqual(Array(CALLERS * ROUNDS).fill({ inserted: 1, duplicates: 0 }));
    // 256 records: a frame per call would be 256. The callers of a round are woken together by the
    // apply of their group and come back as one group: a frame each round (staging whoever had arrived
    // when the first came back gave 27-29 frames here, about 10 records each).
    expect(frames).toBeLessThanOrEqual(ROUNDS + 2);
    expect(syncs).toBeLessThanOrEqual(frames);
    const turns = await Promise.all(callers.map((_, c) => store.getTurn(`t${c}`, { bodies: false })));
    expect(turns.map((t) => t.length)).toEqual(Array(CALLERS).fill(ROUNDS));
  });

  it("fails only the caller whose record is invalid, naming its index and field; the others are stored", async () => {
    const { store } = await tempStore();
    const callers = oneRecordCallers().map((records) => records[0]!);
    const bad = { ...callers[7]!, timestamp: "yesterday" } as unknown as TraceRecord;
    const results = await Promise.allSettled(
      callers.map((r, i) => store.insertRecords(i === 7 ? [r, bad] : [r])),
    );
    const failed = results[7]!;
    expect(failed.status).toBe("rejected");
    const err = (failed as PromiseRejectedResult).reason as TracetierError;
    expect(err).toBeInstanceOf(TracetierError);
    expect(err).toMatchObject({ code: "ERR_INVALID_RECORD", index: 1, field: "timestamp" });
    for (const [i, r] of results.entries()) {
      if (i !== 7) expect(r).toEqual({ status: "fulfilled", value: { inserted: 1, duplicates: 0 } });
    }
    expect((await store.stats()).hotRecords).toBe(CALLERS - 1);
    expect(await store.getTurn("t7")).toEqual([]); // nothing of the bad call, not even its good record
  });

  it("gives each caller its own counts when concurrent callers send the same record", async () => {
    const { store } = await tempStore();
    const r = log("same", 5);
    const results = await Promise.all(Array.from({ length: CALLERS }, () => store.insertRecords([r])));
    expect(results.filter((x) => x.inserted === 1)).toHaveLength(1);
    expect(results.filter((x) => x.duplicates === 1)).toHaveLength(CALLERS - 1);
    expect((await store.stats()).hotRecords).toBe(1);
  });
});
