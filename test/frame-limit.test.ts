/**
 * The WAL's frame limit (wal/frame.ts) and the write path's grouping of concurrent calls: a group is
 * bounded in bytes, so a call is refused with ERR_BATCH_TOO_LARGE only when it is over the limit by
 * itself, and then alone. The limit is lowered here so that a few kilobytes stand for a gigabyte.
 */

import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { setFramePayloadLimit } from "../wal/frame.js";
import { log, span, tempStore } from "./support/fixtures.js";

const LIMIT = 64 * 1024;

/** Incompressible enough: deflate keeps about three quarters of random base64. */
function noise(chars: number): string {
  return randomBytes(Math.ceil((chars * 3) / 4))
    .toString("base64")
    .slice(0, chars);
}

function small(n: number): TraceRecord[] {
  return [
    log(`small ${n}`, 1_000 + n, { turnId: "t" }),
    span({ spanId: `s${n}`, timestamp: 2_000 + n, body: `b${n}` }),
  ];
}

function outcome(p: Promise<unknown>): Promise<{ ok: boolean; code?: unknown }> {
  return p.then(
    () => ({ ok: true }),
    (err: { code?: unknown }) => ({ ok: false, code: err.code }),
  );
}

async function names(store: TraceStore): Promise<string[]> {
  return (await store.query({}))
    .map((r) => (r.kind === "log" ? r.msg : r.kind === "span-open" ? r.spanId : ""))
    .sort();
}

/** Four concurrent calls, the third carrying `odd`: only that call fails (frame too large), the rest are stored. */
async function onlyThirdRefused(store: TraceStore, odd: TraceRecord[]): Promise<void> {
  const results = await Promise.all([
    outcome(store.insertRecords(small(1))),
    outcome(store.insertRecords(small(2))),
    outcome(store.insertRecords(odd)),
    outcome(store.insertRecords(small(4))),
  ]);
  expect(results).toEqual([
    { ok: true },
    { ok: true },
    { ok: false, code: "ERR_BATCH_TOO_LARGE" },
    { ok: true },
  ]);
  expect(await names(store)).toEqual(["s1", "s2", "s4", "small 1", "small 2", "small 4"]);
}

let restore: () => void;
beforeEach(() => {
  restore = setFramePayloadLimit(LIMIT);
});
afterEach(() => restore());

describe("concurrent calls staged in one group", () => {
  it("an oversized body fails only its own call: its neighbours resolve and are stored, it stores nothing", async () => {
    const { store } = await tempStore();
    const huge = span({ spanId: "huge", timestamp: 5_000, body: noise(3 * LIMIT) });
    await onlyThirdRefused(store, [...small(3), huge]);
    expect((await store.stats()).bodies).toBe(3);
    await store.close();
  });

  it("a call whose records alone are over the limit fails alone, and its records are not stored", async () => {
    const { store } = await tempStore();
    const wide = log("wide", 5_000, { attributes: { blob: noise(2 * LIMIT) } });
    await onlyThirdRefused(store, [wide]);
    expect((await store.stats()).hotRecords).toBe(6);
    await store.close();
  });

  it("two calls that each fit in a frame but together do not both succeed", async () => {
    const { store, dir } = await tempStore();
    // each body is stored as about 0.6 of the limit: together they are over it
    const a = span({ spanId: "a", timestamp: 5_000, body: noise(Math.floor(0.8 * LIMIT)) });
    const b = span({ spanId: "b", timestamp: 5_001, body: noise(Math.floor(0.8 * LIMIT)) });
    // the first call is staged at once; the next two queue behind it and would share a group
    const results = await Promise.all([
      outcome(store.insertRecords(small(1))),
      outcome(store.insertRecords([a])),
      outcome(store.insertRecords([b])),
    ]);
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    await store.close();
    const again = await openStore({ dir });
    const bodies = (await again.query({ kind: "span-open" })).map((r) => [
      r.kind === "span-open" && r.spanId,
      r.body,
    ]);
    expect(bodies).toEqual([
      ["s1", "b1"],
      ["a", a.body],
      ["b", b.body],
    ]);
    await again.close();
  });
});
