/**
 * Reads. Every read goes to the hot tier's LevelDB directly: a batch is applied before its insert
 * resolves, so a read started after an insert resolved sees all of it. Order everywhere is
 * (timestamp, seq): seq is the insertion order the WAL assigned, so timestamp ties keep it.
 *
 * The hot tier's asynchronous reads wait out a reopen of its database (after a full disk) by
 * themselves; its synchronous ones (bodies, byId) cannot, so each is preceded here by a check of
 * `hot.isOpen` (a reopen only starts at an await, never inside the synchronous read that follows).
 */

import type { ColdFile } from "../../tiers/cold/manifest.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import type { HotRecord } from "../../tiers/hot/values.js";
import { InvalidOptionError } from "../base/errors.js";
import type { BodyStore } from "../bodies/store.js";
import type { Query, StoredRecord, TraceRecord, TurnOptions } from "../types.js";
import { checkTimeRange } from "./turns-query.js";

const FILTERS = ["kind", "extensionId", "name", "level", "status", "conversationId"] as const;

export class Reader {
  private readonly hot: HotTier;
  private readonly bodies: BodyStore;
  private readonly cold: ColdTier;

  constructor(hot: HotTier, bodies: BodyStore, cold: ColdTier) {
    this.hot = hot;
    this.bodies = bodies;
    this.cold = cold;
  }

  /** A turn's records from both tiers, in (timestamp, seq) order, each once. */
  async turnRecords(turnId: string): Promise<HotRecord[]> {
    if (typeof turnId !== "string") throw new InvalidOptionError("turnId", "must be a string");
    if (turnId === "") return []; // records without a turn share the empty key; they are no turn
    return union(await this.hot.turnRecords(turnId), await this.coldTurn(turnId));
  }

  /** The turn's cold records: only the files whose turn filters may hold it are opened. */
  private async coldTurn(turnId: string): Promise<HotRecord[]> {
    if (this.cold.files.length === 0) return [];
    return this.cold.turnRecords(turnId);
  }

  async getTurn(turnId: string, bodies: TurnOptions["bodies"] = true): Promise<StoredRecord[]> {
    const records = await this.turnRecords(turnId);
    return bodies === "sizes" ? this.sized(records) : this.hydrate(records, bodies !== false);
  }

  async getBody(recordId: string): Promise<string | undefined> {
    const r = await this.recordById(recordId);
    return r ? this.bodyOf(r) : undefined;
  }

  /** A record by id from either tier; undefined for an unknown or malformed id. */
  async recordById(recordId: string): Promise<HotRecord | undefined> {
    if (typeof recordId !== "string" || !/^[0-9a-f]{16}$/.test(recordId)) return undefined;
    if (!this.hot.isOpen) await this.hot.opened();
    return this.hot.byId(recordId) ?? (await this.cold.recordById(recordId));
  }

  /** The record's body; undefined when it has none or it was evicted. */
  async bodyOf(r: HotRecord): Promise<string | undefined> {
    if (r.bodyHash == null) return undefined;
    if (!this.hot.isOpen) await this.hot.opened();
    return this.bodies.read([r.bodyHash]).values().next().value ?? undefined; // null: evicted
  }

  async query(q: Query): Promise<StoredRecord[]> {
    const records = await this.queryRecords(q);
    return q.bodies === "sizes" ? this.sized(records) : this.hydrate(records, q.bodies !== false);
  }

  /** The query's records as stored (body hashes, seq), in the query's order. */
  async queryRecords(q: Query): Promise<HotRecord[]> {
    checkQuery(q);
    const reverse = q.order === "desc";
    const limit = q.limit ?? Number.POSITIVE_INFINITY;
    if (limit === 0) return [];
    const hot: HotRecord[] = [];
    for await (const r of this.plan(q, reverse)) {
      if (!matches(r.record, q)) continue;
      hot.push(r);
      if (hot.length >= limit) break;
    }
    if (reverse) hot.reverse(); // union works in ascending order
    const merged = union(hot, await this.coldQuery(q, limit));
    if (reverse) merged.reverse();
    return merged.slice(0, limit);
  }

  /**
   * Cold matches, enough for the limit: partitions (by date) are read in the query's order and the
   * read stops once `limit` matches are in hand, since every later partition sorts after them. Files
   * are picked by their time bounds, row groups by their timestamp statistics.
   */
  private async coldQuery(q: Query, limit: number): Promise<HotRecord[]> {
    if (this.cold.files.length === 0) return [];
    if (q.turnId !== undefined) return (await this.coldTurn(q.turnId)).filter((r) => matches(r.record, q));
    const from = q.from ?? Number.NEGATIVE_INFINITY;
    const to = q.to ?? Number.POSITIVE_INFINITY;
    const byDate = new Map<string, ColdFile[]>();
    for (const f of this.cold.files) {
      if (f.maxTs < from || f.minTs >= to) continue;
      byDate.set(f.date, [...(byDate.get(f.date) ?? []), f]);
    }
    const dates = [...byDate.keys()].sort();
    if (q.order === "desc") dates.reverse();
    const out: HotRecord[] = [];
    for (const d of dates) {
      for (const r of await this.cold.rangeRecords(byDate.get(d)!, from, to))
        if (matches(r.record, q)) out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** UTF-8 sizes of the records' bodies, by body hash (hex), from their manifests only. */
  async bodySizes(records: HotRecord[]): Promise<Map<string, { bytes: number; evicted: boolean }>> {
    if (!this.hot.isOpen) await this.hot.opened();
    return this.bodies.sizes(records.flatMap((r) => (r.bodyHash ? [r.bodyHash] : [])));
  }

  /** The narrowest index for the query: a turn's range, a conversation's, or the time index. */
  private plan(q: Query, reverse: boolean): AsyncGenerator<HotRecord> {
    const from = keyBound(q.from);
    const to = keyBound(q.to);
    if (q.turnId !== undefined) return this.hot.turn(q.turnId, from, to, reverse);
    if (q.conversationId !== undefined) {
      return this.hot.byConversation(q.conversationId, from, to, reverse);
    }
    return this.hot.byTime(from, to, reverse);
  }

  /**
   * Thin records, each record with a body carrying its UTF-8 size (and `bodyEvicted`), read from the
   * body manifests and eviction markers only: no chunk is read.
   */
  async sized(records: HotRecord[]): Promise<StoredRecord[]> {
    const sizes = await this.bodySizes(records);
    const out = await this.hydrate(records, false);
    records.forEach((r, i) => {
      const size = r.bodyHash ? sizes.get(Buffer.from(r.bodyHash).toString("hex")) : undefined;
      if (size === undefined) return;
      out[i]!.bodyBytes = size.bytes;
      if (size.evicted) out[i]!.bodyEvicted = true;
    });
    return out;
  }

  async hydrate(records: HotRecord[], withBodies: boolean): Promise<StoredRecord[]> {
    const out = records.map((r) => ({ ...r.record, id: r.id }) as StoredRecord);
    if (!withBodies) return out;
    const hashes = records.flatMap((r) => (r.bodyHash ? [r.bodyHash] : []));
    if (hashes.length === 0) return out;
    if (!this.hot.isOpen) await this.hot.opened();
    const bodies = this.bodies.read(hashes);
    records.forEach((r, i) => {
      if (!r.bodyHash) return;
      const body = bodies.get(Buffer.from(r.bodyHash).toString("hex"));
      if (body === null) out[i]!.bodyEvicted = true;
      else out[i]!.body = body;
    });
    return out;
  }
}

/**
 * A time bound as a key bound: timestamps are integers, so `ts >= 1.5` is `ts >= 2` and `ts < 1.5` is
 * `ts < 2`; a bound beyond every safe integer leaves that side open (the filter still applies it).
 */
function keyBound(v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Math.ceil(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function matches(r: Omit<TraceRecord, "body">, q: Query): boolean {
  const fields = r as unknown as Record<string, unknown>;
  for (const f of FILTERS) {
    if (q[f] !== undefined && fields[f] !== q[f]) return false;
  }
  if (q.turnId !== undefined && r.turnId !== q.turnId) return false;
  if (q.from !== undefined && r.timestamp < q.from) return false;
  return q.to === undefined || r.timestamp < q.to;
}

function checkQuery(q: Query): void {
  if (typeof q !== "object" || q === null) throw new InvalidOptionError("query", "must be an object");
  checkTimeRange(q);
  if (q.limit !== undefined && !(Number.isInteger(q.limit) && q.limit >= 0)) {
    throw new InvalidOptionError("query.limit", "must be a non-negative integer");
  }
  if (q.order !== undefined && q.order !== "asc" && q.order !== "desc") {
    throw new InvalidOptionError("query.order", 'must be "asc" or "desc"');
  }
  for (const f of [...FILTERS, "turnId"] as const) {
    if (q[f] !== undefined && typeof q[f] !== "string")
      throw new InvalidOptionError(`query.${f}`, "must be a string");
  }
}

/** Both tiers' records in (timestamp, seq) order; a record in both (mid-compaction) appears once. */
function union(hot: HotRecord[], cold: HotRecord[]): HotRecord[] {
  if (cold.length === 0) return hot;
  const seen = new Set<string>();
  const all = [...hot, ...cold].filter((r) => !seen.has(r.id) && seen.add(r.id) !== undefined);
  return all.sort((a, b) => a.record.timestamp - b.record.timestamp || a.seq - b.seq);
}
