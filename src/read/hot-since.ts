/**
 * The hot tier's records acknowledged after a sequence number: what `tracetier tail` replays when a
 * client's cursor is older than the collector's memory of recent records (a restarted collector).
 * Sequence numbers are in no index, so this walks every record key (keys only: the sequence number ends
 * each one) and reads the values of those after the cursor. That is a scan of the hot tier, acceptable
 * for the rare reconnect it serves; a steady tail never gets here.
 */
import { P_RECORD, prefixEnd, recordKeySeq } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { decodeRecordValue, type HotRecord } from "../../tiers/hot/values.js";

export interface HotSince {
  /** The hot tier's records with `after < seq <= upTo`, in sequence order: the newest `limit` of them. */
  records: HotRecord[];
  /**
   * Sequence numbers in `(after, upTo]` that the hot tier does not hold, as `[first, last]` ranges: moved
   * to the cold tier, pruned, never stored (a batch that failed), or over `limit`.
   */
  missing: [number, number][];
  /** True when more than `limit` records were found: the oldest of them are among `missing`. */
  truncated: boolean;
}

/** Values read per getMany. */
const LOOKUP_BATCH = 2048;

export async function hotSince(hot: HotTier, after: number, upTo: number, limit: number): Promise<HotSince> {
  const found: { seq: number; key: Buffer }[] = [];
  const p = Buffer.of(P_RECORD);
  for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }, false)) {
    for (const [key] of batch) {
      const seq = recordKeySeq(key);
      if (seq > after && seq <= upTo) found.push({ seq, key });
    }
  }
  found.sort((a, b) => a.seq - b.seq);
  const truncated = found.length > limit;
  const kept = truncated ? found.slice(found.length - limit) : found;
  const records: HotRecord[] = [];
  for (let i = 0; i < kept.length; i += LOOKUP_BATCH) {
    const part = kept.slice(i, i + LOOKUP_BATCH);
    const values = await hot.getMany(part.map((f) => f.key));
    values.forEach((v, j) => {
      // gone since the key was listed (compacted or pruned meanwhile): counted as missing below
      if (v !== undefined) records.push(decodeRecordValue(v, part[j]!.key));
    });
  }
  return { records, missing: holes(after, upTo, records), truncated };
}

/** The ranges of `(after, upTo]` that no record's sequence number falls in (`records` in seq order). */
function holes(after: number, upTo: number, records: readonly HotRecord[]): [number, number][] {
  const out: [number, number][] = [];
  let expected = after + 1;
  for (const r of records) {
    if (r.seq > expected) out.push([expected, r.seq - 1]);
    expected = r.seq + 1;
  }
  if (upTo >= expected) out.push([expected, upTo]);
  return out;
}
