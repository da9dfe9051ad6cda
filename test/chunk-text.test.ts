import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assemble, chunkText, TextCache, textBytes } from "../src/bodies/chunk-text.js";
import { tempStore } from "./support/fixtures.js";

/** `text`'s UTF-8 bytes cut at `cuts` (any byte offsets, inside characters too), each piece as a chunk. */
function pieces(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, "utf8");
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const end of [...at, bytes.length]) {
    if (end > start) out.push(bytes.subarray(start, end));
    start = end;
  }
  return out;
}

// Characters of 1 to 4 UTF-8 bytes, so that cuts land inside every kind of sequence.
const mixed = fc.string({
  unit: fc.constantFrom("a", "z", " ", "{", "é", "ß", "€", "中", "😀", "𝄞"),
  maxLength: 400,
});

describe("chunk texts", () => {
  it("a body assembled from its chunks' texts equals the body decoded at once, wherever the cuts fall", () => {
    fc.assert(
      fc.property(mixed, fc.array(fc.nat(), { maxLength: 40 }), (text, cuts) => {
        const parts = pieces(text, cuts).map((p) => chunkText(p));
        expect(assemble(parts)).toBe(text);
      }),
    );
  });

  it("a chunk of ASCII is its whole text, with nothing carried to its neighbours", () => {
    const t = chunkText(Buffer.from('{"role":"user"}'));
    expect(t).toMatchObject({ text: '{"role":"user"}', within: false, bytes: 15 });
    expect(t.head.length + t.tail.length).toBe(0);
  });

  it("a chunk cut inside a character keeps only its whole characters as text", () => {
    const bytes = Buffer.from("a€b", "utf8"); // € is e2 82 ac
    const left = chunkText(bytes.subarray(0, 2));
    const right = chunkText(bytes.subarray(2));
    expect(left.text).toBe("a");
    expect(right.text).toBe("b");
    expect(assemble([left, right])).toBe("a€b");
  });

  it("a chunk that lies wholly inside one character is carried whole to the next", () => {
    const bytes = Buffer.from("x😀y", "utf8"); // 😀 is f0 9f 98 80
    const parts = [bytes.subarray(0, 2), bytes.subarray(2, 3), bytes.subarray(3)].map((p) => chunkText(p));
    expect(parts[1]!.within).toBe(true);
    expect(assemble(parts)).toBe("x😀y");
  });
});

describe("chunk text memory", () => {
  it("keeps the bytes of a split character in a buffer of their own, not a view of a shared one", () => {
    const t = chunkText(Buffer.from("€€€", "utf8").subarray(1, 8)); // starts and ends inside a €
    expect(t.head.length).toBeGreaterThan(0);
    expect(t.tail.length).toBeGreaterThan(0);
    expect(t.head.buffer.byteLength).toBe(t.head.length);
    expect(t.tail.buffer.byteLength).toBe(t.tail.length);
  });

  it("charges every entry a fixed overhead besides its text, so tiny chunks cannot pass the bound in number", () => {
    expect(textBytes(chunkText(Buffer.from("x".repeat(64))))).toBeGreaterThanOrEqual(64 + 160);
  });
});

describe("text cache", () => {
  const text = (s: string) => chunkText(Buffer.from(s, "utf8"));

  it("holds no more than its byte bound, dropping the least recently used first", () => {
    const bound = 2 * textBytes(text("aaaa"));
    const cache = new TextCache(bound);
    cache.set("a", text("aaaa"));
    cache.set("b", text("bbbb"));
    cache.get("a");
    cache.set("c", text("cccc"));
    expect(cache.size).toBeLessThanOrEqual(bound);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")?.text).toBe("aaaa");
    expect(cache.get("c")?.text).toBe("cccc");
  });

  it("stays within its bound whatever is put in it", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(20), mixed), { maxLength: 60 }), fc.nat(800), (puts, bound) => {
        const cache = new TextCache(bound);
        for (const [k, s] of puts) {
          cache.set(String(k), text(s));
          expect(cache.size).toBeLessThanOrEqual(bound);
        }
      }),
    );
  });

  it("counts a text of two-byte characters at two bytes a character", () => {
    const overhead = textBytes(text(""));
    expect(textBytes(text("abc")) - overhead).toBe(3);
    expect(textBytes(text("中中")) - overhead).toBe(4);
  });

  it("gives back the room of a chunk it forgets", () => {
    const cache = new TextCache(100);
    cache.set("a", text("aaaa"));
    cache.delete("a");
    expect(cache.size).toBe(0);
    expect(cache.get("a")).toBeUndefined();
  });
});

/** A body of many chunks: distinct words, some of them multi-byte, so cuts fall inside characters. */
function body(tag: string, n = 6000): string {
  return Array.from({ length: n }, (_, i) => `${tag}-wörd${(i * 7919) % 5003}€ `).join("");
}

describe("reads through the text cache", () => {
  const rec = (turnId: string, spanId: string, ts: number, b: string) =>
    ({ kind: "span-open", name: "llm", extensionId: "ext", turnId, spanId, timestamp: ts, body: b }) as const;

  it("a turn read with the cache returns the same bodies as one read without it", async () => {
    const records = [
      rec("t", "s1", 1, body("a")),
      rec("t", "s2", 2, `${body("a")}and one more message`),
      rec("t", "s3", 3, body("b", 50)),
    ];
    const cached = await tempStore();
    await cached.store.insertRecords(records);
    const uncached = await tempStore({ chunkCacheBytes: 0 });
    await uncached.store.insertRecords(records);
    const first = await cached.store.getTurn("t");
    const again = await cached.store.getTurn("t"); // every chunk from the cache now
    const none = await uncached.store.getTurn("t");
    expect(first.map((r) => r.body)).toEqual(records.map((r) => r.body));
    expect(again.map((r) => r.body)).toEqual(records.map((r) => r.body));
    expect(none.map((r) => r.body)).toEqual(records.map((r) => r.body));
  });

  it("an evicted body reads as evicted even when its chunks' texts are cached", async () => {
    const { store } = await tempStore();
    await store.insertRecords([rec("old", "s1", 1_000, body("old"))]);
    expect((await store.getTurn("old"))[0]!.body).toBe(body("old")); // its chunks are cached now
    await store.prune({ maxBodyAgeMs: 10_000 }, { now: 30_000 });
    const [r] = await store.getTurn("old");
    expect(r!.bodyEvicted).toBe(true);
    expect(r!.body).toBeUndefined();
  });
});
