/**
 * Pruning hot records by age: every entry of a pruned record goes (record, time, id and conversation
 * entries) and nothing of a kept one, whatever the record holds; the fields the deletes need are read
 * from the stored value without decoding it (tiers/hot/value-scan.ts), exactly as a decode reads them.
 */
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encode } from "../src/base/msgpack.js";
import { stableId, type TraceRecord } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import type { HotTier } from "../tiers/hot/tier.js";
import { indexFields } from "../tiers/hot/value-scan.js";
import { decodeRecordValue, encodeRecordValue, recordValue } from "../tiers/hot/values.js";
import { log, tempStore } from "./support/fixtures.js";

/** Counts of the hot tier's record keyspaces (r, t, i, c) in a closed store. */
async function recordEntries(dir: string): Promise<Record<string, number>> {
  const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
  });
  const counts: Record<string, number> = { r: 0, t: 0, i: 0, c: 0 };
  try {
    for await (const key of db.keys()) {
      const p = String.fromCharCode(key[0]!);
      if (p in counts) counts[p]!++;
    }
  } finally {
    await db.close();
  }
  return counts;
}

const record = fc.record(
  {
    kind: fc.constant("log" as const),
    level: fc.constantFrom("info", "warn"),
    msg: fc.string(),
    timestamp: fc.integer({ min: -1e12, max: 4e12 }),
    extensionId: fc.string({ minLength: 1 }),
    conversationId: fc.string({ unit: "grapheme", maxLength: 300 }),
    turnId: fc.string(),
    attributes: fc.dictionary(fc.string(), fc.jsonValue()),
  },
  { requiredKeys: ["kind", "level", "msg", "timestamp", "extensionId"] },
);

/** The record with its keys in a shuffled order (the value keeps the caller's key order). */
const shuffled = fc
  .tuple(record, fc.func(fc.integer()))
  .map(([r, rank]) =>
    Object.fromEntries(Object.entries(r).sort(([a], [b]) => rank(a) - rank(b))),
  ) as fc.Arbitrary<Omit<TraceRecord, "body">>;

describe("reading a hot value's index fields without a decode", () => {
  it("gives the id and conversation id a full decode gives, whatever the record holds and its key order", () => {
    fc.assert(
      fc.property(
        shuffled,
        fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 })),
        fc.nat(),
        (r, hash, seq) => {
          const value = Buffer.from(
            encodeRecordValue({ id: stableId(r as TraceRecord), seq, record: r, bodyHash: hash }),
          );
          const decoded = decodeRecordValue(value);
          const fields = indexFields(value);
          expect(fields?.id).toBe(decoded.id);
          expect(fields?.conversation?.toString("utf8")).toBe(decoded.record.conversationId);
        },
      ),
    );
  });

  it("answers undefined, never a wrong field, for a value cut short or with bytes after it", () => {
    const value = Buffer.from(
      recordValue("0123456789abcdef", 7, encode({ conversationId: "conv", attributes: { a: [1, 2] } }), null),
    );
    expect(indexFields(value)).toEqual({ id: "0123456789abcdef", conversation: Buffer.from("conv") });
    for (let n = 0; n < value.length; n++) expect(indexFields(value.subarray(0, n))).toBeUndefined();
    expect(indexFields(Buffer.concat([value, Buffer.of(0xc0)]))).toBeUndefined();
  });

  it("answers undefined for a conversation id that is not a string, which the caller then decodes", () => {
    const value = Buffer.from(recordValue("0123456789abcdef", 7, encode({ conversationId: 42 }), null));
    expect(indexFields(value)).toBeUndefined();
  });
});

describe("pruning hot records by age", () => {
  it("leaves no record, time, id or conversation entry of a pruned record, and every entry of a kept one", async () => {
    const { store, dir } = await tempStore();
    const recs = Array.from({ length: 12_000 }, (_, i) =>
      log(
        `m${i}`,
        1_000 + i,
        i % 3 === 0 ? { turnId: `t${i % 50}` } : { conversationId: `c${i % 7}`, turnId: `t${i % 50}` },
      ),
    );
    await store.insertRecords(recs);
    const result = await store.prune({ maxAgeMs: 0 }, { now: 1_000 + 11_000 });
    expect(result.recordsDeleted).toBe(11_000);
    expect((await store.query({ bodies: false })).map((r) => r.id)).toEqual(recs.slice(11_000).map(stableId));
    await store.close();
    const kept = recs.slice(11_000);
    const withConversation = kept.filter((r) => r.conversationId !== undefined).length;
    expect(await recordEntries(dir)).toEqual({ r: 1000, t: 1000, i: 1000, c: withConversation });
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("stores a pruned record again when it is inserted again", async () => {
    const { store } = await tempStore();
    const old = log("old", 1_000, { conversationId: "conv", body: "old body ".repeat(400) });
    await store.insertRecords([old, log("new", 9_000, { conversationId: "conv" })]);
    await store.prune({ maxAgeMs: 0 }, { now: 5_000 });
    expect(await store.insertRecords([old])).toEqual({ inserted: 1, duplicates: 0 });
    expect((await store.getTurn(old.turnId!)).map((r) => r.timestamp)).toEqual([1_000, 9_000]);
    expect(await store.getBody(stableId(old))).toBe(old.body);
  });

  it("deletes the conversation entry of a record whose conversation id spans many bytes of UTF-8", async () => {
    const { store, dir } = await tempStore();
    const conv = "会話-😀-".repeat(40);
    await store.insertRecords([
      log("old", 1_000, { conversationId: conv }),
      log("new", 9_000, { conversationId: conv }),
    ]);
    await store.prune({ maxAgeMs: 0 }, { now: 5_000 });
    expect((await store.query({ conversationId: conv, bodies: false })).map((r) => r.timestamp)).toEqual([
      9_000,
    ]);
    await store.close();
    expect(await recordEntries(dir)).toEqual({ r: 1, t: 1, i: 1, c: 1 });
  });

  it("deletes no body while a failed write has left records that refer to it, and finishes at the next prune", async () => {
    const { store } = await tempStore();
    const old = Array.from({ length: 6_000 }, (_, i) =>
      log(`old${i}`, 1_000 + i, { body: `body ${i % 3000}` }),
    );
    const fresh = [log("new", 90_000, { body: "body 1" })];
    await store.insertRecords([...old, ...fresh]);
    const hot = (store as unknown as { hot: HotTier }).hot;
    const write = hot.write.bind(hot);
    let recordWrites = 0;
    hot.write = async (ops, sync) => {
      const deletesRecords = ops.some((o) => o.type === "del" && o.key[0] === 0x72);
      if (deletesRecords && ++recordWrites === 2)
        throw new Error("injected: the second batch of deletes fails");
      return write(ops, sync);
    };
    await expect(store.prune({ maxAgeMs: 0 }, { now: 50_000 })).rejects.toThrow();
    const left = await store.query({ to: 50_000, bodies: true });
    expect(left.length).toBeGreaterThan(0); // the first batch went, the rest stayed
    expect(left.length).toBeLessThan(old.length);
    for (const r of left) expect(r.body).toBe(`body ${(r.timestamp - 1_000) % 3000}`);
    hot.write = write;
    const result = await store.prune({ maxAgeMs: 0 }, { now: 50_000 });
    expect(result.recordsDeleted).toBe(left.length);
    expect((await store.query({ bodies: true })).map((r) => r.body)).toEqual(["body 1"]);
    expect((await store.stats()).bodies).toBe(1);
  });
});
