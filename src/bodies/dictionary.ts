/**
 * Preset dictionaries for chunk compression, a keyspace of the hot tier (`d | u32 id`, layout 3):
 *
 *   +---------+------------------------------+
 *   | version | dictionary bytes (≤ 32 KiB)  |
 *   |  u8 = 1 |                              |
 *   +---------+------------------------------+
 *
 * Why: a chunk deflated alone starts from an empty window and spends its first kilobytes learning the
 * words and JSON structure every chunk of the store shares. A dictionary learned from the store's own
 * first chunks gives every later chunk that context (figures in docs/decisions.md).
 *
 * How: the heads of the first new chunks are sampled (copies, so no body buffer stays pinned); once
 * TRAIN_BYTES of new chunks have been seen, a slice of every sample is concatenated into one
 * dictionary. A store learns one dictionary and keeps it; ids leave room for retraining later.
 *
 * Crash safety: a dictionary is written, synced, before any chunk that names it is compressed, so no
 * WAL frame or LevelDB batch can hold a chunk whose dictionary is not durable. Dictionaries are never
 * deleted (8 KiB each): GC cannot drop one that a live chunk names.
 */
import { dictKey, P_DICT, prefixEnd } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { CorruptStoreError } from "../base/errors.js";
import type { Dictionary, DictionarySource } from "./codec.js";

export const DICTIONARY_VERSION = 1;
/** Deflate's window: a preset dictionary longer than this is only its last 32 KiB. */
export const DICTIONARY_MAX_BYTES = 32 * 1024;
/**
 * What a store learns: 8 KiB keeps within 3% of 32 KiB's ratio, and zlib loads the dictionary into
 * its window for every chunk, which made 32 KiB cost 2–3× a plain deflate (docs/decisions.md).
 */
export const DICTIONARY_BYTES = 8 * 1024;
const SAMPLE_HEAD_BYTES = 1024;

/** When a store learns its dictionary; tests lower these to train on a few chunks. */
export const dictionaryTraining = {
  /** New chunk bytes to see before training. */
  trainBytes: 2 * 1024 * 1024,
  /** And at least this many chunks, so that the dictionary is not one conversation's. */
  minSamples: 64,
};

export class Dictionaries implements DictionarySource {
  private readonly hot: HotTier;
  private readonly byId = new Map<number, Dictionary>();
  /** The highest id stored, damaged ones included: an id is never written twice. */
  private lastId = 0;
  private samples: Buffer[] = [];
  private seenBytes = 0;
  private training: Promise<void> | undefined;
  /** The dictionary new chunks are compressed with (the newest); undefined until one is learned. */
  active: Dictionary | undefined;

  private constructor(hot: HotTier) {
    this.hot = hot;
  }

  /**
   * The store's dictionaries, read from the hot tier. One that does not decode is left out rather than
   * failing the open: only the chunks that name it fail to read (coded, naming it), and verify reports
   * it. Its id still counts, so a new dictionary never takes it.
   */
  static async load(hot: HotTier): Promise<Dictionaries> {
    const dicts = new Dictionaries(hot);
    const p = Buffer.of(P_DICT);
    for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) })) {
      for (const [key, value] of batch) {
        if (key.length === 5) dicts.lastId = Math.max(dicts.lastId, key.readUInt32BE(1));
        try {
          dicts.add(decodeDictionary(key, value));
        } catch (err) {
          if (!(err instanceof CorruptStoreError)) throw err;
        }
      }
    }
    return dicts;
  }

  dictionary(id: number): Dictionary | undefined {
    return this.byId.get(id);
  }

  /**
   * Offers a staging's new chunks. Once enough are seen, learns the store's dictionary and stores it
   * before returning, so that the caller may compress with `active` at once. Never fails: a
   * dictionary that cannot be written only leaves chunks compressed without one (and is tried again).
   */
  async observe(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.active || chunks.length === 0) return;
    for (const c of chunks) {
      this.seenBytes += c.length;
      if (this.samples.length < 4096) this.samples.push(Buffer.from(c.subarray(0, SAMPLE_HEAD_BYTES)));
    }
    const { trainBytes, minSamples } = dictionaryTraining;
    if (this.seenBytes < trainBytes || this.samples.length < minSamples) return;
    this.training ??= this.train().finally(() => {
      this.training = undefined;
    });
    await this.training;
  }

  private async train(): Promise<void> {
    const bytes = trainDictionary(this.samples);
    const id = this.lastId + 1;
    try {
      await this.hot.write([{ type: "put", key: dictKey(id), value: encodeDictionary(bytes) }], true);
    } catch {
      return; // tried again at the next staging (a full disk fails that staging's own write anyway)
    }
    this.lastId = id;
    this.add({ id, bytes });
    this.samples = [];
  }

  private add(dict: Dictionary): void {
    this.byId.set(dict.id, dict);
    if (!this.active || dict.id > this.active.id) this.active = dict;
  }
}

/**
 * A dictionary from chunk heads: an equal slice of every sample, in the order seen, the last `bytes`
 * kept. Measured against a dictionary of the most frequent 24-byte shingles, which did no better
 * (docs/decisions.md); deflate finds a match anywhere in its window, so spread beats selection here.
 */
export function trainDictionary(samples: readonly Uint8Array[], bytes = DICTIONARY_BYTES): Buffer {
  const per = Math.ceil(bytes / Math.max(1, samples.length)) + 64;
  const joined = Buffer.concat(samples.map((s) => s.subarray(0, per)));
  return Buffer.from(joined.subarray(Math.max(0, joined.length - bytes)));
}

export function encodeDictionary(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + bytes.length);
  out[0] = DICTIONARY_VERSION;
  out.set(bytes, 1);
  return out;
}

export function decodeDictionary(key: Uint8Array, value: Buffer): Dictionary {
  const k = Buffer.from(key.buffer, key.byteOffset, key.length);
  if (k.length !== 5) throw new CorruptStoreError(`a dictionary key has ${k.length} bytes, not 5`);
  const id = k.readUInt32BE(1);
  if (value.length < 1 || value[0] !== DICTIONARY_VERSION || value.length - 1 > DICTIONARY_MAX_BYTES) {
    throw new CorruptStoreError(`dictionary ${id} has an unknown version or size`);
  }
  return { id, bytes: Buffer.from(value.subarray(1)) };
}
