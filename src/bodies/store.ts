/**
 * The content-addressed body store, a keyspace of the hot tier's LevelDB.
 *
 * Why LevelDB and not files: a body is written in the same atomic batch as the records that refer to
 * it, so no crash can leave a record pointing at a body that is not there; the keyspace is ordered by
 * hash, reads of a turn's chunks are one getMany, and deletes (retention) give space back through
 * LevelDB compaction. Why chunks: an LLM request repeats the conversation so far, so most of its bytes
 * were stored with the previous request; only the new chunks are compressed and written.
 */
import { hashKey, P_BODY, P_CHUNK, P_EVICTED } from "../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../tiers/hot/tier.js";
import { CorruptStoreError } from "../base/errors.js";
import type { ChunkingOptions } from "../types.js";
import { assemble, type ChunkText, chunkText, TextCache } from "./chunk-text.js";
import { createChunker } from "./chunker.js";
import { encodeStored, inflateStored } from "./codec.js";
import { Dictionaries } from "./dictionary.js";
import {
  decodeEvicted,
  decodeManifest,
  encodeChunked,
  encodeInline,
  type Manifest,
  manifestOriginalBytes,
} from "./manifest.js";
import { Splitter } from "./splitter.js";

export { sha256 } from "./splitter.js";

export interface BodyInput {
  /** SHA-256 of the UTF-8 body. */
  hash: Buffer;
  utf8: Buffer;
}

export interface NewBody {
  hash: Buffer;
  manifest: Buffer;
  originalBytes: number;
}

export interface NewChunk {
  hash: Buffer;
  stored: Buffer;
}

/** What a batch adds to the body store; it travels in the WAL frame and is applied with the records. */
export interface StagedBodies {
  bodies: NewBody[];
  chunks: NewChunk[];
}

/**
 * Hashes (hex) that stagings referred to while a GC was marking. The GC spares them: a record staged
 * after its mark began may refer to a body the mark did not see referenced.
 */
export interface RefTracker {
  bodies: Set<string>;
  chunks: Set<string>;
}

/** What a GC is deleting, until its deletions are applied: stagings treat these as not stored. */
export interface Doomed {
  bodies: ReadonlySet<string>;
  chunks: ReadonlySet<string>;
}

export class BodyStore {
  private readonly hot: HotTier;
  private readonly splitter: Splitter;
  private readonly dicts: Dictionaries;
  private readonly inlineMax: number;
  // Hashes staged into the WAL but not yet applied: a later batch must see them as stored, or two
  // concurrent batches would both write (and count) the same body.
  private readonly pendingBodies = new Set<string>();
  private readonly pendingChunks = new Set<string>();
  readonly trackers = new Set<RefTracker>();
  doomed: Doomed | undefined;

  /** Decoded chunks, for reads (src/bodies/chunk-text.ts). */
  readonly texts: TextCache;

  private constructor(
    hot: HotTier,
    chunking: Readonly<ChunkingOptions>,
    cacheBytes: number,
    dicts: Dictionaries,
  ) {
    this.hot = hot;
    this.splitter = new Splitter(createChunker(chunking), chunking);
    this.dicts = dicts;
    this.inlineMax = chunking.inlineMax;
    this.texts = new TextCache(cacheBytes);
  }

  /** The body store of `hot`, its compression dictionaries loaded. */
  static async open(
    hot: HotTier,
    chunking: Readonly<ChunkingOptions>,
    cacheBytes: number,
  ): Promise<BodyStore> {
    return new BodyStore(hot, chunking, cacheBytes, await Dictionaries.load(hot));
  }

  /** The compression dictionaries chunks may name (the chunk index inflates chunks with them). */
  get dictionaries(): Dictionaries {
    return this.dicts;
  }

  /** Every chunk but a body's last is longer than this (src/bodies/splitter.ts). */
  get minChunkBytes(): number {
    return this.splitter.minChunkBytes;
  }

  /** Forgets the decoded texts of chunks being deleted (hex hashes): the cache follows what is stored. */
  forgetChunks(hexes: Iterable<string>): void {
    for (const hex of hexes) this.texts.delete(Buffer.from(hex, "hex").toString("latin1"));
  }

  /**
   * At most the bytes a body of `utf8Bytes` adds to a WAL frame (src/write/batch.ts), if none of it is
   * stored yet: its stored bytes (at most one codec byte over the original), and per chunk its hash
   * twice (manifest and chunk entry) plus msgpack headers. Every chunk but the last is longer than
   * the splitter's `minChunkBytes` (src/bodies/splitter.ts), which bounds the number of chunks.
   */
  frameBytesBound(utf8Bytes: number): number {
    const chunks = Math.floor(utf8Bytes / this.splitter.minChunkBytes) + 1;
    return utf8Bytes + 64 + 80 * chunks;
  }

  /** Works out which bodies and chunks of `inputs` are new, and prepares their stored forms. */
  async stage(inputs: BodyInput[]): Promise<StagedBodies> {
    const fresh = await this.unknown(inputs, P_BODY, this.pendingBodies, (b) => b.hash);
    const bodies: NewBody[] = [];
    const pieces: { hash: Buffer; data: Buffer }[] = [];
    for (const body of fresh) {
      const n = body.utf8.length;
      if (n <= this.inlineMax) {
        bodies.push({
          hash: body.hash,
          manifest: encodeInline(n, encodeStored(body.utf8)),
          originalBytes: n,
        });
        continue;
      }
      const { ends, hashes } = this.splitter.split(body.utf8);
      let start = 0;
      ends.forEach((end, i) => {
        pieces.push({ hash: hashes[i]!, data: body.utf8.subarray(start, end) });
        start = end;
      });
      bodies.push({ hash: body.hash, manifest: encodeChunked(n, hashes), originalBytes: n });
    }
    const newPieces = await this.unknown(pieces, P_CHUNK, this.pendingChunks, (p) => p.hash);
    await this.dicts.observe(newPieces.map((p) => p.data)); // may learn the dictionary used just below
    const dict = this.dicts.active;
    const chunks = newPieces.map((p) => ({ hash: p.hash, stored: encodeStored(p.data, dict) }));
    // Marked pending only now, with nothing left that can fail: a hash marked by a staging that then
    // failed would stay "stored" forever, and later batches would refer to a body never written.
    for (const b of bodies) this.pendingBodies.add(b.hash.toString("hex"));
    for (const c of chunks) this.pendingChunks.add(c.hash.toString("hex"));
    for (const t of this.trackers) {
      for (const b of inputs) t.bodies.add(b.hash.toString("hex"));
      for (const p of pieces) t.chunks.add(p.hash.toString("hex"));
    }
    return { bodies, chunks };
  }

  /** The puts that store what `stage` prepared. */
  ops(staged: StagedBodies): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const b of staged.bodies) ops.push({ type: "put", key: hashKey(P_BODY, b.hash), value: b.manifest });
    for (const c of staged.chunks) ops.push({ type: "put", key: hashKey(P_CHUNK, c.hash), value: c.stored });
    return ops;
  }

  /** Called once the staged bodies are applied to the hot tier: they are now found by lookups. */
  settle(staged: StagedBodies): void {
    for (const b of staged.bodies) this.pendingBodies.delete(b.hash.toString("hex"));
    for (const c of staged.chunks) this.pendingChunks.delete(c.hash.toString("hex"));
  }

  /**
   * Bodies by hash (hex keys); `null` for a body retention evicted. Chunks shared between the bodies
   * are read and decoded once, and a body is its chunks' texts joined (src/bodies/chunk-text.ts).
   */
  read(hashes: readonly Uint8Array[]): Map<string, string | null> {
    const out = new Map<string, string | null>();
    const manifests = new Map<string, Manifest>();
    for (const [hex, entry] of this.entries(hashes)) {
      if ("marker" in entry) out.set(hex, null);
      else manifests.set(hex, decodeManifest(entry.manifest));
    }
    const chunkKeys = new Map<string, Buffer>();
    for (const m of manifests.values()) {
      if (m.layout === "chunked") for (const h of m.chunks) chunkKeys.set(h.toString("latin1"), h);
    }
    const texts = this.chunkTexts([...chunkKeys.values()]);
    for (const [hex, m] of manifests) {
      if (m.layout === "inline") {
        out.set(hex, Buffer.from(inflateStored(m.stored, `body ${hex}`)).toString("utf8"));
        continue;
      }
      const parts = m.chunks.map((h) => texts.get(h.toString("latin1")));
      if (parts.every((p) => p !== undefined)) {
        // a damaged chunk (a short one) must not read as a body
        const bytes = parts.reduce((n, p) => n + p.bytes, 0);
        if (bytes !== m.originalBytes)
          throw new CorruptStoreError(
            `body ${hex} has ${bytes} bytes in its chunks, its manifest says ${m.originalBytes}`,
          );
        out.set(hex, assemble(parts));
        continue;
      }
      // A chunk went after the manifest was read: an eviction landed in between (it removes the
      // manifest, with its marker, before the chunks). Asking again says which.
      const again = this.entries([Buffer.from(hex, "hex")]).get(hex)!;
      if (!("marker" in again)) {
        throw new CorruptStoreError(`body ${hex} lists a chunk that is not stored`);
      }
      out.set(hex, null);
    }
    return out;
  }

  /** UTF-8 sizes of bodies by hash (hex keys), from their manifests (or eviction markers) only. */
  sizes(hashes: readonly Uint8Array[]): Map<string, { bytes: number; evicted: boolean }> {
    const out = new Map<string, { bytes: number; evicted: boolean }>();
    for (const [hex, entry] of this.entries(hashes)) {
      if ("marker" in entry) out.set(hex, { bytes: decodeEvicted(entry.marker), evicted: true });
      else out.set(hex, { bytes: manifestOriginalBytes(entry.manifest), evicted: false });
    }
    return out;
  }

  /**
   * Manifests by hash (hex keys), or the eviction marker that stands in for an evicted body. A body
   * neither stored nor evicted is a broken store.
   */
  private entries(hashes: readonly Uint8Array[]): Map<string, { manifest: Buffer } | { marker: Buffer }> {
    const distinct = new Map<string, Uint8Array>();
    for (const h of hashes) distinct.set(Buffer.from(h).toString("hex"), h);
    const values = this.hot.getManySync([...distinct.values()].map((h) => hashKey(P_BODY, h)));
    const out = new Map<string, { manifest: Buffer } | { marker: Buffer }>();
    let i = 0;
    for (const [hex, h] of distinct) {
      const manifest = values[i++];
      if (manifest !== undefined) {
        out.set(hex, { manifest });
        continue;
      }
      const marker = this.hot.getManySync([hashKey(P_EVICTED, h)])[0];
      if (marker === undefined) throw new CorruptStoreError(`body ${hex} is referenced but not stored`);
      out.set(hex, { marker });
    }
    return out;
  }

  /** Decoded chunks by hash (latin1 keys), from the cache or read and decoded; one not stored is left out. */
  private chunkTexts(hashes: Buffer[]): Map<string, ChunkText> {
    const out = new Map<string, ChunkText>();
    const missing: Buffer[] = [];
    for (const h of hashes) {
      const key = h.toString("latin1");
      const cached = this.texts.get(key);
      if (cached) out.set(key, cached);
      else missing.push(h);
    }
    const values = this.hot.getManySync(missing.map((h) => hashKey(P_CHUNK, h)));
    missing.forEach((h, i) => {
      const v = values[i];
      if (v === undefined) return;
      const text = chunkText(inflateStored(v, `chunk ${h.toString("hex")}`, this.dicts));
      out.set(h.toString("latin1"), text);
      this.texts.set(h.toString("latin1"), text);
    });
    return out;
  }

  /** The items whose hash is neither pending nor stored, first occurrence of each hash only. */
  private async unknown<T>(
    items: T[],
    prefix: typeof P_BODY | typeof P_CHUNK,
    pending: Set<string>,
    hashOf: (item: T) => Buffer,
  ): Promise<T[]> {
    const seen = new Set<string>();
    const candidates: T[] = [];
    for (const item of items) {
      const hex = hashOf(item).toString("hex");
      if (seen.has(hex) || pending.has(hex)) continue;
      seen.add(hex);
      candidates.push(item);
    }
    if (candidates.length === 0) return [];
    const keys = candidates.map((c) => hashKey(prefix, hashOf(c)));
    const found = this.hot.isOpen ? this.hot.getManySync(keys) : await this.hot.getMany(keys);
    // A hash a GC is deleting is written again by this batch, which is applied after the deletion.
    const doomed = prefix === P_BODY ? this.doomed?.bodies : this.doomed?.chunks;
    return candidates.filter(
      (c, i) => found[i] === undefined || doomed?.has(hashOf(c).toString("hex")) === true,
    );
  }
}
