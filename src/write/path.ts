/**
 * The write path: validate → prepare (ids, hashes) → stage (dedup, new bodies and chunks, sequence
 * numbers) → WAL append (group commit) → apply to the hot tier → resolve.
 *
 * Calls that arrive while a batch is being staged wait, and are then staged together as one batch:
 * one set of lookups, one WAL frame, one LevelDB write for all of them (group staging, the same idea
 * as group commit one step earlier). Each call still gets its own counts, and its own error: a call
 * whose records are invalid fails in `insert`, before it joins a group. Staging starts one turn of the
 * event loop after the first call arrives, so that callers woken together (by the batch they were in
 * being applied) come back into one group instead of the first of them being staged alone: with 32
 * one-record callers that took the groups from about 10 records (one fsync per 10 records) to 32.
 *
 * Invariants:
 * - One staging runs at a time, and a batch enters the WAL queue before the next staging starts, so
 *   sequence numbers, WAL order and apply order are one order.
 * - A batch is applied only after its frame is written (and, under "sync", fsynced), and a call
 *   resolves only after its batch is applied: an acknowledged record is durable and visible.
 * - Ids, bodies and chunks staged but not yet applied are "pending": a later batch treats them as
 *   stored (it waits for the pending record before answering "duplicate", and refers to a pending body
 *   by hash; apply order puts the body first).
 * - `atStagingBoundary` runs a function when no staging is in progress: every batch is then either
 *   fully staged (and queued in apply order before anything the function queues) or not yet begun.
 *   Body GC decides its deletions there (src/retention/gc.ts).
 * - After a failed hot-tier write the hot tier is not trusted until a recovery has succeeded (`recover`):
 *   reopened, counters reloaded, and every acknowledged WAL frame above the reloaded appliedSeq
 *   re-applied from the segments on disk. Until then no batch is applied and no maintenance writes, so no
 *   checkpoint can release a segment past what the hot tier really holds. (An in-memory list of batches
 *   that missed the hot tier is not enough: after an EIO the kernel may have dropped LevelDB's log pages,
 *   and the reopened tier may have lost batches applied, and acknowledged, before the failure.)
 */

import type { ColdKey } from "../../tiers/cold/tier.js";
import { idKey } from "../../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../../tiers/hot/tier.js";
import { recordPuts, recordValue } from "../../tiers/hot/values.js";
import { encodeFrame, framePayloadLimit } from "../../wal/frame.js";
import type { WalContents } from "../../wal/reader.js";
import { WalWriter } from "../../wal/writer.js";
import { BatchTooLargeError, IoError, TracetierError, WalFailedError } from "../base/errors.js";
import type { BodyStore, StagedBodies } from "../bodies/store.js";
import { type Prepared, prepareRecord } from "../records/prepare.js";
import { validateRecords } from "../records/validate.js";
import type { BatchIndexer } from "../search/chunks/index.js";
import type { InsertResult, TraceRecord } from "../types.js";
import { type Batch, decodeBatch, encodeBatch } from "./batch.js";
import { type Counters, countBatch, countersOp, loadCounters } from "./counters.js";

interface Ticket {
  result: InsertResult;
  done: Promise<unknown>;
}

interface Request {
  prepared: Prepared[];
  /** At most the bytes this call's records and bodies add to a WAL frame (`frameBound`). */
  bytes: number;
  resolve: (ticket: Ticket) => void;
  reject: (err: unknown) => void;
}

/** A staged group holds at most this many records; a longer queue is staged in several groups. */
const MAX_GROUP_RECORDS = 4096;
/** A batch's own msgpack framing (version, sequence numbers, three list headers), rounded up. */
const BATCH_OVERHEAD_BYTES = 64;
/** A record value's framing beyond its encoded record and id: version, seq, body hash, headers. */
const RECORD_OVERHEAD_BYTES = 64;
const NONE: ReadonlySet<string> = new Set();

export class WritePath {
  counters: Counters;
  private readonly hot: HotTier;
  private readonly bodies: BodyStore;
  private wal: WalWriter | undefined;
  private nextSeq: number;
  private queue: Request[] = [];
  private staging: Promise<void> | undefined;
  private applying: Promise<void> = Promise.resolve();
  private readonly pendingIds = new Map<string, Promise<void>>();
  /** Sticky: the WAL's state is unknown (a failed fsync); no write is accepted until reopened. */
  private failure: TracetierError | undefined;
  /** Set by a failed hot-tier write (or apply) until a recovery succeeds: see `recover`. */
  private hotLost: TracetierError | undefined;
  private recovering: Promise<void> | undefined;
  private paused = 0;
  /** Called after each applied batch (the store checkpoints and releases WAL segments from there). */
  onApplied: () => void = () => {};
  /**
   * Told each batch's records once they are in the hot tier, in sequence order, each sequence number
   * once (`tell`): `tracetier tail` follows the store through it (src/store.ts `followRecords`).
   */
  onRecords: ((records: readonly AppliedRecord[]) => void) | undefined;
  /** The highest sequence number `onRecords` was told of (or that was applied before the store opened). */
  private toldSeq: number;

  /** Every record with a higher sequence number is still to be told to `onRecords` (the cursor "now"). */
  get toldUpTo(): number {
    return this.toldSeq;
  }
  /**
   * The chunk index (src/search/chunks/index.ts): its `q` keys go in each batch's write, and every
   * batch, applied now or found applied at a replay, is fed to it (it skips what it has indexed).
   */
  indexer: BatchIndexer | undefined;

  /**
   * The ids among these records that the cold tier holds (cross-tier idempotency); set by the store
   * once the cold tier is open (replay, before it, applies batches that were checked when staged).
   */
  coldIds: (keys: ColdKey[]) => Promise<Set<string>> = async () => new Set();

  constructor(hot: HotTier, bodies: BodyStore, counters: Counters) {
    this.hot = hot;
    hot.reopenHook = () => this.recoverHotTier();
    this.bodies = bodies;
    this.counters = counters;
    this.nextSeq = counters.appliedSeq + 1;
    this.toldSeq = counters.appliedSeq;
  }

  /** Connects the WAL once replay is done; `lastSeq` is the highest sequence number the WAL held. */
  attachWal(wal: WalWriter, lastSeq: number): void {
    this.wal = wal;
    this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
  }

  async insert(records: readonly TraceRecord[]): Promise<InsertResult> {
    validateRecords(records);
    if (this.failure) throw this.failure; // before preparing: a failed store refuses even an empty call
    if (records.length === 0) return { inserted: 0, duplicates: 0 };
    return this.insertPrepared(records.map((r, i) => prepareRecord(r, i))); // may throw: this call's error only
  }

  /** Records already validated and prepared (by `insert`, or by `tracetier ingest`'s reader thread). */
  async insertPrepared(prepared: Prepared[]): Promise<InsertResult> {
    if (this.failure) throw this.failure;
    if (prepared.length === 0) return { inserted: 0, duplicates: 0 };
    const bytes = this.frameBound(prepared);
    const ticket = await new Promise<Ticket>((resolve, reject) => {
      this.queue.push({ prepared, bytes, resolve, reject });
      this.startStaging();
    });
    await ticket.done;
    return ticket.result;
  }

  /**
   * Applies, in log order, the batches read back from the WAL (at open, and after a reopen of the hot
   * tier) up to sequence number `upTo`; those at or below appliedSeq are in the hot tier already and
   * skipped (`apply`). Returns the highest sequence number read.
   */
  async replay(log: WalContents, upTo = Number.POSITIVE_INFINITY): Promise<number> {
    let lastSeq = 0;
    for (const [i, payload] of log.frames.entries()) {
      const batch = decodeBatch(payload, log.positions[i]);
      if (batch.lastSeq > upTo) break; // WAL order is sequence order: nothing after it is wanted either
      await this.apply(batch);
      lastSeq = Math.max(lastSeq, batch.lastSeq);
    }
    return lastSeq;
  }

  /** Resolves once every queued call is staged and every staged batch applied (or failed). */
  async drain(): Promise<void> {
    while (this.staging) await this.staging;
    await this.applying;
  }

  private startStaging(): void {
    if (this.paused === 0 && this.queue.length > 0) this.staging ??= this.stageQueued();
  }

  /**
   * Runs `fn` at a point where no batch is being staged: stagings in progress finish first, and queued
   * calls wait until `fn` returns.
   */
  async atStagingBoundary<T>(fn: () => T): Promise<T> {
    this.paused++;
    try {
      while (this.staging) await this.staging;
      return fn();
    } finally {
      this.paused--;
      this.startStaging();
    }
  }

  /** Resolves once every batch staged so far is applied (or failed). */
  async applied(): Promise<void> {
    await this.applying;
  }

  private async stageQueued(): Promise<void> {
    try {
      await new Promise(setImmediate); // callers woken together join one group (see the top)
      while (this.queue.length > 0 && this.paused === 0) {
        const group = this.takeGroup();
        try {
          const tickets = await this.stageGroup(group);
          for (let i = 0; i < group.length; i++) group[i]!.resolve(tickets[i]!);
        } catch (err) {
          for (const r of group) r.reject(err);
        }
      }
    } finally {
      this.staging = undefined;
    }
  }

  /**
   * At most the bytes a call adds to a frame, were all of its records and bodies new: each record's
   * bytes are fixed by its own call (prepare), a body's stored form is at most its original bytes plus
   * per-chunk framing (BodyStore.frameBytesBound). Dedup only makes the frame smaller.
   */
  private frameBound(prepared: readonly Prepared[]): number {
    let bytes = 0;
    for (const p of prepared) {
      bytes += p.encoded.length + Buffer.byteLength(p.id) + RECORD_OVERHEAD_BYTES;
      if (p.body) bytes += this.bodies.frameBytesBound(p.body.utf8.length);
    }
    return bytes;
  }

  /**
   * The next calls to stage as one batch: bounded in records, and in bytes so that the group's frame
   * cannot exceed the WAL's limit: a call that would fit in a frame alone is never refused because of
   * its neighbours. A call whose bound alone is over the limit is staged by itself, so that if it is
   * refused (`stageGroup`, `enqueue`) it is refused alone.
   */
  private takeGroup(): Request[] {
    const maxBytes = framePayloadLimit() - BATCH_OVERHEAD_BYTES;
    let records = 0;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const next = this.queue[n]!;
      const fits = records + next.prepared.length <= MAX_GROUP_RECORDS && bytes + next.bytes <= maxBytes;
      if (n > 0 && !fits) break;
      records += next.prepared.length;
      bytes += next.bytes;
      n++;
      if (!fits) break; // over the limit alone: nothing joins it
    }
    return this.queue.splice(0, n);
  }

  private async stageGroup(group: Request[]): Promise<Ticket[]> {
    await this.ready();
    const waits: Promise<void>[][] = group.map(() => []);
    const candidates = this.firstSightings(group, waits);
    const keys = candidates.map((c) => idKey(c.p.id));
    // Synchronous point reads (as the body path's are): LevelDB answers a group's lookups from its
    // cache in microseconds, and a trip to the thread pool per group cost more than that on a busy
    // machine. Async only while the tier is being reopened (a synchronous read cannot wait for it).
    const found = this.hot.isOpen ? this.hot.getManySync(keys) : await this.hot.getMany(keys);
    // Asked after the hot tier: a record that left it was listed by the cold manifest first.
    const notHot = candidates.filter((_, i) => found[i] === undefined);
    const cold =
      notHot.length === 0
        ? NONE
        : await this.coldIds(notHot.map(({ p }) => ({ id: p.id, ...coldKeyOf(p.record) })));
    const fresh = cold.size === 0 ? notHot : notHot.filter(({ p }) => !cold.has(p.id));
    refuseOversized(fresh);
    const insertedBy = group.map(() => 0);
    for (const f of fresh) insertedBy[f.owner]!++;
    const applied = fresh.length > 0 ? (await this.stageBatch(fresh.map((f) => f.p))).applied : undefined;
    return group.map((r, i) => ({
      result: { inserted: insertedBy[i]!, duplicates: r.prepared.length - insertedBy[i]! },
      done: Promise.all(applied ? [applied, ...waits[i]!] : waits[i]!),
    }));
  }

  /**
   * Candidates for insertion, in call order: the first sighting of each id in the group, unless a batch
   * staged earlier holds it (then the call waits for that batch before it may say "duplicate").
   */
  private firstSightings(group: Request[], waits: Promise<void>[][]): { p: Prepared; owner: number }[] {
    const seen = new Set<string>();
    const out: { p: Prepared; owner: number }[] = [];
    group.forEach((r, owner) => {
      for (const p of r.prepared) {
        if (seen.has(p.id)) continue;
        seen.add(p.id);
        const pending = this.pendingIds.get(p.id);
        if (pending) waits[owner]!.push(pending);
        else out.push({ p, owner });
      }
    });
    return out;
  }

  /**
   * Stages the fresh records as one batch and queues it in the WAL. The applied promise comes back
   * wrapped: awaiting it here would hold the next staging until this batch is applied.
   */
  private async stageBatch(fresh: Prepared[]): Promise<{ applied: Promise<void> }> {
    const staged = await this.bodies.stage(fresh.flatMap((p) => (p.body ? [p.body] : [])));
    const batch = this.sequence(fresh, staged);
    let applied: Promise<void>;
    try {
      applied = this.enqueue(batch);
    } catch (err) {
      this.bodies.settle(staged);
      this.nextSeq = batch.firstSeq; // nothing of the batch was queued: its numbers are free again
      throw err;
    }
    for (const p of fresh) this.pendingIds.set(p.id, applied);
    return { applied };
  }

  private sequence(fresh: Prepared[], bodies: StagedBodies): Batch {
    const firstSeq = this.nextSeq;
    const records = fresh.map((p) => {
      const record = { id: p.id, seq: this.nextSeq++, record: p.record, bodyHash: p.body?.hash ?? null };
      // the record's bytes were encoded by its own call (prepare); only the framing is added here
      return { record, value: recordValue(record.id, record.seq, p.encoded, record.bodyHash) };
    });
    return { firstSeq, lastSeq: this.nextSeq - 1, records, bodies };
  }

  /**
   * Queues the batch's frame in the WAL now (before the next staging) and chains its apply in order.
   * A frame over the format's limit is refused here, before anything is written: it would be read back
   * as a torn tail at the next open (wal/frame.ts).
   */
  private enqueue(batch: Batch): Promise<void> {
    if (!this.wal) throw new TracetierError("ERR_CLOSED", "the store is not open for writes");
    const payload = encodeBatch(batch);
    if (payload.length > framePayloadLimit())
      throw new BatchTooLargeError(payload.length, framePayloadLimit());
    const durable = this.wal.append(encodeFrame(payload), batch.lastSeq);
    const previous = this.applying;
    const applied = (async () => {
      try {
        await previous;
        await durable; // a rejection means nothing of the batch is in the WAL
        if (this.failure) throw this.failure;
        // the frame is in the WAL: the recovery replays it from there
        const broken = this.hot.failure ?? this.hotLost;
        if (broken) throw broken;
        try {
          await this.apply(batch);
        } catch (err) {
          throw this.breakHot(err);
        }
      } catch (err) {
        throw this.failed(err);
      } finally {
        for (const r of batch.records) this.pendingIds.delete(r.record.id);
        this.bodies.settle(batch.bodies);
      }
    })();
    this.applying = applied.catch(() => {});
    return applied;
  }

  /**
   * What a failed batch's callers get. ERR_WAL_FAILED (a failed fsync, state unknown) is sticky. A full
   * disk or another coded I/O error is not: the WAL was cut back to its last whole frame (wal/writer.ts)
   * or the hot tier is reopened before its next write, and the WAL takes frames again at the next
   * staging, once every batch staged before the failure has settled (`ready`): a batch staged meanwhile
   * may refer to a body or wait on an id of a failed one, and fails with it.
   */
  private failed(err: unknown): TracetierError {
    if (!(err instanceof TracetierError) || err instanceof WalFailedError) {
      this.failure ??= err instanceof TracetierError ? err : new WalFailedError(err);
      return this.failure;
    }
    this.wal?.block(err);
    return err;
  }

  /**
   * A hot-tier write failed: the tier refuses writes until reopened (HotTier.reopen), and the WAL takes
   * no frame until then either (`ready`).
   */
  private breakHot(err: unknown): TracetierError {
    // The hot tier codes LevelDB's errors itself; anything else is named for what failed (not the WAL).
    const coded = err instanceof TracetierError ? err : new IoError("writing the hot tier", err);
    this.hotLost ??= coded;
    this.wal?.block(coded);
    return coded;
  }

  private get needsRecovery(): boolean {
    return this.hot.failure !== undefined || this.hotLost !== undefined;
  }

  /**
   * Called before each staging. After a non-sticky failure: waits until every batch staged before it
   * has settled, reopens the hot tier if it failed (re-applying what it missed), then lets the WAL take
   * frames again. Ids are looked up only after this, so a retried insert finds the records of a failed
   * batch that reached the WAL and are re-applied here (no duplicates).
   */
  private async ready(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.needsRecovery && !this.wal?.blocked) return;
    await this.applying;
    await this.recoverHot();
    this.wal?.resume();
  }

  /** Runs `recover` once for everyone who needs it now (stagings, maintenance, checkpoints). */
  private recoverHot(): Promise<void> {
    if (!this.needsRecovery) return Promise.resolve();
    this.recovering ??= this.recover().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  /**
   * Reopens the hot tier after a failed write, reloads the counters it holds (a failed write may have
   * landed after all, and a lost log page may have taken earlier batches with it), and replays every
   * acknowledged WAL frame above the reloaded appliedSeq from the segments on disk: they are all still
   * there, since releasing a segment takes a checkpoint, and none runs before this succeeds. Appends may
   * go on meanwhile (a staging in progress): only frames acknowledged before the read are replayed
   * (WalWriter.readAcknowledged), and a batch replayed here before its own turn in apply order is skipped
   * then (`apply`). Any failure (the disk still full, a failed read of the counters or of the WAL) is
   * coded and leaves `hotLost` set: nothing is applied or maintained until a later call recovers.
   */
  private async recover(): Promise<void> {
    this.hotLost ??= this.hot.failure;
    try {
      if (this.hot.failure) await this.hot.reopen();
      this.counters = await loadCounters(this.hot);
      await this.indexer?.reload(); // its unsynced flushes may be lost too: the replay below re-feeds them
      if (this.wal) {
        const { log, upTo } = await this.wal.readAcknowledged();
        const appliedSeq = this.counters.appliedSeq;
        const lastSeq = await this.replay(log, upTo);
        if (upTo > appliedSeq) WalWriter.checkReadBack(log, upTo, lastSeq);
      }
    } catch (err) {
      throw err instanceof TracetierError ? err : new IoError("recovering the hot tier", err);
    }
    this.hotLost = undefined;
  }

  /**
   * Reopens a failed hot tier in apply order (after every batch and maintenance write queued so far):
   * maintenance calls it, through HotTier's hook, before it compacts LevelDB outside that order.
   */
  recoverHotTier(): Promise<void> {
    const previous = this.applying;
    const run = (async () => {
      await previous;
      await this.recoverHot();
    })();
    this.applying = run.catch(() => {});
    return run;
  }

  /**
   * A maintenance write (compaction, retention), in apply order: it sees the counters of every batch
   * applied before it, changes them, and is written atomically with them (and synced, unless a later
   * synced write in the same job makes it durable before anything depends on it). A failed write leaves
   * the hot tier to be reopened (`recoverHot`), as an insert's does.
   */
  maintain(build: (c: Counters) => { ops: BatchOp[]; counters: Counters }, sync = true): Promise<void> {
    const previous = this.applying;
    const run = (async () => {
      await previous;
      if (this.failure) throw this.failure;
      await this.recoverHot();
      const { ops, counters } = build(this.counters);
      try {
        await this.hot.write([...ops, countersOp(counters)], sync);
      } catch (err) {
        throw this.breakHot(err);
      }
      this.counters = counters;
    })();
    this.applying = run.catch(() => {});
    return run;
  }

  /**
   * Writes a batch into the hot tier with its counters. A batch at or below appliedSeq is there already
   * (replay at open, or a recovery that replayed it from the WAL before its turn in apply order).
   */
  private async apply(batch: Batch): Promise<void> {
    if (batch.lastSeq <= this.counters.appliedSeq) {
      this.indexer?.feed(batch); // applied before a crash, maybe not indexed (src/search/chunks/index.ts)
      this.tell(batch); // a failed write that landed after all, found by a recovery (see `tell`)
      return;
    }
    const ops: BatchOp[] = [];
    for (const r of batch.records) ops.push(...recordPuts(r.record, r.value));
    ops.push(...this.bodies.ops(batch.bodies));
    if (this.indexer) ops.push(...this.indexer.ops(batch));
    const next = countBatch(this.counters, batch);
    ops.push(countersOp(next));
    await this.hot.write(ops);
    this.counters = next;
    this.indexer?.feed(batch);
    this.tell(batch);
    this.onApplied();
  }

  /**
   * Tells `onRecords` of the batch's records it has not been told of. Batches reach `apply` in sequence
   * order, so `toldSeq` only grows and each record is told once. A batch found applied (at or below
   * appliedSeq) is told too when it is above `toldSeq`: a hot-tier write that failed but landed, seen by
   * the recovery's reload of appliedSeq (its own apply then skips it). Replay at open tells no one: a
   * listener is attached only to an open store.
   * A listener's failure is its own: the batch is stored and its callers are answered regardless.
   */
  private tell(batch: Batch): void {
    if (batch.lastSeq <= this.toldSeq) return;
    const after = this.toldSeq;
    this.toldSeq = batch.lastSeq;
    if (!this.onRecords) return;
    const records = batch.records
      .filter((r) => r.record.seq > after)
      .map((r) => ({ seq: r.record.seq, id: r.record.id, value: r.value }));
    try {
      this.onRecords(records);
    } catch {
      // see above: never the write path's failure
    }
  }
}

/** A record as the hot tier stored it: its sequence number and its record value (tiers/hot/values.ts). */
export interface AppliedRecord {
  seq: number;
  id: string;
  value: Uint8Array;
}

/**
 * Refuses, before its bodies are staged, a batch whose records alone are over the frame limit: their
 * encoded bytes are all in the frame. Only a call whose bound alone is over the limit gets here with
 * such a batch, in a group of its own (`takeGroup`).
 */
function refuseOversized(fresh: readonly { p: Prepared }[]): void {
  let bytes = 0;
  for (const f of fresh) bytes += f.p.encoded.length;
  if (bytes > framePayloadLimit()) throw new BatchTooLargeError(bytes, framePayloadLimit());
}

function coldKeyOf(r: Prepared["record"]): Omit<ColdKey, "id"> {
  return r.turnId === undefined ? { timestamp: r.timestamp } : { turnId: r.turnId, timestamp: r.timestamp };
}
