/**
 * A source's part of the turns list: what one cold file, or the hot tier, holds of each turn, summed
 * as if the source held the whole turn (TurnSummary, and its LLM calls). A turn held by one source
 * only is exactly its part; a turn spread over several (an hour boundary between files, late records
 * in the hot tier, a record in both tiers mid-compaction) is recomputed from its records (turns.ts).
 */
import { P_RECORD, parseRecordKey, prefixEnd } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { decodeRecordValue } from "../../tiers/hot/values.js";
import type { TurnSummary } from "../types.js";
import { type Call, callsOf, summarize, type Thin } from "./turn-summary.js";

/** A record's place in a turn's (timestamp, seq) order. */
export interface At {
  ts: number;
  seq: number;
}

export interface TurnPart {
  summary: TurnSummary;
  calls: Call[];
  /** Its first record's place (parts merge their extension by it), and its first with a conversation's. */
  first: At;
  conversationAt?: At;
  /** The hot tier's parts only: the seqs of its records (a delete of them all needs no read). */
  seqs?: number[];
}

export interface SourcePart {
  turns: Map<string, TurnPart>;
  /** The LLM calls of records without a turn. */
  loose: Call[];
}

/** Builds a part from records that arrive grouped by turn, each group in (timestamp, seq) order. */
export class PartBuilder {
  private readonly part: SourcePart = { turns: new Map(), loose: [] };
  private turnId: string | undefined;
  private group: Thin[] = [];
  private readonly withSeqs: boolean;

  constructor(withSeqs = false) {
    this.withSeqs = withSeqs;
  }

  add(turnId: string, r: Thin): void {
    if (turnId !== this.turnId) this.flush();
    this.turnId = turnId;
    this.group.push(r);
  }

  private flush(): void {
    const turnId = this.turnId;
    const group = this.group;
    this.group = [];
    if (turnId === undefined || group.length === 0) return;
    if (turnId === "") {
      // records without a turn: each its own call at most (callsOf does not join them by span)
      this.part.loose.push(...callsOf(group));
      return;
    }
    // both sources give a turn's records as one run (cold rows and hot keys sort by turn first)
    this.part.turns.set(turnId, turnPart(turnId, group, this.withSeqs));
  }

  finish(): SourcePart {
    this.flush();
    return this.part;
  }
}

export function turnPart(turnId: string, records: readonly Thin[], withSeqs: boolean): TurnPart {
  const first = records[0]!;
  const part: TurnPart = {
    summary: summarize(turnId, records),
    calls: callsOf(records),
    first: { ts: first.record.timestamp, seq: first.seq },
  };
  const named = records.find((r) => r.record.conversationId !== undefined);
  if (named !== undefined) part.conversationAt = { ts: named.record.timestamp, seq: named.seq };
  if (withSeqs) part.seqs = records.map((r) => r.seq);
  return part;
}

/**
 * The hot tier's part: its records in key order (grouped by turn, each turn in (timestamp, seq)
 * order), read a page at a time and decoded. Keys, not the time index: a turn is one key range.
 */
export async function hotPart(hot: HotTier): Promise<SourcePart> {
  const builder = new PartBuilder(true);
  const p = Buffer.of(P_RECORD);
  for await (const page of hot.entries({ gte: p, lt: prefixEnd(p) })) {
    for (const [key, value] of page) {
      const r = decodeRecordValue(value, key);
      builder.add(parseRecordKey(key).turnId, r);
    }
  }
  return builder.finish();
}
