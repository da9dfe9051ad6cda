/**
 * Bloom filters: how the cold tier answers "may this file hold turn T / record X" without opening it.
 * A filter never says no for a key it was built with; a yes is confirmed against the file's rows, so a
 * false positive costs a read, never a wrong answer.
 *
 * Encoded (base64 in the manifest and in Parquet footer metadata, docs/format.md):
 *   u8 version = 1 | u8 hashes (k) | u32 LE bits (m) | ceil(m / 8) bytes of bits
 * Positions come from a key's 64-bit hash by enhanced double hashing (below): a record id is already a
 * 64-bit hash (the stable id, FNV-1a 64 of the record's canonical JSON) and is used as it is; other
 * keys are hashed with SHA-256.
 */
import { hash } from "node:crypto";

export const FILTER_VERSION = 1;
/** Bits per key: turn filters are asked for every file on every cold getTurn, so they err less. */
export const TURN_BITS_PER_KEY = 20;
export const ID_BITS_PER_KEY = 12;
const HEADER = 6;
const MIN_BITS = 512;

export class BloomFilter {
  private readonly bits: Uint8Array;
  private readonly m: number;
  private readonly k: number;

  private constructor(bits: Uint8Array, m: number, k: number) {
    this.bits = bits;
    this.m = m;
    this.k = k;
  }

  /**
   * A filter over `keys`, `bitsPerKey` bits each, and MIN_BITS at least: a file of few turns would
   * otherwise get a filter so small that its false positives stray far above the rate of its bits a key.
   */
  static build(keys: Iterable<KeyHash>, count: number, bitsPerKey: number): BloomFilter {
    const m = Math.max(MIN_BITS, Math.ceil(count * bitsPerKey));
    const k = Math.max(1, Math.min(30, Math.round(bitsPerKey * Math.LN2)));
    const f = new BloomFilter(new Uint8Array(Math.ceil(m / 8)), m, k);
    for (const key of keys) f.add(key);
    return f;
  }

  /** Decodes an encoded filter; `undefined` for anything that is not one (the caller names the file). */
  static decode(base64: string): BloomFilter | undefined {
    const buf = Buffer.from(base64, "base64");
    if (buf.length < HEADER || buf[0] !== FILTER_VERSION) return undefined;
    const k = buf[1]!;
    const m = buf.readUInt32LE(2);
    if (k < 1 || k > 30 || m < 64 || buf.length !== HEADER + Math.ceil(m / 8)) return undefined;
    return new BloomFilter(new Uint8Array(buf.subarray(HEADER)), m, k);
  }

  encode(): string {
    const buf = Buffer.allocUnsafe(HEADER + this.bits.length);
    buf[0] = FILTER_VERSION;
    buf[1] = this.k;
    buf.writeUInt32LE(this.m, 2);
    buf.set(this.bits, HEADER);
    return buf.toString("base64");
  }

  /** Memory the filter holds. */
  get bytes(): number {
    return this.bits.length;
  }

  mayHave(key: KeyHash): boolean {
    for (let i = 0, at = key.h1 % this.m, step = key.h2 % this.m; i < this.k; i++) {
      if ((this.bits[at >>> 3]! & (1 << (at & 7))) === 0) return false;
      at = (at + step) % this.m;
      step = (step + i + 1) % this.m;
    }
    return true;
  }

  /**
   * Enhanced double hashing (Kirsch and Mitzenmacher; Dillinger and Manolios): the step grows by i at
   * each position. Plain double hashing (a fixed step) repeats positions when the step shares a factor
   * with m, which small filters (a file's few turns) hit often: measured 0.6% false positives at 16 bits
   * a key for 15 keys, against 0.05% in theory.
   */
  private add(key: KeyHash): void {
    for (let i = 0, at = key.h1 % this.m, step = key.h2 % this.m; i < this.k; i++) {
      this.bits[at >>> 3]! |= 1 << (at & 7);
      at = (at + step) % this.m;
      step = (step + i + 1) % this.m;
    }
  }
}

/** A key's two 32-bit hashes; h2 is odd so that the k positions differ whatever m is. */
export interface KeyHash {
  h1: number;
  h2: number;
}

/** A record id (16 hex digits: the stable id's 8 bytes, a hash already). */
export function idHash(id: string): KeyHash {
  return {
    h1: Number.parseInt(id.slice(0, 8), 16) >>> 0,
    h2: (Number.parseInt(id.slice(8, 16), 16) | 1) >>> 0,
  };
}

/** Any other key (a turn id), by SHA-256: turn ids are chosen by clients, so they are hashed whole. */
export function textHash(text: string): KeyHash {
  const d = hash("sha256", text, "buffer");
  return { h1: d.readUInt32LE(0), h2: (d.readUInt32LE(4) | 1) >>> 0 };
}
