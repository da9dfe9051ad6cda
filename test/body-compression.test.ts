/**
 * How bodies are cut and compressed: the splitter's cuts after a request's previous version, the
 * dictionary codec, and the dictionary a store learns from its own chunks (kept across reopens).
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createChunker, DEFAULT_CHUNKING } from "../src/bodies/chunker.js";
import { CODEC_DEFLATE_DICT, encodeStored, inflateStored, storedDictionary } from "../src/bodies/codec.js";
import { dictionaryTraining, trainDictionary } from "../src/bodies/dictionary.js";
import { Splitter, sha256, TAIL_BYTES } from "../src/bodies/splitter.js";
import { openStore, stableId } from "../src/index.js";
import { verifyStore } from "../src/maintenance/verify.js";
import { generateRecords } from "../src/workload/generator.js";
import { tempDir } from "./support/fixtures.js";
import { withHot } from "./support/inspect.js";

const small = { inlineMax: 64, minSize: 64, avgSize: 256, maxSize: 1024 };
const request = (messages: string[]) => Buffer.from(JSON.stringify({ model: "m", messages }));
const words = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => `w${((i + seed) * 2654435761) % 5003}`).join(" ");

describe("splitter", () => {
  it("cuts any sequence of bodies into chunks that cover each exactly, all but the last longer than minSize", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 6000 }), { maxLength: 8 }), (bodies) => {
        const splitter = new Splitter(createChunker(small), small);
        for (const body of bodies) {
          // each body also extends the previous one, so remembered successors are tried
          for (const data of [Buffer.from(body), Buffer.concat([Buffer.from(body), Buffer.from(body)])]) {
            const { ends, hashes } = splitter.split(data);
            let start = 0;
            ends.forEach((end, i) => {
              expect(end).toBeGreaterThan(start);
              if (i < ends.length - 1) expect(end - start).toBeGreaterThan(small.minSize);
              expect(hashes[i]).toEqual(sha256(data.subarray(start, end)));
              start = end;
            });
            expect(start).toBe(data.length);
          }
        }
      }),
    );
  });

  it("keeps every chunk but the last longer than its minChunkBytes, which is at most minSize", () => {
    for (const minSize of [8, 63, 64, 200, 2048]) {
      const chunking = { inlineMax: 0, minSize, avgSize: minSize * 2, maxSize: minSize * 8 };
      const splitter = new Splitter(createChunker(chunking), chunking);
      expect(splitter.minChunkBytes).toBeLessThanOrEqual(minSize);
      const data = Buffer.from(words(3000, minSize));
      for (const body of [data, Buffer.concat([data, Buffer.from(words(100, 1))])]) {
        const { ends } = splitter.split(body);
        ends.slice(0, -1).forEach((end, i) => {
          expect(end - (i === 0 ? 0 : ends[i - 1]!)).toBeGreaterThan(splitter.minChunkBytes);
        });
      }
    }
  });

  it("stores only a grown request's new bytes (and its tail) once the previous request is remembered", () => {
    const splitter = new Splitter(createChunker(DEFAULT_CHUNKING), DEFAULT_CHUNKING);
    const history = [words(3000, 1), words(2500, 2)];
    const seen = new Set<string>();
    const stored = (data: Buffer) => {
      const { ends, hashes } = splitter.split(data);
      let fresh = 0;
      ends.forEach((end, i) => {
        const h = hashes[i]!.toString("hex");
        if (!seen.has(h)) fresh += end - (i === 0 ? 0 : ends[i - 1]!);
        seen.add(h);
      });
      return fresh;
    };
    stored(request(history));
    for (let turn = 3; turn < 8; turn++) {
      const added = words(300, turn);
      history.push(added);
      // the new message, its JSON around it and the tail: far less than the chunk of history
      // a content-defined cut alone re-stores
      expect(stored(request(history))).toBeLessThan(added.length + TAIL_BYTES + 64);
    }
  });

  it("forgets nothing it needs to be correct: a fresh splitter cuts the same body into the same bytes", () => {
    const body = request([words(4000, 7)]);
    const a = new Splitter(createChunker(DEFAULT_CHUNKING), DEFAULT_CHUNKING);
    a.split(request([words(3000, 7)]));
    const b = new Splitter(createChunker(DEFAULT_CHUNKING), DEFAULT_CHUNKING);
    const join = (s: Splitter) => {
      const { ends } = s.split(body);
      return Buffer.concat(ends.map((end, i) => body.subarray(i === 0 ? 0 : ends[i - 1], end)));
    };
    expect(join(a)).toEqual(body);
    expect(join(b)).toEqual(body);
  });
});

describe("dictionary codec", () => {
  const dict = { id: 7, bytes: Buffer.from(words(4000, 3)).subarray(0, 32 * 1024) };
  const dicts = { dictionary: (id: number) => (id === dict.id ? dict : undefined) };

  it("round-trips any bytes through a dictionary", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (data) => {
        expect([...inflateStored(encodeStored(data, dict), "chunk", dicts)]).toEqual([...data]);
      }),
    );
  });

  it("names the dictionary in the stored value and compresses text smaller than without it", () => {
    const text = Buffer.from(words(1500, 11));
    const withDict = encodeStored(text, dict);
    expect(withDict[0]).toBe(CODEC_DEFLATE_DICT);
    expect(storedDictionary(withDict)).toBe(7);
    expect(withDict.length).toBeLessThan(encodeStored(text).length);
  });

  it("refuses a value whose dictionary is not stored with ERR_CORRUPT_STORE naming it", () => {
    const stored = encodeStored(Buffer.from(words(1500, 11)), dict);
    expect(() => inflateStored(stored, "chunk ab", { dictionary: () => undefined })).toThrow(
      expect.objectContaining({
        code: "ERR_CORRUPT_STORE",
        message: expect.stringContaining("chunk ab names dictionary 7"),
      }),
    );
    expect(() => inflateStored(stored.subarray(0, 3), "chunk ab", dicts)).toThrow(
      expect.objectContaining({ code: "ERR_CORRUPT_STORE" }),
    );
  });

  it("trains a dictionary of the size asked from samples of every chunk", () => {
    const samples = Array.from({ length: 500 }, (_, i) => Buffer.from(`sample-${i}-${words(200, i)}`));
    const bytes = trainDictionary(samples, 32 * 1024);
    expect(bytes.length).toBe(32 * 1024);
    expect(trainDictionary(samples).length).toBe(8 * 1024);
    expect(bytes.includes("sample-499-")).toBe(true);
    expect(bytes.includes("sample-0-")).toBe(false); // the last 32 KiB are kept
  });
});

describe("a store's dictionary", () => {
  const saved = { ...dictionaryTraining };
  afterEach(() => Object.assign(dictionaryTraining, saved));

  it("is learned from the first chunks, used for later ones, and kept across a reopen", async () => {
    Object.assign(dictionaryTraining, { trainBytes: 64 * 1024, minSamples: 8 });
    const dir = tempDir();
    const records = generateRecords({ conversations: 3, turnsPerConversation: 4, seed: 5 });
    const store = await openStore({ dir });
    for (let i = 0; i < records.length; i += 50) await store.insertRecords(records.slice(i, i + 50));
    await store.close();
    const codecs = await withHot(dir, async (db) => {
      const seen = new Map<number, number>();
      for await (const [key, value] of db.iterator()) {
        if (key[0] === 0x6b) seen.set(value[0]!, (seen.get(value[0]!) ?? 0) + 1);
      }
      expect(await db.get(Buffer.from("6400000001", "hex"))).toBeDefined();
      return seen;
    });
    expect(codecs.get(CODEC_DEFLATE_DICT)).toBeGreaterThan(0);
    const again = await openStore({ dir, chunkCacheBytes: 0 });
    for (const r of (await again.query({})).filter((r) => r.body !== undefined)) {
      expect(r.body).toBe(records.find((x) => x.timestamp === r.timestamp && x.body === r.body)?.body);
    }
    const bodies = records.filter((r) => r.body !== undefined).map((r) => r.body);
    const read = (await again.query({})).filter((r) => r.body !== undefined).map((r) => r.body);
    expect(read.sort()).toEqual(bodies.sort());
    await again.close();
    expect((await verifyStore(dir)).problems).toEqual([]);
  });

  it("is reported by verify as missing when a chunk names one that is not stored", async () => {
    Object.assign(dictionaryTraining, { trainBytes: 64 * 1024, minSamples: 8 });
    const dir = tempDir();
    const store = await openStore({ dir });
    await store.insertRecords(generateRecords({ conversations: 2, turnsPerConversation: 4, seed: 6 }));
    await store.close();
    await withHot(dir, (db) => db.del(Buffer.from("6400000001", "hex")));
    const report = await verifyStore(dir);
    expect(report.problems.length).toBeGreaterThan(0);
    expect(report.problems[0]).toMatchObject({
      what: "is compressed with dictionary 1, which is not stored",
      repairable: false,
    });
  });
  it("leaves a store with a damaged dictionary openable, its chunks failing coded, and never reuses its id", async () => {
    Object.assign(dictionaryTraining, { trainBytes: 64 * 1024, minSamples: 8 });
    const dir = tempDir();
    const first = generateRecords({ conversations: 2, turnsPerConversation: 4, seed: 6 });
    const store = await openStore({ dir });
    await store.insertRecords(first);
    await store.close();
    const damaged = Buffer.of(9, 1, 2, 3); // an unknown version
    await withHot(dir, (db) => db.put(Buffer.from("6400000001", "hex"), damaged));
    const again = await openStore({ dir, chunkCacheBytes: 0 });
    const reads = await Promise.allSettled(
      first.filter((r) => r.body !== undefined).map((r) => again.getBody(stableId(r))),
    );
    const failed = reads.filter((r) => r.status === "rejected");
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed)
      expect((f as PromiseRejectedResult).reason).toMatchObject({
        code: "ERR_CORRUPT_STORE",
        message: expect.stringContaining("names dictionary 1"),
      });
    await again.insertRecords(generateRecords({ conversations: 2, turnsPerConversation: 4, seed: 8 }));
    await again.close();
    await withHot(dir, async (db) => {
      expect(await db.get(Buffer.from("6400000001", "hex"))).toEqual(damaged);
      expect(await db.get(Buffer.from("6400000002", "hex"))).toBeDefined();
    });
  });
});
