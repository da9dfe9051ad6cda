/**
 * The write path: validate → prepare (ids, hashes) → stage (dedup, new bodies and chunks, sequence
 * numbers) → WAL append (group commit) → apply to the hot tier → resolve.
 *
 * Invariants:
 * - Staging is serialized, and a batch enters the WAL queue while it holds the lock, so sequence
 *   numbers, WAL order and apply order are one order.
 * - A batch is applied only after its frame is written (and, under "sync", fsynced), and the call
 *   resolves only after it is applied: an acknowledged record is durable and visible.
 * - Ids, bodies and chunks staged but not yet applied are "pending": a later batch treats them as
 *   stored (it waits for the pending record before answering "duplicate", and refers to a pending body
 *   by hash; apply order puts the body first).
 */
import { type Batch, encodeBatch } from "./batch.js";
import type { BodyStore, StagedBodies } from "./bodies/store.js";
import { TracetierError, WalFailedError } from "./errors.js";
import { type Prepared, prepareRecord } from "./records/prepare.js";
import { validateRecords } from "./records/validate.js";
import { type Counters, countBatch, countersOp } from "./state.js";
import type { InsertResult, TraceRecord } from "./types.js";
import { encodeFrame } from "../wal/frame.js";
import type { WalWriter } from "../wal/writer.js";
import { idKey } from "../tiers/hot/keys.js";
import type { BatchOp, HotTier } from "../tiers/hot/tier.js";
import { encodeRecordValue, recordPuts } from "../tiers/hot/values.js";

interface Ticket {
  result: InsertResult;
  done: Promise<unknown>;
}

export class WritePath {
  counters: Counters;
  private readonly hot: HotTier;
  private readonly bodies: BodyStore;
  private wal: WalWriter | undefined;
  private nextSeq: number;
  private staging: Promise<unknown> = Promise.resolve();
  private applying: Promise<void> = Promise.resolve();
  private readonly pendingIds = new Map<string, Promise<void>>();
  private failure: TracetierError | undefined;
  /** Called after each applied batch (the store checkpoints and releases WAL segments from there). */
  onApplied: () => void = () => {};

  constructor(hot: HotTier, bodies: BodyStore, counters: Counters) {
    this.hot = hot;
    this.bodies = bodies;
    this.counters = counters;
    this.nextSeq = counters.appliedSeq + 1;
  }

  /** Connects the WAL once replay is done; `lastSeq` is the highest sequence number the WAL held. */
  attachWal(wal: WalWriter, lastSeq: number): void {
    this.wal = wal;
    this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
  }

  async insert(records: readonly TraceRecord[]): Promise<InsertResult> {
    validateRecords(records);
    if (this.failure) throw this.failure;
    if (records.length === 0) return { inserted: 0, duplicates: 0 };
    const prepared = records.map(prepareRecord);
    const ticket = await this.serialized(() => this.stage(prepared));
    await ticket.done;
    return ticket.result;
  }

  /** Applies a batch read back from the WAL at open (frames at or below appliedSeq are skipped). */
  async replay(batch: Batch): Promise<boolean> {
    if (batch.lastSeq <= this.counters.appliedSeq) return false;
    await this.apply(batch);
    return true;
  }

  /** Resolves once every staged batch is applied (or has failed). */
  async drain(): Promise<void> {
    await this.staging.catch(() => {});
    await this.applying;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.staging.then(fn);
    this.staging = run.catch(() => {});
    return run;
  }

  private async stage(prepared: Prepared[]): Promise<Ticket> {
    const waits: Promise<void>[] = [];
    const candidates = this.firstSightings(prepared, waits);
    const found = await this.hot.getMany(candidates.map((p) => idKey(p.id)));
    const fresh = candidates.filter((_, i) => found[i] === undefined);
    const result = { inserted: fresh.length, duplicates: prepared.length - fresh.length };
    if (fresh.length === 0) return { result, done: Promise.all(waits) };

    const bodyInputs = fresh.flatMap((p) => (p.body ? [p.body] : []));
    const staged = await this.bodies.stage(bodyInputs);
    const batch = this.sequence(fresh, staged);
    let applied: Promise<void>;
    try {
      applied = this.enqueue(batch);
    } catch (err) {
      this.bodies.settle(staged);
      throw err;
    }
    for (const p of fresh) this.pendingIds.set(p.id, applied);
    return { result, done: Promise.all([applied, ...waits]) };
  }

  /** Candidates for insertion: first occurrence in the batch, not pending in another batch. */
  private firstSightings(prepared: Prepared[], waits: Promise<void>[]): Prepared[] {
    const seen = new Set<string>();
    const out: Prepared[] = [];
    for (const p of prepared) {
      if (seen.has(p.id)) continue;
      seen.add(p.id);
      const pending = this.pendingIds.get(p.id);
      if (pending) waits.push(pending);
      else out.push(p);
    }
    return out;
  }

  private sequence(fresh: Prepared[], bodies: StagedBodies): Batch {
    const firstSeq = this.nextSeq;
    const records = fresh.map((p) => {
      const record = { id: p.id, seq: this.nextSeq++, record: p.record, bodyHash: p.body?.hash ?? null };
      return { record, value: encodeRecordValue(record) };
    });
    return { firstSeq, lastSeq: this.nextSeq - 1, records, bodies };
  }

  /** Queues the batch's frame in the WAL now (under the staging lock) and chains its apply in order. */
  private enqueue(batch: Batch): Promise<void> {
    if (!this.wal) throw new TracetierError("ERR_CLOSED", "the store is not open for writes");
    const durable = this.wal.append(encodeFrame(encodeBatch(batch)), batch.lastSeq);
    const previous = this.applying;
    const applied = (async () => {
      try {
        await previous;
        await durable;
        if (this.failure) throw this.failure;
        await this.apply(batch);
      } catch (err) {
        this.failure ??= err instanceof TracetierError ? err : new WalFailedError(err);
        throw this.failure;
      } finally {
        for (const r of batch.records) this.pendingIds.delete(r.record.id);
        this.bodies.settle(batch.bodies);
      }
    })();
    this.applying = applied.catch(() => {});
    return applied;
  }

  private async apply(batch: Batch): Promise<void> {
    const ops: BatchOp[] = [];
    for (const r of batch.records) ops.push(...recordPuts(r.record, r.value));
    ops.push(...this.bodies.ops(batch.bodies));
    const next = countBatch(this.counters, batch);
    ops.push(countersOp(next));
    await this.hot.write(ops);
    this.counters = next;
    this.onApplied();
  }
}
