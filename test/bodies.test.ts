import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createChunker, DEFAULT_CHUNKING } from "../src/bodies/chunker.js";
import { CODEC_DEFLATE, CODEC_RAW, encodeStored, inflateStored } from "../src/bodies/codec.js";
import { decodeManifest, encodeChunked, encodeInline } from "../src/bodies/manifest.js";
import { sha256 } from "../src/bodies/store.js";
import { decodeBatch, encodeBatch } from "../src/write/batch.js";
import { encodeRecordValue } from "../tiers/hot/values.js";

const small = { inlineMax: 64, minSize: 64, avgSize: 256, maxSize: 1024 };

describe("content-defined chunker", () => {
  it("cuts every input into chunks that cover it exactly, within the size bounds", () => {
    const chunker = createChunker(small);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20_000 }), (data) => {
        const cuts = chunker.cut(data);
        let start = 0;
        cuts.forEach((end, i) => {
          expect(end).toBeGreaterThan(start);
          expect(end - start).toBeLessThanOrEqual(small.maxSize);
          if (i < cuts.length - 1) expect(end - start).toBeGreaterThanOrEqual(small.minSize);
          start = end;
        });
        expect(start).toBe(data.length);
      }),
    );
  });

  it("keeps the chunks of a shared prefix when data is appended", () => {
    const chunker = createChunker(DEFAULT_CHUNKING);
    const base = Buffer.from(Array.from({ length: 6000 }, (_, i) => `word${(i * 7919) % 1000} `).join(""));
    const longer = Buffer.concat([base, Buffer.from(" and a few new messages at the end")]);
    const a = chunker.cut(base);
    const b = chunker.cut(longer);
    expect(a.length).toBeGreaterThan(3);
    expect(b.slice(0, a.length - 1)).toEqual(a.slice(0, -1)); // all but the last chunk are shared
  });

  it("averages near its target size on text", () => {
    const chunker = createChunker(DEFAULT_CHUNKING);
    const text = Buffer.from(
      Array.from({ length: 200_000 }, (_, i) => `w${(i * 2654435761) % 5003} `).join(""),
    );
    const avg = text.length / chunker.cut(text).length;
    expect(avg).toBeGreaterThan(DEFAULT_CHUNKING.avgSize / 2);
    expect(avg).toBeLessThan(DEFAULT_CHUNKING.avgSize * 2);
  });
});

describe("stored codec", () => {
  it("round-trips any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (data) => {
        expect([...inflateStored(encodeStored(data))]).toEqual([...data]);
      }),
    );
  });

  it("compresses what deflate shrinks and stores the rest raw", () => {
    expect(encodeStored(Buffer.alloc(4000, 97))[0]).toBe(CODEC_DEFLATE);
    expect(encodeStored(Buffer.alloc(100, 97))[0]).toBe(CODEC_RAW); // 1 KiB and under: never compressed
    expect(encodeStored(sha256(Buffer.from("x")).subarray(0, 32))[0]).toBe(CODEC_RAW);
  });

  it("refuses an unknown codec byte with ERR_CORRUPT_STORE", () => {
    expect(() => inflateStored(Buffer.from([9, 1, 2]))).toThrow(
      expect.objectContaining({ code: "ERR_CORRUPT_STORE" }),
    );
  });
});

describe("body manifest", () => {
  it("round-trips inline and chunked layouts", () => {
    const inline = decodeManifest(encodeInline(3, Buffer.from([0, 1, 2, 3])));
    expect(inline).toMatchObject({ layout: "inline", originalBytes: 3 });
    const hashes = [sha256(Buffer.from("a")), sha256(Buffer.from("b"))];
    const chunked = decodeManifest(encodeChunked(1234, hashes));
    expect(chunked.layout === "chunked" && chunked.chunks.map((h) => h.toString("hex"))).toEqual(
      hashes.map((h) => h.toString("hex")),
    );
  });

  it("refuses an unknown version", () => {
    const m = encodeInline(1, Buffer.from([0, 65]));
    m[0] = 7;
    expect(() => decodeManifest(m)).toThrow(expect.objectContaining({ code: "ERR_CORRUPT_STORE" }));
  });
});

describe("batch payload", () => {
  it("decodes to what was encoded", () => {
    const record = {
      id: "00000000000000ff",
      seq: 7,
      record: { kind: "log", level: "info", msg: "m", timestamp: 1, extensionId: "e" } as never,
      bodyHash: sha256(Buffer.from("b")),
    };
    const batch = {
      firstSeq: 7,
      lastSeq: 7,
      records: [{ record, value: encodeRecordValue(record) }],
      bodies: {
        bodies: [
          {
            hash: sha256(Buffer.from("b")),
            manifest: encodeInline(1, Buffer.from([0, 98])),
            originalBytes: 1,
          },
        ],
        chunks: [],
      },
    };
    const back = decodeBatch(encodeBatch(batch));
    expect(back.firstSeq).toBe(7);
    expect(back.records[0]!.record).toEqual({ ...record, bodyHash: new Uint8Array(record.bodyHash) });
    expect(back.bodies.bodies[0]!.originalBytes).toBe(1);
  });
});

describe("body store staging", () => {
  it("leaves nothing pending when a lookup fails, so the body is staged again in full", async () => {
    const { BodyStore } = await import("../src/bodies/store.js");
    let calls = 0;
    const flaky = {
      async getMany(keys: Uint8Array[]) {
        calls++;
        if (calls === 2) throw new Error("disk error during the chunk lookup");
        return keys.map(() => undefined);
      },
      async *entries() {}, // no dictionaries
    };
    const store = await BodyStore.open(flaky as never, DEFAULT_CHUNKING, 0);
    const utf8 = Buffer.from("a body long enough to be chunked ".repeat(500));
    const input = { hash: sha256(utf8), utf8 };
    await expect(store.stage([input])).rejects.toThrow("disk error");
    const again = await store.stage([input]);
    expect(again.bodies).toHaveLength(1);
    expect(again.chunks.length).toBeGreaterThan(0);
  });
});
