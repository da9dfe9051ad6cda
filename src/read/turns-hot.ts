/** The hot tier's part of the turns list, kept current as writes touch its turns (turns.ts). */
import type { HotTier } from "../../tiers/hot/tier.js";
import { hotPart, type TurnPart, turnPart } from "./turn-parts.js";
import { type Call, callsOf } from "./turn-summary.js";

/** Past this many turns written since the last request, the hot part is read again whole. */
const FULL_SCAN_TURNS = 2000;
/** Marked turns re-read at once. */
const REREAD_AT_ONCE = 16;

/**
 * The hot tier's turns, kept current: writes mark the turns they touch (HotTier.onTurnWrite), and
 * `current()` re-reads those before it answers. A request waits only for the marks made before it
 * started (`marked`), so a steady stream of writes cannot keep it waiting.
 */
export class HotTurns {
  private readonly hot: HotTier;
  private turns = new Map<string, TurnPart>();
  private loose: Call[] = [];
  /** Turns written since the last update: whether a record was put, and the seqs deleted. */
  private readonly dirty = new Map<string, { put: boolean; deleted: Set<number> }>();
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
    hot.onTurnWrite = (write) => {
      this.marked++;
      if (write === undefined || this.dirty.size >= FULL_SCAN_TURNS) {
        this.all = true;
        this.dirty.clear();
      } else if (!this.all) {
        let d = this.dirty.get(write.turnId);
        if (d === undefined) {
          d = { put: false, deleted: new Set() };
          this.dirty.set(write.turnId, d);
        }
        if (write.put) d.put = true;
        else d.deleted.add(write.seq);
      }
    };
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
    this.all = false;
    this.dirty.clear();
    try {
      if (all) {
        const part = await hotPart(this.hot);
        this.turns = part.turns;
        this.loose = part.loose;
      } else {
        const turns = new Map(this.turns); // a view handed out keeps the map it was built from
        // a few reads at a time: LevelDB serves them on its thread pool (a compaction marks hundreds)
        // a turn whose every record was deleted (compaction moved it) is gone: no read
        const reads = dirty.filter(([turnId, d]) => !this.allDeleted(turns.get(turnId), d, turns, turnId));
        for (let i = 0; i < reads.length; i += REREAD_AT_ONCE)
          await Promise.all(reads.slice(i, i + REREAD_AT_ONCE).map(([t]) => this.reread(t, turns)));
        this.turns = turns;
      }
    } catch (err) {
      this.all = true; // the marks taken are lost: read everything next time
      throw err;
    }
    this.applied = upTo;
    this.version++;
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
    if (turnId === "") this.loose = callsOf(records);
    else if (records.length === 0) turns.delete(turnId);
    else turns.set(turnId, turnPart(turnId, records, true));
  }
}
