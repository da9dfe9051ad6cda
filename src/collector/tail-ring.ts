/**
 * `GET /v1/tail`'s memory of recent records (tail.ts): the ring every stream replays from, and a kept
 * record's decoded form, made once when a stream first sends it.
 */
import { decodeRecordValue } from "../../tiers/hot/values.js";
import type { AppliedRecord } from "../write/path.js";
import type { TailLimits } from "./tail.js";

/**
 * What a kept record costs beyond its value's bytes (its object and its Uint8Array's backing store; the
 * hot tier measured about 250 bytes a Buffer): counted in `ringBytes`, so that many small records do not
 * hold several times the bound.
 */
const ENTRY_OVERHEAD = 256;

export interface Filter {
  turnId?: string;
  conversationId?: string;
  kind?: string;
  level?: string;
  extensionId?: string;
}

export const FILTER_PARAMS = ["turnId", "conversationId", "kind", "level", "extensionId"] as const;

/**
 * A record kept for streams: its stored value, decoded and serialized the first time a stream sends it.
 * A ring entry keeps that text for the next streams while several are open (`ring` set: it counts the
 * bytes); a hot-tier replay's entry does not (one stream reads it).
 */
export interface Entry {
  seq: number;
  value: Uint8Array;
  /** The hot-tier key, for a corrupt value's error. */
  key?: Uint8Array;
  ring?: Ring;
  ready?: Ready;
}

/** A decoded record: the fields the filters match, and the event's data. */
export interface Ready {
  fields: Filter;
  data: string;
}

/**
 * Recent records in seq order, bounded by count and bytes: every record acknowledged with a seq above
 * `floor` is here (the oldest leave first, raising the floor).
 */
export class Ring {
  private items: Entry[] = [];
  private head = 0;
  bytes = 0;
  /** Records' JSON text is kept (for the next stream to send them) only while several streams are open. */
  keepText = false;

  constructor(
    private readonly limits: TailLimits,
    public floor: number,
  ) {}

  /** Keeps the records (their values copied when they are views of a larger buffer): their entries. */
  push(records: readonly AppliedRecord[]): Entry[] {
    const entries: Entry[] = [];
    for (const r of records) {
      const e: Entry = { seq: r.seq, value: own(r.value), ring: this };
      entries.push(e);
      this.items.push(e);
      this.bytes += e.value.length + ENTRY_OVERHEAD;
    }
    while (
      this.items.length - this.head > this.limits.ringRecords ||
      (this.bytes > this.limits.ringBytes && this.items.length - this.head > 0)
    ) {
      const old = this.items[this.head++]!;
      this.bytes -= old.value.length + ENTRY_OVERHEAD + (old.ready?.data.length ?? 0);
      old.ring = undefined; // a stream still sending it encodes it without counting it here
      this.floor = old.seq;
    }
    // compacted now and then, so that a shift is never paid per record
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entries;
  }

  /** The records with a seq above `seq`, oldest first (a copy of the references). */
  after(seq: number): Entry[] {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.items.slice(lo);
  }
}

/**
 * A value the ring may keep for minutes: copied when it is a view of a much larger buffer (a WAL
 * segment read back by a recovery), which it would otherwise keep alive whole.
 */
function own(value: Uint8Array): Uint8Array {
  const backing = value.buffer.byteLength;
  return backing > 8192 && backing > value.byteLength * 2 ? value.slice() : value;
}

/**
 * The record as `query({ bodies: false })` returns it (reader.ts `hydrate`) with its seq, serialized
 * once: kept on a ring entry (counted in its bytes) for every other stream that sends it.
 */
export function readyOf(e: Entry): Ready {
  if (e.ready) return e.ready;
  const r = decodeRecordValue(e.value, e.key);
  const record = { ...r.record, id: r.id };
  const fields = record as Filter;
  const ready: Ready = {
    fields: {
      turnId: fields.turnId,
      conversationId: fields.conversationId,
      kind: fields.kind,
      level: fields.level,
      extensionId: fields.extensionId,
    },
    data: JSON.stringify({ ...record, seq: r.seq }),
  };
  if (e.ring?.keepText) {
    e.ready = ready;
    e.ring.bytes += ready.data.length;
  }
  return ready;
}
