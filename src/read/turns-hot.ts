/** The hot tier's part of the turns list, kept current as writes touch its turns (turns.ts). */
import type { HotTier, TurnWrite } from "../../tiers/hot/tier.js";
import { decodeRecordValue } from "../../tiers/hot/values.js";
import { hotPart, type TurnPart, turnPart } from "./turn-parts.js";
import { type Call, callsOf } from "./turn-summary.js";

/**
 * Past this many turns written (or records without a turn put) since the last request, the hot part
 * is read again whole. A record without a turn deleted costs no read, so its deletes do not count.
 */
const FULL_SCAN_TURNS = 2000;
/** Marked turns (or records without a turn) re-read at once. */
const REREAD_AT_ONCE = 16;

/**
 * The hot tier's turns, kept current: writes mark the turns they touch (HotTier.watchRecords), and
 * `current()` re-reads those before it answers. A request waits only for the marks made before it
 * started (`marked`), so a steady stream of writes cannot keep it waiting.
 *
 * Records without a turn (OTLP logs without a trace id: many) are kept one by one, by seq: a put
 * reads just that record, a delete drops it. They are never re-read as a group.
 */
export class HotTurns {
  private readonly hot: HotTier;
  private turns = new Map<string, TurnPart>();
  /** The LLM calls of records without a turn, by the record's seq. */
  private looseBySeq = new Map<number, Call>();
  private loose: Call[] = [];
  /** Turns written since the last update: whether a record was put, and the seqs deleted. */
  private readonly dirty = new Map<string, { put: boolean; deleted: Set<number> }>();
  /** Records without a turn put since the last update (by seq, with its key), and deleted. */
  private readonly loosePut = new Map<number, Buffer>();
  private readonly looseDeleted = new Set<number>();
  /** Everything must be read again (nothing read yet, a reopen, a failed update, too many marks). */
  private all = true;
  /** Marks made, and marks whose turns have been read since. */
  private marked = 1;
  private applied = 0;
  /** Bumped whenever the turns change (the merged view is kept per version). */
  version = 0;
  private updating: Promise<void> | undefined;

  constructor(hot: HotTier) {
    this.hot = hot;
    hot.watchRecords((writes) => {
      this.marked++;
      if (writes === undefined) this.readAll();
      else for (const w of writes) if (!this.all) this.mark(w);
    });
  }

  private readAll(): void {
    this.all = true;
    this.dirty.clear();
    this.loosePut.clear();
    this.looseDeleted.clear();
  }

  private mark(write: TurnWrite): void {
    if (this.dirty.size + this.loosePut.size >= FULL_SCAN_TURNS) {
      this.readAll();
    } else if (write.turnId === "") {
      // the last write of a seq wins (a write is told of at its start and again at its end)
      if (write.put) {
        this.loosePut.set(write.seq, write.key);
        this.looseDeleted.delete(write.seq);
      } else {
        this.loosePut.delete(write.seq);
        this.looseDeleted.add(write.seq);
      }
    } else {
      let d = this.dirty.get(write.turnId);
      if (d === undefined) {
        d = { put: false, deleted: new Set() };
        this.dirty.set(write.turnId, d);
      }
      if (write.put) d.put = true;
      else d.deleted.add(write.seq);
    }
  }

  async current(): Promise<{ version: number; turns: Map<string, TurnPart>; loose: Call[] }> {
    const wanted = this.marked;
    while (this.applied < wanted) {
      this.updating ??= this.update().finally(() => {
        this.updating = undefined;
      });
      await this.updating;
    }
    return { version: this.version, turns: this.turns, loose: this.loose };
  }

  private async update(): Promise<void> {
    const upTo = this.marked;
    const all = this.all;
    const dirty = [...this.dirty];
    const loosePut = [...this.loosePut];
    const looseDeleted = [...this.looseDeleted];
    this.all = false;
    this.dirty.clear();
    this.loosePut.clear();
    this.looseDeleted.clear();
    try {
      if (all) {
        const part = await hotPart(this.hot);
        this.turns = part.turns;
        this.looseBySeq = new Map(part.loose.map((c) => [c.seq!, c]));
        this.loose = part.loose;
      } else {
        const turns = new Map(this.turns); // a view handed out keeps the map it was built from
        // a few reads at a time: LevelDB serves them on its thread pool (a compaction marks hundreds)
        // a turn whose every record was deleted (compaction moved it) is gone: no read
        const reads = dirty.filter(([turnId, d]) => !this.allDeleted(turns.get(turnId), d, turns, turnId));
        for (let i = 0; i < reads.length; i += REREAD_AT_ONCE)
          await Promise.all(reads.slice(i, i + REREAD_AT_ONCE).map(([t]) => this.reread(t, turns)));
        if (loosePut.length + looseDeleted.length > 0) await this.updateLoose(loosePut, looseDeleted);
        this.turns = turns;
      }
    } catch (err) {
      this.all = true; // the marks taken are lost: read everything next time
      throw err;
    }
    this.applied = upTo;
    this.version++;
  }

  /** Records without a turn: a delete drops its call, a put reads just that record. */
  private async updateLoose(puts: [number, Buffer][], deleted: number[]): Promise<void> {
    const bySeq = new Map(this.looseBySeq); // the list handed out stays as it was
    for (const seq of deleted) bySeq.delete(seq);
    for (let i = 0; i < puts.length; i += REREAD_AT_ONCE) {
      const batch = puts.slice(i, i + REREAD_AT_ONCE);
      const values = await this.hot.getMany(batch.map(([, key]) => key));
      batch.forEach(([seq, key], j) => {
        const value = values[j];
        if (value === undefined) return; // deleted since
        const [call] = callsOf([decodeRecordValue(value, key)]);
        if (call !== undefined) bySeq.set(seq, call);
      });
    }
    this.looseBySeq = bySeq;
    this.loose = [...bySeq.values()];
  }

  /** True (and the turn dropped from `turns`) when the write deleted every record the part holds. */
  private allDeleted(
    part: TurnPart | undefined,
    d: { put: boolean; deleted: Set<number> },
    turns: Map<string, TurnPart>,
    turnId: string,
  ): boolean {
    if (d.put || part?.seqs === undefined || !part.seqs.every((seq) => d.deleted.has(seq))) return false;
    turns.delete(turnId);
    return true;
  }

  private async reread(turnId: string, turns: Map<string, TurnPart>): Promise<void> {
    const records = [];
    for await (const r of this.hot.turn(turnId)) records.push(r);
    if (records.length === 0) turns.delete(turnId);
    else turns.set(turnId, turnPart(turnId, records, true));
  }
}
