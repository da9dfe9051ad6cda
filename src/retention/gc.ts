/**
 * Body garbage collection: mark and sweep over the content-addressed body store, at two levels (a
 * body goes when no record refers to it, a chunk when no surviving body lists it). Memory holds one
 * entry per body and per chunk, never one per record.
 *
 * Safe with inserts running (docs/design.md, "Body GC and concurrent inserts"), by a write generation
 * rather than a grace period: the GC knows exactly which batches it may not have seen.
 *   1. At a staging boundary a tracker is installed; every batch staged before it is then applied.
 *      From here each staged batch puts its body and chunk hashes into the tracker.
 *   2. Mark: the newest referencing timestamp of every body, from the hot records and the cold files'
 *      bodyHash column. Every batch is either applied (the mark sees it) or in the tracker.
 *   3. Plan: walk the manifests and chunks: candidates are bodies no record refers to (or that the
 *      eviction rule picks) and chunks no surviving body lists.
 *   4. At a staging boundary: candidates in the tracker are spared (with their chunks), the rest are
 *      "doomed" and their deletions queued in apply order. Stagings from here on treat a doomed hash as
 *      absent and write it again; their batches apply after the deletion.
 *   5. Once the deletions are applied, the doomed sets are cleared at another staging boundary (a
 *      staging that looked a hash up before the deletion landed still sees it doomed).
 */
import type { ColdTier } from "../../tiers/cold/tier.js";
import { hashKey, P_BODY, P_CHUNK, P_EVICTED, prefixEnd } from "../../tiers/hot/keys.js";
import type { BatchOp, Expiry, HotTier, KeyRange } from "../../tiers/hot/tier.js";
import {
  decodeManifest,
  encodeEvicted,
  HASH_BYTES,
  MANIFEST_HEAD,
  manifestLayout,
  manifestOriginalBytes,
} from "../bodies/manifest.js";
import type { BodyStore, RefTracker } from "../bodies/store.js";
import { bodyDocOps } from "../search/chunks/keys.js";
import type { WritePath } from "../write/path.js";

export interface EvictionRule {
  /** Bodies whose newest reference is older than this are evicted. */
  bodyCutoff?: number;
  /** Bodies are evicted, oldest newest-reference first, until the stored bytes are at or under this. */
  maxStoredBytes?: number;
}

/**
 * Hot records that prune deletes by age in the mark's own pass over the hot records: one pass instead
 * of a walk of the time index with a lookup per record, then the mark's. The mark does not count their
 * references; their deletes are queued before any of the sweep's (apply order), so no body goes while a
 * record that refers to it stays, even after a crash (LevelDB's log keeps a prefix of the writes).
 */
export interface HotExpiry extends Expiry {
  /** Called once the mark is over, before the plan: the prune makes its deletes durable. */
  marked(): Promise<void>;
}

export interface SweepResult {
  bodiesDeleted: number;
  bodiesEvicted: number;
  chunksDeleted: number;
}

interface BodyEntry {
  hex: string;
  manifest: Buffer;
  newest: number;
}

interface Plan {
  orphans: BodyEntry[];
  evicted: BodyEntry[];
  /** Chunks no surviving body lists, with their stored sizes. */
  chunks: Map<string, number>;
  /** Eviction markers of bodies no record refers to any more. */
  markers: string[];
}

/** Deletions per LevelDB write. */
const OPS_PER_WRITE = 20_000;

export class BodyCollector {
  private readonly hot: HotTier;
  private readonly cold: ColdTier;
  private readonly bodies: BodyStore;
  private readonly writes: WritePath;
  private readonly quiesceReads: () => Promise<void>;

  constructor(
    hot: HotTier,
    cold: ColdTier,
    bodies: BodyStore,
    writes: WritePath,
    quiesceReads: () => Promise<void>,
  ) {
    this.hot = hot;
    this.cold = cold;
    this.bodies = bodies;
    this.writes = writes;
    this.quiesceReads = quiesceReads;
  }

  async collect(rule: EvictionRule = {}, expire?: HotExpiry): Promise<SweepResult> {
    const tracker: RefTracker = { bodies: new Set(), chunks: new Set() };
    await this.writes.atStagingBoundary(() => this.bodies.trackers.add(tracker));
    try {
      await this.writes.applied();
      const newest = await this.mark(expire);
      await expire?.marked();
      const plan = await this.plan(newest, rule);
      // A read that began before records were deleted (by prune) may still fetch their bodies.
      await this.quiesceReads();
      return await this.sweep(plan, tracker);
    } finally {
      this.bodies.trackers.delete(tracker);
    }
  }

  /** The newest referencing timestamp of every referenced body (hex keys). */
  private async mark(expire?: Expiry): Promise<Map<string, number>> {
    const newest = new Map<string, number>();
    const see = (hex: string, ts: number) => {
      const t = newest.get(hex);
      if (t === undefined || ts > t) newest.set(hex, ts);
    };
    await this.hot.bodyRefs(
      (h, ts) => see(Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString("hex"), ts),
      expire,
    );
    for (const f of this.cold.files) await this.cold.bodyRefs(f.name, see);
    return newest;
  }

  private async plan(newest: Map<string, number>, rule: EvictionRule): Promise<Plan> {
    const capped = rule.maxStoredBytes !== undefined;
    const orphans: BodyEntry[] = [];
    const evicted: BodyEntry[] = [];
    const live: BodyEntry[] = [];
    // Chunk hashes as latin1 strings, straight from the manifests' bytes: a live body lists tens of
    // chunks, and hex (twice the characters, an encoding pass) made this set most of the plan's time.
    const liveChunks = new Set<string>();
    for await (const batch of this.hot.entries(keyspace(P_BODY))) {
      for (const [key, manifest] of batch) {
        const hex = key.toString("hex", 1);
        const ts = newest.get(hex);
        if (ts === undefined) orphans.push({ hex, manifest, newest: Number.NEGATIVE_INFINITY });
        else if (rule.bodyCutoff !== undefined && ts < rule.bodyCutoff)
          evicted.push({ hex, manifest, newest: ts });
        else if (capped)
          live.push({ hex, manifest, newest: ts }); // the cap needs them all
        else addChunkKeys(liveChunks, manifest);
      }
    }
    const sizes = capped ? await this.chunkSizes() : await this.chunkSizes(liveChunks);
    if (capped) {
      evicted.push(...evictToCap(live, sizes, rule.maxStoredBytes!));
      for (const e of live) for (const c of chunksOf(e.manifest)) sizes.delete(c);
    }
    const markers: string[] = [];
    for await (const batch of this.hot.entries(keyspace(P_EVICTED), false)) {
      for (const [key] of batch)
        if (!newest.has(key.toString("hex", 1))) markers.push(key.toString("hex", 1));
    }
    return { orphans, evicted, chunks: sizes, markers };
  }

  /**
   * The stored sizes (by hex hash) of the chunks not in `live` (latin1 hashes), or of every chunk. Chunks
   * are most of the hot tier's bytes and most are live: their keys are scanned alone, and only the dead
   * ones' values are read, for their sizes (in key order, one getMany a fetch).
   */
  private async chunkSizes(live?: ReadonlySet<string>): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for await (const batch of this.hot.entries(keyspace(P_CHUNK), live === undefined)) {
      if (live === undefined) {
        for (const [key, value] of batch) sizes.set(key.toString("hex", 1), value.length);
        continue;
      }
      const dead = batch.map(([key]) => key).filter((key) => !live.has(key.toString("latin1", 1)));
      if (dead.length === 0) continue;
      const values = await this.hot.getMany(dead);
      dead.forEach((key, i) => {
        const v = values[i];
        if (v !== undefined) sizes.set(key.toString("hex", 1), v.length); // gone since the scan: not counted
      });
    }
    return sizes;
  }

  /** Step 4 and 5: spare what stagings since the mark refer to, delete the rest in apply order. */
  private async sweep(plan: Plan, tracker: RefTracker): Promise<SweepResult> {
    let applied: Promise<void> = Promise.resolve();
    const result = await this.writes.atStagingBoundary(() => {
      const spared = [...plan.orphans, ...plan.evicted].filter((e) => tracker.bodies.has(e.hex));
      const keep = new Set(tracker.chunks);
      for (const e of spared) for (const c of chunksOf(e.manifest)) keep.add(c);
      const orphans = plan.orphans.filter((e) => !tracker.bodies.has(e.hex));
      const evicted = plan.evicted.filter((e) => !tracker.bodies.has(e.hex));
      const chunks = [...plan.chunks].filter(([hex]) => !keep.has(hex));
      this.bodies.forgetChunks(chunks.map(([hex]) => hex));
      this.bodies.doomed = {
        bodies: new Set([...orphans, ...evicted].map((e) => e.hex)),
        chunks: new Set(chunks.map(([hex]) => hex)),
      };
      applied = this.queueDeletions(orphans, evicted, chunks, plan.markers);
      return {
        bodiesDeleted: orphans.length + evicted.length,
        bodiesEvicted: evicted.length,
        chunksDeleted: chunks.length,
      };
    });
    try {
      await applied;
    } finally {
      await this.writes.atStagingBoundary(() => {
        this.bodies.doomed = undefined;
      });
    }
    return result;
  }

  /**
   * Bodies first (an evicted body's manifest goes in the same write as its marker is put), chunks
   * after: a crash in between leaves chunks no body lists, which the next GC collects. Each write
   * carries its own counter changes; the last one is synced.
   */
  private queueDeletions(
    orphans: BodyEntry[],
    evicted: BodyEntry[],
    chunks: [string, number][],
    markers: string[],
  ): Promise<void> {
    const units: Deletion[] = [];
    for (const e of orphans) units.push(bodyDeletion(e, false));
    for (const e of evicted) units.push(bodyDeletion(e, true));
    for (const hex of markers) units.push({ ops: [del(P_EVICTED, hex)], bodies: 0, original: 0, stored: 0 });
    for (const [hex, size] of chunks)
      units.push({ ops: [del(P_CHUNK, hex)], bodies: 0, original: 0, stored: size });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < units.length; ) {
      const part: Deletion = { ops: [], bodies: 0, original: 0, stored: 0 };
      for (; i < units.length && part.ops.length < OPS_PER_WRITE; i++) {
        const u = units[i]!;
        part.ops.push(...u.ops);
        part.bodies += u.bodies;
        part.original += u.original;
        part.stored += u.stored;
      }
      const write = this.writes.maintain(
        (c) => ({
          ops: part.ops,
          counters: {
            ...c,
            bodies: c.bodies - part.bodies,
            bodyBytesOriginal: c.bodyBytesOriginal - part.original,
            bodyBytesStored: c.bodyBytesStored - part.stored,
          },
        }),
        i === units.length,
      );
      writes.push(write);
    }
    return settleAll(writes);
  }
}

/**
 * Waits for every write, then fails with the first failure, if any. Not Promise.all: the doomed sets
 * must stay up until no deletion can still land (a staging after an early failure would otherwise find a
 * body that a later write of this sweep then deletes).
 */
async function settleAll(writes: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(writes)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Deletes and the counter changes that go with them. */
interface Deletion {
  ops: BatchOp[];
  bodies: number;
  original: number;
  stored: number;
}

/** A body's manifest goes with its `q` keys (the chunk index's doc → body map), evicted or deleted. */
function bodyDeletion(e: BodyEntry, evict: boolean): Deletion {
  const original = manifestOriginalBytes(e.manifest);
  const ops: BatchOp[] = [del(P_BODY, e.hex), ...bodyDocOps(Buffer.from(e.hex, "hex"), e.manifest, "del")];
  if (evict)
    ops.push({
      type: "put",
      key: hashKey(P_EVICTED, Buffer.from(e.hex, "hex")),
      value: encodeEvicted(original),
    });
  return { ops, bodies: 1, original, stored: e.manifest.length };
}

function del(prefix: typeof P_BODY | typeof P_CHUNK | typeof P_EVICTED, hex: string): BatchOp {
  return { type: "del", key: hashKey(prefix, Buffer.from(hex, "hex")) };
}

function keyspace(prefix: number): KeyRange {
  const p = Buffer.of(prefix);
  return { gte: p, lt: prefixEnd(p) };
}

/** Adds the chunk hashes a manifest lists, as latin1 strings (none for an inline body). */
function addChunkKeys(set: Set<string>, manifest: Buffer): void {
  if (manifestLayout(manifest) !== "chunked") return;
  for (let at = MANIFEST_HEAD; at < manifest.length; at += HASH_BYTES)
    set.add(manifest.toString("latin1", at, at + HASH_BYTES));
}

/** The chunk hashes (hex) a manifest lists; none for an inline body. */
function chunksOf(manifest: Buffer): string[] {
  const m = decodeManifest(manifest);
  return m.layout === "chunked" ? m.chunks.map((h) => h.toString("hex")) : [];
}

/**
 * Moves bodies from `live` to the returned list, oldest newest-reference first, until what `live`
 * stores (manifests, and each chunk they list once) is at or under `cap`. A chunk's bytes count as
 * freed only when the last surviving body that lists it goes.
 */
export function evictToCap(live: BodyEntry[], chunkSizes: Map<string, number>, cap: number): BodyEntry[] {
  const refs = new Map<string, number>();
  let total = 0;
  for (const e of live) {
    total += e.manifest.length;
    for (const c of chunksOf(e.manifest)) {
      const n = refs.get(c) ?? 0;
      if (n === 0) total += chunkSizes.get(c) ?? 0;
      refs.set(c, n + 1);
    }
  }
  live.sort((a, b) => a.newest - b.newest || (a.hex < b.hex ? -1 : 1));
  let n = 0;
  for (; n < live.length && total > cap; n++) {
    const e = live[n]!;
    total -= e.manifest.length;
    for (const c of chunksOf(e.manifest)) {
      const left = refs.get(c)! - 1;
      refs.set(c, left);
      if (left === 0) total -= chunkSizes.get(c) ?? 0;
    }
  }
  return live.splice(0, n);
}
