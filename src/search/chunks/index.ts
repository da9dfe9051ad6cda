/**
 * The hot tier's body index (search contract §3; docs/format.md "Chunk index"; docs/decisions.md):
 * term → docs (each unique stored chunk once, each inline body once, named by 8 bytes of its SHA-256),
 * doc → bodies (`q` keys). Bodies lead to hot records through the in-memory HotRecordIndex
 * (src/search/hot-records.ts).
 *
 * Pipeline. Each applied batch (WritePath.apply, WAL replay at open and in recovery included) is fed
 * here: its `q` keys go into the batch's own LevelDB write (`ops`), and its new chunks and inline bodies,
 * plus the cuts between neighbouring chunks of its new bodies, become an extraction job (extract.ts)
 * run by the index thread (runner.ts, core.ts) in feed order into its in-memory tail, which answers
 * searches (a lookup message, answered after every job before it) until a flush seals it into an
 * encoded segment and writes it (the thread also decodes, merges and encodes merged segments) (at FLUSH_BYTES of text, on a timer,
 * when a sealed WAL segment waits only on the index, and at close). Segments are merged in tiers of
 * FANOUT, dropping docs no `q` key names any more.
 *
 * Crash safety: the WAL is the durable queue. A flush writes the segment with `m·index`.indexedSeq (the
 * last batch whose postings it holds) in one LevelDB write, in apply order (WritePath.maintain), not
 * synced: the store's checkpoint, a later synced write, releases WAL segments only up to
 * min(appliedSeq, indexedSeq) (src/store.ts), so a batch leaves the WAL only once its postings are
 * durable. At open, replay feeds every batch above indexedSeq again, and the store flushes (synced)
 * before it deletes the replayed segments.
 *
 * Flushes and merges run one at a time (`chain`). Readers take segment blocks with synchronous reads,
 * and a merge deletes the segments it replaced only after it has swapped the list, in a second write:
 * a lookup never meets a listed segment whose blocks are gone.
 */
import { hashKey, P_BODY, P_CHUNK, P_DOC_BODY, P_SEGMENT, prefixEnd } from "../../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../../tiers/hot/tier.js";
import { CorruptStoreError } from "../../base/errors.js";
import type { Dictionary } from "../../bodies/codec.js";
import { storedDictionary } from "../../bodies/codec.js";
import type { Dictionaries } from "../../bodies/dictionary.js";
import { decodeManifest } from "../../bodies/manifest.js";
import type { Batch } from "../../write/batch.js";
import type { Counters } from "../../write/counters.js";
import type { ExtractJob } from "./extract.js";
import { JUNCTION_BYTES } from "./extract.js";
import {
  bodyDocOps,
  decodeIndexState,
  docPrefix,
  INDEX_KEY,
  type IndexState,
  indexStateOp,
  STAGE_COMPLETE,
  STAGE_MAPS,
  STAGE_POSTINGS,
  segmentBlockKey,
  segmentHeaderKey,
  segmentIdOf,
  segmentPrefix,
} from "./keys.js";

export { STAGE_COMPLETE, STAGE_MAPS, STAGE_POSTINGS };

import { Runner } from "./runner.js";
import {
  blockOf,
  DOC_BYTES,
  decodeBlock,
  decodeHeader,
  docAt,
  docCount,
  type EncodedSegment,
  type SegmentHeader,
} from "./segment.js";

/** Where indexing runs; `off` (benchmarks only: ingest without the index) leaves the index incomplete. */
export type ChunkIndexMode = "worker" | "inline" | "off";

/**
 * How stores opened from now on index (`TRACETIER_CHUNK_INDEX=worker|inline|off` sets the default).
 * `off` is for measuring ingest without the index: a store written so has an incomplete index
 * (`tracetier reindex` builds it).
 */
export const chunkIndexSettings: { mode: ChunkIndexMode; flushBytes: number; flushIntervalMs: number } = {
  mode: modeFromEnv(),
  /** Text bytes in the tail that start a flush. */
  flushBytes: 4 * 1024 * 1024,
  flushIntervalMs: 30_000,
};

function modeFromEnv(): ChunkIndexMode {
  const v = process.env.TRACETIER_CHUNK_INDEX;
  return v === "inline" || v === "off" ? v : "worker";
}

/** Segments of one size class merged at once. */
const FANOUT = 8;
/** Cuts remembered as indexed (a cut seen again needs no junction); cleared when full. */
const CUTS_MAX = 1 << 17;
/** Decoded blocks kept for lookups. */
const BLOCK_CACHE = 256;
/** Doc or body ranges scanned at once. */
const SCAN_PARALLEL = 32;
/** Keys per write when the maps are built or dropped. */
const OPS_PER_WRITE = 20_000;

/** What the write path asks of the index (src/write/path.ts). */
export interface BatchIndexer {
  /** Ops to write with the batch (its `q` keys). */
  ops(batch: Batch): BatchOp[];
  /** The batch is in the hot tier (or was already, at replay): index it unless it is. */
  feed(batch: Batch): void;
  /** The hot tier was reopened after a failed write: take the index's state from it again. */
  reload(): Promise<void>;
}

/** The write path's maintenance writes, in apply order (WritePath.maintain). */
export type Maintain = (
  build: (c: Counters) => { ops: BatchOp[]; counters: Counters },
  sync?: boolean,
) => Promise<void>;

interface Waiter {
  seq: number;
  resolve: () => void;
}

export type BuildProgress = (phase: "bodies" | "chunks", done: number) => void;

export class ChunkIndex implements BatchIndexer {
  private readonly hot: HotTier;
  private readonly dicts: Dictionaries;
  private readonly span: number;
  private readonly mode: ChunkIndexMode;
  private readonly runner: Runner;
  private maintain: Maintain | undefined;
  private state: IndexState;
  private readonly headers = new Map<number, SegmentHeader>();
  /** Text bytes in the thread's tail (the flush threshold). */
  private tailBytes = 0;
  /** The highest sequence number whose postings were sealed out of the tail. */
  private sealedSeq: number;
  /** Segments sealed by a flush in progress (or one whose write failed): searched until written. */
  private frozen: { segment: EncodedSegment; header: SegmentHeader }[] = [];
  /** The highest sequence number fed, and the highest whose postings are in the tail. */
  private fedSeq: number;
  private tailSeq: number;
  private pipeline: Promise<void> = Promise.resolve();
  private chain: Promise<void> = Promise.resolve();
  private nextJob = 0;
  private readonly sentDicts = new Set<number>();
  private readonly cuts = new Set<string>();
  private waiters: Waiter[] = [];
  private readonly blocks = new Map<string, Map<number, Uint32Array>>();
  /** Docs given new `q` keys while a merge decides which docs are dead. */
  private readonly trackers = new Set<Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private flushPending = false;
  private building: Promise<void> | undefined;
  /** Set to stop a background build at its next step (a close, a drop for a rebuild). */
  private stopBuild = false;
  private closed = false;
  /** Called after each flush (the store checkpoints, which may release WAL segments). */
  onFlushed: () => void = () => {};

  private constructor(hot: HotTier, dicts: Dictionaries, minChunkBytes: number, state: IndexState) {
    this.hot = hot;
    this.dicts = dicts;
    this.span = Math.max(1, Math.ceil(JUNCTION_BYTES / Math.max(1, minChunkBytes)));
    this.mode = chunkIndexSettings.mode;
    this.runner = new Runner(this.mode === "worker");
    this.state = state;
    this.fedSeq = state.indexedSeq;
    this.tailSeq = state.indexedSeq;
    this.sealedSeq = state.indexedSeq;
  }

  /**
   * The index of `hot`: its state and segment headers read, segments no state lists (a merge or flush
   * a crash cut short) deleted. A store without `m·index` is new (nothing applied: complete) or was
   * written by an older layout (its maps and postings are built by the upgrade).
   */
  static async open(
    hot: HotTier,
    dicts: Dictionaries,
    minChunkBytes: number,
    appliedSeq: number,
  ): Promise<ChunkIndex> {
    const raw = await hot.get(INDEX_KEY);
    const state = raw
      ? decodeIndexState(raw)
      : {
          stage: appliedSeq === 0 ? STAGE_COMPLETE : STAGE_MAPS,
          indexedSeq: appliedSeq,
          nextSegment: 1,
          segments: [],
        };
    const index = new ChunkIndex(hot, dicts, minChunkBytes, state);
    if (index.mode === "off" && state.stage !== STAGE_MAPS) {
      // Written without the index from here on: the next open with it rebuilds it whole.
      state.stage = STAGE_MAPS;
      await hot.write([indexStateOp(state)], true);
    }
    await index.loadSegments();
    return index;
  }

  /** Connects the write path's maintenance writes (flushes and merges go in apply order). */
  attach(maintain: Maintain): void {
    this.maintain = maintain;
    if (this.mode !== "off" && chunkIndexSettings.flushIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.tailSeq > this.state.indexedSeq || this.tailBytes > 0) this.requestFlush();
      }, chunkIndexSettings.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** False until an upgraded store's index is built: the coordinator then scans bodies instead. */
  get complete(): boolean {
    return this.state.stage === STAGE_COMPLETE && this.mode !== "off";
  }

  /** Whether this store indexes (not `off`). */
  get enabled(): boolean {
    return this.mode !== "off";
  }

  /** The build stage (`m·index`): STAGE_MAPS, STAGE_POSTINGS or STAGE_COMPLETE. */
  get stage(): number {
    return this.state.stage;
  }

  /** The sequence number up to which postings are written (the checkpoint's bound on WAL release). */
  get indexedSeq(): number {
    return this.mode === "off" ? Number.POSITIVE_INFINITY : this.state.indexedSeq;
  }

  /** Whether the index thread does the work now (false before it is up, inline, or after it failed). */
  get inThread(): boolean {
    return this.runner.threaded;
  }

  /** The listed segments' ids (for verify and tests). */
  get segmentIds(): readonly number[] {
    return this.state.segments;
  }

  // ---- the write path's side ----

  ops(batch: Batch): BatchOp[] {
    if (this.mode === "off") return [];
    const ops: BatchOp[] = [];
    for (const b of batch.bodies.bodies) {
      const puts = bodyDocOps(b.hash, b.manifest, "put");
      if (this.trackers.size > 0)
        for (const p of puts)
          for (const t of this.trackers) t.add(Buffer.from(p.key).toString("latin1", 1, 9));
      ops.push(...puts);
    }
    return ops;
  }

  feed(batch: Batch): void {
    if (this.mode === "off" || batch.lastSeq <= this.fedSeq) return;
    this.fedSeq = batch.lastSeq;
    const seq = batch.lastSeq;
    const job = this.jobOf(batch);
    const indexed = job ? this.runner.job(job).catch(() => 0) : undefined;
    this.pipeline = this.pipeline.then(async () => {
      if (indexed) this.tailBytes += await indexed;
      this.tailSeq = seq;
      this.wake();
      if (this.tailBytes >= chunkIndexSettings.flushBytes) this.requestFlush();
    });
  }

  /**
   * After a failed write the hot tier is reopened, and it may have lost writes that were not synced,
   * flushes included: the state it holds is the index's again, and every batch above its indexedSeq
   * is fed again by the recovery's replay (the WAL still holds them: a checkpoint, which is synced,
   * releases a segment only past a flush it makes durable). Postings fed twice only repeat.
   */
  async reload(): Promise<void> {
    if (this.mode === "off") return;
    const raw = await this.hot.get(INDEX_KEY);
    if (raw === undefined) return; // an older layout's store: its index is being built from the data
    const disk = decodeIndexState(raw);
    const listed = new Set(disk.segments);
    for (const id of this.headers.keys()) if (!listed.has(id)) this.headers.delete(id);
    const missing = disk.segments.filter((id) => !this.headers.has(id));
    const headers = await this.hot.getMany(missing.map(segmentHeaderKey));
    missing.forEach((id, i) => {
      const h = headers[i];
      this.headers.set(id, h ? decodeHeader(h, `chunk index segment ${id}`) : EMPTY_HEADER);
    });
    this.blocks.clear();
    this.state = { ...disk, nextSegment: Math.max(disk.nextSegment, this.state.nextSegment) };
    this.fedSeq = Math.min(this.fedSeq, disk.indexedSeq);
  }

  /** The extraction of a batch: its new chunks and inline bodies whole, and its new bodies' new cuts. */
  private jobOf(batch: Batch): ExtractJob | undefined {
    const items: Uint8Array[] = [];
    const itemOf = new Map<string, number>();
    const whole: number[] = [];
    const wholeDocs: Uint8Array[] = [];
    for (const c of batch.bodies.chunks) {
      itemOf.set(c.hash.toString("latin1"), items.length);
      whole.push(items.length);
      wholeDocs.push(c.hash.subarray(0, DOC_BYTES));
      items.push(c.stored);
    }
    const cutSpecs: { before: Buffer[]; after: Buffer[] }[] = [];
    for (const b of batch.bodies.bodies) {
      const m = decodeManifest(b.manifest);
      if (m.layout === "inline") {
        whole.push(items.length);
        wholeDocs.push(b.hash.subarray(0, DOC_BYTES));
        items.push(m.stored);
        continue;
      }
      this.cutsOf(m.chunks, cutSpecs, (h) => itemOf.has(h.toString("latin1")));
    }
    const missing = new Map<string, Buffer>();
    for (const s of cutSpecs)
      for (const h of [...s.before, ...s.after]) {
        const k = h.toString("latin1");
        if (!itemOf.has(k)) missing.set(k, h);
      }
    if (missing.size > 0) {
      const hashes = [...missing.values()];
      let values: (Buffer | undefined)[] = [];
      try {
        values = this.hot.getManySync(hashes.map((h) => hashKey(P_CHUNK, h)));
      } catch {
        // the tier failed just now (its next write reopens it): only the cuts that need these are lost
      }
      hashes.forEach((h, i) => {
        const v = values[i];
        if (v === undefined) return; // gone (a GC since, at a replay): the cuts that need it are skipped
        itemOf.set(h.toString("latin1"), items.length);
        items.push(v);
      });
    }
    const cuts: number[] = [];
    const cutDocs: Uint8Array[] = [];
    for (const s of cutSpecs) {
      const before = s.before.map((h) => itemOf.get(h.toString("latin1")));
      const after = s.after.map((h) => itemOf.get(h.toString("latin1")));
      if ([...before, ...after].some((i) => i === undefined)) continue;
      cuts.push(before.length, ...(before as number[]), after.length, ...(after as number[]));
      cutDocs.push(s.after[0]!.subarray(0, DOC_BYTES));
    }
    if (whole.length === 0 && cutDocs.length === 0) return undefined;
    return {
      id: this.nextJob++,
      dicts: this.newDicts(items),
      items,
      whole: Uint32Array.from(whole),
      wholeDocs: concat(wholeDocs),
      cuts: Uint32Array.from(cuts),
      cutDocs: concat(cutDocs),
    };
  }

  /** The cuts of a body's chunk list not indexed yet (each with the chunks a junction may read). */
  private cutsOf(
    chunks: readonly Buffer[],
    into: { before: Buffer[]; after: Buffer[] }[],
    isNew: (chunk: Buffer) => boolean,
  ): void {
    for (let i = 0; i + 1 < chunks.length; i++) {
      const key =
        chunks[i]!.toString("latin1", 0, DOC_BYTES) + chunks[i + 1]!.toString("latin1", 0, DOC_BYTES);
      // A cut between chunks shorter than a junction reads further: only a cut of two chunks is
      // remembered. Not when the later chunk is new: it may have been collected (and its doc merged
      // away, junctions included) since the cut was remembered, and be stored again now.
      if (this.span === 1 && !isNew(chunks[i + 1]!)) {
        if (this.cuts.has(key)) continue;
        if (this.cuts.size >= CUTS_MAX) this.cuts.clear();
        this.cuts.add(key);
      }
      into.push({
        before: chunks.slice(Math.max(0, i + 1 - this.span), i + 1),
        after: chunks.slice(i + 1, Math.min(chunks.length, i + 1 + this.span)),
      });
    }
  }

  /** The dictionaries these stored forms name that the runner has not been sent. */
  private newDicts(items: readonly Uint8Array[]): Dictionary[] {
    const out: Dictionary[] = [];
    for (const it of items) {
      const id = storedDictionary(it);
      if (id === undefined || this.sentDicts.has(id)) continue;
      const d = this.dicts.dictionary(id);
      if (d === undefined) continue; // the chunk fails to inflate, and is skipped (verify reports it)
      this.sentDicts.add(id);
      out.push(d);
    }
    return out;
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) (w.seq <= this.tailSeq ? w.resolve : () => still.push(w))();
    this.waiters = still;
  }

  // ---- the contract (search-contract §3) ----

  /** Resolves once every batch applied before the call is searchable (read-your-writes). */
  caughtUp(): Promise<void> {
    const seq = this.fedSeq;
    if (seq <= this.tailSeq) return Promise.resolve();
    this.runner.hurry(); // jobs waiting for the thread's start are run now rather than waited for
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Docs (8-byte Buffers, deduplicated) whose text holds `term` (false candidates allowed, no misses). */
  async docsOf(term: number): Promise<Buffer[]> {
    const out = new Map<string, Buffer>();
    // The tail is in the index thread; it answers after every job fed before this call.
    const tail = Buffer.from(await this.runner.lookup(term));
    for (let i = 0; i < tail.length; i += DOC_BYTES) {
      const name = tail.subarray(i, i + DOC_BYTES);
      out.set(name.toString("latin1"), name);
    }
    // Sealed, not yet written: asked after the tail, so a seal in between is seen here.
    for (const f of this.frozen) {
      const b = blockOf(f.header, term);
      if (b < 0) continue;
      for (const d of decodeBlock(f.segment.blocks[b]!, "a sealed segment").get(term) ?? []) {
        const name = docAt(f.header.docs, d);
        out.set(name.toString("latin1"), name);
      }
    }
    for (;;) {
      const ids = this.state.segments;
      const wanted: { id: number; block: number }[] = [];
      for (const id of ids) {
        const b = blockOf(this.headers.get(id)!, term);
        if (b >= 0) wanted.push({ id, block: b });
      }
      const blocks = this.readBlocks(wanted);
      // A merge swapped the list while a block was being read: ask the new list.
      if (blocks === undefined) {
        await this.chain;
        continue;
      }
      wanted.forEach(({ id }, i) => {
        const docs = this.headers.get(id)!.docs;
        for (const d of blocks[i]!.get(term) ?? []) {
          const name = docAt(docs, d);
          out.set(name.toString("latin1"), name);
        }
      });
      return [...out.values()];
    }
  }

  /** Decoded blocks (cached), or undefined when one of them is gone (its segment was replaced). */
  private readBlocks(wanted: { id: number; block: number }[]): Map<number, Uint32Array>[] | undefined {
    const out: (Map<number, Uint32Array> | undefined)[] = wanted.map(({ id, block }) =>
      this.blocks.get(`${id}:${block}`),
    );
    const need = wanted.filter((_, i) => out[i] === undefined);
    if (need.length > 0) {
      const values = this.hot.getManySync(need.map(({ id, block }) => segmentBlockKey(id, block)));
      let j = 0;
      for (let i = 0; i < wanted.length; i++) {
        if (out[i] !== undefined) continue;
        const v = values[j++];
        if (v === undefined) return undefined;
        const { id, block } = wanted[i]!;
        out[i] = decodeBlock(v, `chunk index segment ${id} block ${block}`);
        if (this.blocks.size >= BLOCK_CACHE) this.blocks.delete(this.blocks.keys().next().value!);
        this.blocks.set(`${id}:${block}`, out[i]!);
      }
    }
    return out as Map<number, Uint32Array>[];
  }

  /** The bodies (8-byte Buffers, deduplicated) holding any of these docs (q keys). */
  async bodiesOf(docs: readonly Buffer[]): Promise<Buffer[]> {
    const out = new Map<string, Buffer>();
    await inParallel(distinct(docs), async (doc) => {
      const p = docPrefix(doc);
      for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false))
        for (const [key] of batch)
          out.set(key.toString("latin1", 1 + DOC_BYTES), key.subarray(1 + DOC_BYTES));
    });
    return [...out.values()];
  }

  // ---- flushes and merges ----

  /** Flushes soon (a threshold, the timer, a WAL segment waiting on the index); one at a time. */
  requestFlush(): void {
    if (this.flushPending || this.closed || this.mode === "off" || !this.maintain) return;
    this.flushPending = true;
    this.flush()
      .catch(() => {}) // a failed write leaves the tails frozen and searched; the next flush retries
      .finally(() => {
        this.flushPending = false;
      });
  }

  /** Writes what is indexed into a segment, with indexedSeq; merges if a tier is full. */
  flush(complete = false): Promise<void> {
    return this.serial(async () => {
      this.runner.hurry(); // a flush does not wait for the thread's start (one at open, say)
      await this.pipeline;
      await this.flushNow(complete);
      await this.mergeFull();
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private async flushNow(complete: boolean): Promise<void> {
    const seq = this.tailSeq;
    if (this.mode === "off" || !this.maintain) return;
    if (this.tailBytes > 0 || seq > this.sealedSeq) {
      // every job fed up to `seq` is in the thread before the seal (requests are answered in order)
      const segment = await this.runner.seal();
      this.tailBytes = 0;
      if (segment) this.frozen.push({ segment, header: decodeHeader(segment.header, "a sealed segment") });
      this.sealedSeq = seq;
    }
    if (this.frozen.length === 0 && seq <= this.state.indexedSeq && !complete) return;
    // Sealed segments wait here until written (a failed write leaves them for the next flush).
    const frozen = this.frozen;
    const ids = frozen.map((_, i) => this.state.nextSegment + i);
    const next = {
      ...this.state,
      stage: complete ? STAGE_COMPLETE : this.state.stage,
      indexedSeq: Math.max(seq, this.state.indexedSeq),
      nextSegment: this.state.nextSegment + ids.length,
      segments: [...this.state.segments, ...ids],
    };
    const ops: BatchOp[] = frozen.flatMap((f, i) => segmentPuts(ids[i]!, f.segment));
    ops.push(indexStateOp(next));
    await this.maintain((c) => ({ ops, counters: c }), false);
    frozen.forEach((f, i) => {
      this.headers.set(ids[i]!, f.header);
    });
    this.state = next;
    this.frozen = this.frozen.filter((f) => !frozen.includes(f));
    this.onFlushed();
  }

  /** Merges while some size class holds FANOUT segments. */
  private async mergeFull(): Promise<void> {
    for (;;) {
      const group = this.fullClass();
      if (!group || this.closed) return;
      await this.merge(group);
    }
  }

  private fullClass(): number[] | undefined {
    const classes = new Map<number, number[]>();
    for (const id of this.state.segments) {
      const c = Math.floor(Math.log(Math.max(1, docCount(this.headers.get(id)!.docs))) / Math.log(FANOUT));
      const l = classes.get(c) ?? [];
      l.push(id);
      if (l.length >= FANOUT) return l;
      classes.set(c, l);
    }
    return undefined;
  }

  /**
   * One segment for `ids`, without the docs no `q` key names. A doc given a `q` key after the scan (a
   * body stored again that lists a chunk whose bodies had all gone) is seen by the tracker; if the merge
   * would have dropped one, it writes nothing and leaves them for the next time.
   */
  private async merge(ids: number[]): Promise<void> {
    const tracker = new Set<string>();
    this.trackers.add(tracker);
    try {
      const parts = await Promise.all(ids.map((id) => this.readSegment(id)));
      const live = await this.liveDocs();
      // the thread decodes, merges and encodes; only the reads and the writes are done here
      const encoded = await this.runner.merge(parts, liveNames(parts, live));
      const id = this.state.nextSegment;
      const gone = new Set(ids);
      const next = {
        ...this.state,
        nextSegment: id + 1,
        segments: [...this.state.segments.filter((s) => !gone.has(s)), ...(encoded ? [id] : [])],
      };
      let wrote = false;
      await this.maintain!((c) => {
        for (const d of tracker) if (!live.has(d)) return { ops: [], counters: c };
        wrote = true;
        const ops = encoded ? segmentPuts(id, encoded) : [];
        ops.push(indexStateOp(next));
        return { ops, counters: c };
      }, false);
      if (!wrote) return;
      if (encoded) this.headers.set(id, decodeHeader(encoded.header, `chunk index segment ${id}`));
      this.state = next;
      for (const s of ids) this.headers.delete(s);
      this.blocks.clear();
      const dels: BatchOp[] = [];
      for (const s of ids) await this.keysOf(s, dels);
      await this.maintain!((c) => ({ ops: dels, counters: c }), false);
    } finally {
      this.trackers.delete(tracker);
    }
  }

  /**
   * Every doc some `q` key names, and every stored chunk (latin1). A chunk without a `q` key is one a
   * GC was deleting when it crashed (bodies go before their chunks): a body stored later may reuse it
   * without indexing it again (it is not new), so its postings must outlive the merge until a GC
   * deletes it.
   */
  private async liveDocs(): Promise<Set<string>> {
    const live = new Set<string>();
    for (const prefix of [P_DOC_BODY, P_CHUNK]) {
      const p = Buffer.of(prefix);
      for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false))
        for (const [key] of batch) live.add(key.toString("latin1", 1, 1 + DOC_BYTES));
    }
    return live;
  }

  private async readSegment(id: number): Promise<EncodedSegment> {
    const h = this.headers.get(id)!;
    const [header, ...blocks] = await this.hot.getMany([
      segmentHeaderKey(id),
      ...[...h.firstTerms].map((_, b) => segmentBlockKey(id, b)),
    ]);
    const what = `chunk index segment ${id}`;
    if (header === undefined) throw new CorruptStoreError(`${what} lacks its header`);
    return {
      header,
      blocks: blocks.map((v, b) => {
        if (v === undefined) throw new CorruptStoreError(`${what} lacks block ${b}`);
        return v;
      }),
    };
  }

  private async keysOf(id: number, into: BatchOp[]): Promise<void> {
    const p = segmentPrefix(id);
    for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false))
      for (const [key] of batch) into.push({ type: "del", key });
  }

  /** Reads the listed segments' headers; deletes the keys of segments not listed (at open only). */
  private async loadSegments(): Promise<void> {
    const listed = new Set(this.state.segments);
    const headers = await this.hot.getMany(this.state.segments.map(segmentHeaderKey));
    this.state.segments.forEach((id, i) => {
      const h = headers[i];
      const what = `chunk index segment ${id}`;
      // A listed segment whose header is missing or does not decode is damage: the store still opens
      // (verify reports it, --repair rebuilds the index), and lookups skip the segment meanwhile.
      let header: SegmentHeader = EMPTY_HEADER;
      try {
        if (h) header = decodeHeader(h, what);
      } catch {}
      this.headers.set(id, header);
    });
    const stray: BatchOp[] = [];
    const p = Buffer.of(P_SEGMENT);
    for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false))
      for (const [key] of batch) if (!listed.has(segmentIdOf(key))) stray.push({ type: "del", key });
    if (stray.length > 0) await this.hot.write(stray);
  }

  // ---- building (upgrade, reindex, repair) ----

  /** The `m·index` op that records the current state (written with the layout by the upgrade). */
  stateOp(): BatchOp {
    return indexStateOp(this.state);
  }

  /**
   * The map of an older store: a `q` key for every stored body, then STAGE_POSTINGS. Runs at open,
   * before maintenance can delete bodies; puts only, so a crash in between redoes it whole.
   */
  async buildMaps(progress?: BuildProgress): Promise<void> {
    const maintain = this.maintain!;
    let ops: BatchOp[] = [];
    const write = async () => {
      const part = ops;
      ops = [];
      if (part.length > 0) await maintain((c) => ({ ops: part, counters: c }), false);
    };
    let n = 0;
    const b = Buffer.of(P_BODY);
    for await (const batch of this.hot.entries({ gte: b, lt: prefixEnd(b) })) {
      for (const [key, manifest] of batch) ops.push(...bodyDocOps(key.subarray(1), manifest, "put"));
      n += batch.length;
      if (ops.length >= OPS_PER_WRITE) await write();
      progress?.("bodies", n);
    }
    await write();
    const next = { ...this.state, stage: STAGE_POSTINGS };
    await maintain((c) => ({ ops: [indexStateOp(next)], counters: c }), true);
    this.state = next;
  }

  /**
   * The postings of every stored chunk and inline body, and the junctions of every stored body, then
   * STAGE_COMPLETE (flushed, synced). New batches are indexed by the pipeline meanwhile; a doc indexed
   * twice only repeats postings, which merges fold. Stops early (incomplete) once the index closes.
   */
  async buildPostings(progress?: BuildProgress): Promise<void> {
    const k = Buffer.of(P_CHUNK);
    let n = 0;
    for await (const batch of this.hot.entries({ gte: k, lt: prefixEnd(k) })) {
      if (this.stopBuild) return;
      const items = batch.map(([, v]) => v);
      await this.runBuildJob(
        items,
        batch.map(([key]) => key.subarray(1, 1 + DOC_BYTES)),
        [],
      );
      n += batch.length;
      progress?.("chunks", n);
    }
    n = 0;
    const b = Buffer.of(P_BODY);
    for await (const batch of this.hot.entries({ gte: b, lt: prefixEnd(b) })) {
      if (this.stopBuild) return;
      const inline: Uint8Array[] = [];
      const inlineDocs: Uint8Array[] = [];
      const specs: { before: Buffer[]; after: Buffer[] }[] = [];
      for (const [key, manifest] of batch) {
        const m = decodeManifest(manifest);
        if (m.layout === "inline") {
          inline.push(m.stored);
          inlineDocs.push(key.subarray(1, 1 + DOC_BYTES));
        } else this.cutsOf(m.chunks, specs, () => true); // a rebuild posts every cut
      }
      await this.runBuildJob(inline, inlineDocs, specs);
      n += batch.length;
      progress?.("bodies", n);
    }
    await this.flush(true);
  }

  /** One build job: whole items, and cuts whose chunks are read here. */
  private async runBuildJob(
    wholeItems: Uint8Array[],
    docs: Uint8Array[],
    specs: { before: Buffer[]; after: Buffer[] }[],
  ): Promise<void> {
    const items = [...wholeItems];
    const itemOf = new Map<string, number>();
    const need = new Map<string, Buffer>();
    for (const s of specs) for (const h of [...s.before, ...s.after]) need.set(h.toString("latin1"), h);
    const hashes = [...need.values()];
    const values = hashes.length > 0 ? await this.hot.getMany(hashes.map((h) => hashKey(P_CHUNK, h))) : [];
    hashes.forEach((h, i) => {
      if (values[i] === undefined) return;
      itemOf.set(h.toString("latin1"), items.length);
      items.push(values[i]!);
    });
    const cuts: number[] = [];
    const cutDocs: Uint8Array[] = [];
    for (const s of specs) {
      const before = s.before.map((h) => itemOf.get(h.toString("latin1")));
      const after = s.after.map((h) => itemOf.get(h.toString("latin1")));
      if ([...before, ...after].some((i) => i === undefined)) continue;
      cuts.push(before.length, ...(before as number[]), after.length, ...(after as number[]));
      cutDocs.push(s.after[0]!.subarray(0, DOC_BYTES));
    }
    const job: ExtractJob = {
      id: this.nextJob++,
      dicts: this.newDicts(items),
      items,
      whole: Uint32Array.from(wholeItems.map((_, i) => i)),
      wholeDocs: concat(docs),
      cuts: Uint32Array.from(cuts),
      cutDocs: concat(cutDocs),
    };
    const bytes = await this.runner.job(job);
    this.tailBytes += bytes;
    if (this.tailBytes >= chunkIndexSettings.flushBytes) await this.flush();
  }

  /** Starts the postings build in the background (an upgraded store at open). */
  buildInBackground(): void {
    if (this.state.stage !== STAGE_POSTINGS || this.mode === "off" || this.building) return;
    this.building = this.buildPostings().catch((err: unknown) => {
      if (!this.closed)
        process.emitWarning(
          `tracetier: building the search index failed, the next open retries: ${(err as Error).message}`,
          "UpgradeWarning",
        );
    });
  }

  /**
   * Drops the index (segments, `q` keys, state back to STAGE_MAPS) for a rebuild (`tracetier reindex`,
   * `verify --repair`). The store must be idle: no maintenance, no inserts.
   */
  async drop(): Promise<void> {
    this.stopBuild = true;
    await this.building;
    this.building = undefined;
    this.stopBuild = false;
    await this.chain;
    await this.pipeline;
    const maintain = this.maintain!;
    for (const prefix of [P_SEGMENT, P_DOC_BODY]) {
      const p = Buffer.of(prefix);
      let ops: BatchOp[] = [];
      for await (const batch of this.hot.entries({ gte: p, lt: prefixEnd(p) }, false)) {
        for (const [key] of batch) ops.push({ type: "del", key });
        if (ops.length >= OPS_PER_WRITE) {
          const part = ops;
          ops = [];
          await maintain((c) => ({ ops: part, counters: c }), false);
        }
      }
      const part = ops;
      await maintain((c) => ({ ops: part, counters: c }), false);
    }
    await this.runner.seal(); // what the tail held is dropped with the rest
    this.tailBytes = 0;
    this.frozen = [];
    this.headers.clear();
    this.blocks.clear();
    this.cuts.clear();
    const next = { ...this.state, stage: STAGE_MAPS, segments: [] };
    await maintain((c) => ({ ops: [indexStateOp(next)], counters: c }), true);
    this.state = next;
  }

  /** Everything indexed is written (and the build stopped); the thread ends. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopBuild = true;
    if (this.timer) clearInterval(this.timer);
    this.runner.hurry(); // jobs waiting for the thread's start: a close does not wait for it
    await this.building;
    await this.pipeline;
    await this.chain;
    try {
      if (this.maintain) await this.flushNow(false);
    } finally {
      await this.runner.close();
    }
  }
}

const EMPTY_HEADER: SegmentHeader = { docs: Buffer.alloc(0), firstTerms: new Uint32Array(0) };

/** The live docs among the segments' (sorted 8-byte names, for the merge in the thread). */
function liveNames(parts: readonly EncodedSegment[], live: ReadonlySet<string>): Uint8Array {
  const keep = new Set<string>();
  for (const p of parts) {
    const h = decodeHeader(p.header, "a segment to merge");
    for (let i = 0; i < docCount(h.docs); i++) {
      const name = docAt(h.docs, i).toString("latin1");
      if (live.has(name)) keep.add(name);
    }
  }
  return Buffer.from([...keep].sort().join(""), "latin1");
}

function segmentPuts(id: number, encoded: EncodedSegment): BatchOp[] {
  const ops: BatchOp[] = [{ type: "put", key: segmentHeaderKey(id), value: encoded.header }];
  encoded.blocks.forEach((b, i) => {
    ops.push({ type: "put", key: segmentBlockKey(id, i), value: b });
  });
  return ops;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * DOC_BYTES);
  parts.forEach((p, i) => {
    out.set(p.subarray(0, DOC_BYTES), i * DOC_BYTES);
  });
  return out;
}

function distinct(bufs: readonly Buffer[]): Buffer[] {
  const m = new Map<string, Buffer>();
  for (const b of bufs) m.set(b.toString("latin1", 0, DOC_BYTES), b);
  return [...m.values()];
}

async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += SCAN_PARALLEL)
    await Promise.all(items.slice(i, i + SCAN_PARALLEL).map(fn));
}
