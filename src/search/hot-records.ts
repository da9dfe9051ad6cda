/**
 * The hot tier's record texts (span names, log messages, attribute values) indexed in memory: term →
 * the hot records whose texts hold it; and body (8-byte hash prefix) → the hot records that carry it,
 * the last step from the chunk index (chunks → bodies) to records. Body texts are not here (the chunk
 * index has them).
 *
 * It has no on-disk form and so no crash handling of its own: it is built at open by one pass over the
 * hot records and then kept current by the hot tier's write watcher (HotTier.watchRecords), which names
 * every record key a write puts (with its value) or deletes. Hot records are a bounded window
 * (compaction moves them out), and so is this index. A record may be listed a moment before its write
 * lands, or after a failed write: a lookup only proposes candidates, which the search then reads, so
 * such an entry costs one read that finds nothing.
 */

import { P_RECORD, prefixEnd, recordKeySeq, recordKeyTs } from "../../tiers/hot/keys.js";
import type { HotTier, TurnWrite } from "../../tiers/hot/tier.js";
import { decodeRecordValue } from "../../tiers/hot/values.js";
import type { TierRecord } from "../../tiers/record.js";
import { ClosedError } from "../base/errors.js";
import { termsOf } from "./text.js";

/** A record without its body, as the tiers hold it. */
type Bodiless = TierRecord["record"];

export interface HotKey {
  ts: number;
  seq: number;
}

/** Dead slots are dropped from the postings once they are this share of all slots (and many). */
const COMPACT_SHARE = 0.5;
const COMPACT_MIN = 4096;

export class HotRecordIndex {
  private readonly hot: HotTier;
  private postings = new Map<number, number[]>();
  /** Body hash prefix (8 bytes, as a latin1 string) → slots of the records carrying it. */
  private bodies = new Map<string, number[]>();
  /** Slot → the record's (ts, seq); a slot is live while `slotOf` maps its seq back to it. */
  private ts: number[] = [];
  private seqs: number[] = [];
  private readonly slotOf = new Map<number, number>();
  private dead = 0;
  private building: Promise<void> | undefined;
  /** Seqs deleted while a build pass runs: the pass may still read them from its snapshot. */
  private deletedDuringBuild: Set<number> | undefined;
  private generation = 0;
  private closed = false;
  private stopWatching: (() => void) | undefined;

  constructor(hot: HotTier) {
    this.hot = hot;
  }

  /**
   * Resolves once the index holds every hot record. The first call starts it (watching writes, then a
   * pass over the hot records): a process that never searches (an ingest) pays nothing for it.
   */
  ready(): Promise<void> {
    this.stopWatching ??= this.hot.watchRecords((writes) => this.onWrites(writes));
    this.building ??= this.build().catch((err: unknown) => {
      this.building = undefined; // a failed pass (an I/O error): the next search tries again
      throw err;
    });
    return this.building;
  }

  /** Changes when the index is emptied (a reopen of the hot tier): a search that saw another must run again. */
  get version(): number {
    return this.generation;
  }

  /** Hot records (candidates) whose texts hold `term`, with from ≤ ts < to. */
  lookup(term: number, from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): HotKey[] {
    const out: HotKey[] = [];
    for (const slot of this.postings.get(term) ?? []) {
      const seq = this.seqs[slot]!;
      const ts = this.ts[slot]!;
      if (this.slotOf.get(seq) === slot && ts >= from && ts < to) out.push({ ts, seq });
    }
    return out;
  }

  /** Hot records (candidates) carrying one of these bodies (8-byte hash prefixes), with from ≤ ts < to. */
  recordsOfBodies(
    bodies: readonly Buffer[],
    from = Number.NEGATIVE_INFINITY,
    to = Number.POSITIVE_INFINITY,
  ): HotKey[] {
    const out: HotKey[] = [];
    for (const body of bodies) {
      for (const slot of this.bodies.get(body.toString("latin1", 0, BODY_PREFIX)) ?? []) {
        const seq = this.seqs[slot]!;
        const ts = this.ts[slot]!;
        if (this.slotOf.get(seq) === slot && ts >= from && ts < to) out.push({ ts, seq });
      }
    }
    return out;
  }

  /** How many postings `term` has (dead ones included): the planner's cost estimate. */
  count(term: number): number {
    return this.postings.get(term)?.length ?? 0;
  }

  close(): void {
    this.closed = true;
    this.stopWatching?.();
    this.generation++;
  }

  private onWrites(writes: readonly TurnWrite[] | undefined): void {
    if (writes === undefined) {
      this.reset(); // a reopen: any record may differ
      return;
    }
    for (const w of writes) {
      if (w.put && w.value) this.add(w.seq, recordKeyTs(w.key), w.value);
      else if (!w.put) this.remove(w.seq);
    }
  }

  private add(seq: number, ts: number, value: Buffer): void {
    if (this.slotOf.has(seq)) return; // told twice per write (its start and its end)
    const slot = this.ts.length;
    this.ts.push(ts);
    this.seqs.push(seq);
    this.slotOf.set(seq, slot);
    const r = decodeRecordValue(value);
    for (const term of recordTerms(r.record)) push(this.postings, term, slot);
    if (r.bodyHash) push(this.bodies, Buffer.from(r.bodyHash).toString("latin1", 0, BODY_PREFIX), slot);
  }

  private remove(seq: number): void {
    if (this.slotOf.delete(seq)) this.dead++;
    this.deletedDuringBuild?.add(seq);
    if (this.dead >= COMPACT_MIN && this.dead >= this.ts.length * COMPACT_SHARE) this.compact();
  }

  /** Rewrites the postings without dead slots (renumbering the live ones). */
  private compact(): void {
    const renumber = new Map<number, number>();
    const ts: number[] = [];
    const seqs: number[] = [];
    for (const [seq, slot] of this.slotOf) {
      renumber.set(slot, ts.length);
      this.slotOf.set(seq, ts.length);
      ts.push(this.ts[slot]!);
      seqs.push(seq);
    }
    const postings = renumbered(this.postings, renumber);
    this.bodies = renumbered(this.bodies, renumber);
    this.ts = ts;
    this.seqs = seqs;
    this.postings = postings;
    this.dead = 0;
  }

  private reset(): void {
    this.generation++;
    this.postings = new Map();
    this.bodies = new Map();
    this.ts = [];
    this.seqs = [];
    this.slotOf.clear();
    this.dead = 0;
    this.building = undefined;
  }

  /**
   * A pass that a reset or a close interrupted: after a reset (a reopen) another pass; after a close,
   * ERR_CLOSED, so that a search waiting for it fails rather than answer from half an index.
   */
  private restarted(): Promise<void> {
    return this.closed ? Promise.reject(new ClosedError()) : this.ready();
  }

  /**
   * One pass over the hot records. Writes keep arriving meanwhile: a put is indexed by the watcher (and
   * skipped here), a delete is remembered so that the pass does not add back what its snapshot still
   * holds. A reset (a reopen) during the pass abandons it; the next `ready` starts another.
   */
  private async build(): Promise<void> {
    const generation = this.generation;
    this.deletedDuringBuild = new Set();
    try {
      const range = { gte: Buffer.of(P_RECORD), lt: prefixEnd(Buffer.of(P_RECORD)) };
      for await (const page of this.hot.entries(range)) {
        if (generation !== this.generation) return this.restarted();
        for (const [key, value] of page) {
          const seq = recordKeySeq(key);
          if (!this.deletedDuringBuild.has(seq)) this.add(seq, recordKeyTs(key), value);
        }
      }
      if (generation !== this.generation) return this.restarted(); // during the last page's read
    } finally {
      if (generation === this.generation) this.deletedDuringBuild = undefined;
    }
  }
}

const BODY_PREFIX = 8;

function push<K>(map: Map<K, number[]>, key: K, slot: number): void {
  const list = map.get(key);
  if (list) list.push(slot);
  else map.set(key, [slot]);
}

/** The lists with their live slots renumbered, dead ones (absent from `renumber`) dropped. */
function renumbered<K>(lists: Map<K, number[]>, renumber: Map<number, number>): Map<K, number[]> {
  const out = new Map<K, number[]>();
  for (const [key, slots] of lists) {
    const live = slots.flatMap((s) => {
      const n = renumber.get(s);
      return n === undefined ? [] : [n];
    });
    if (live.length > 0) out.set(key, live);
  }
  return out;
}

/** The distinct terms of a record's texts (docs/search.md): span name, log message, attribute values. */
export function recordTerms(record: Bodiless, into = new Set<number>()): Set<number> {
  for (const text of recordTexts(record)) termsOf(text, into);
  return into;
}

/** A record's searchable texts other than its body, each a text of its own. */
export function recordTexts(record: Bodiless): string[] {
  const r = record as { msg?: unknown; name?: unknown };
  const out: string[] = [];
  // a log's message, a span's name (the tiers' record type has lost the kinds' union to Omit)
  const text = record.kind === "log" ? r.msg : r.name;
  if (typeof text === "string") out.push(text);
  for (const value of Object.values(record.attributes ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== null) out.push(String(v));
  }
  return out;
}
