/**
 * The hot tier's records acknowledged after a sequence number: what `tracetier tail` replays when a
 * client's cursor is older than the collector's memory of recent records (a restarted collector).
 * Sequence numbers are in no index, so this walks every record key (keys only: the sequence number ends
 * each one) and reads the values of those after the cursor. That is a scan of the hot tier, acceptable
 * for the rare reconnect it serves; a steady tail never gets here. It keeps only the newest `limit` keys
 * as it goes (never every key after the cursor), returns the values undecoded (the stream decodes them
 * a piece at a time as it sends), and stops when `signal` aborts (the client left).
 */
import { P_RECORD, prefixEnd, recordKeySeq } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";

/** A hot-tier record, undecoded (tiers/hot/values.ts `decodeRecordValue` reads it). */
export interface HotValue {
  seq: number;
  key: Buffer;
  value: Buffer;
}

export interface HotSince {
  /** The hot tier's records with `after < seq <= upTo`, in sequence order: the newest `limit` of them. */
  records: HotValue[];
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

export async function hotSince(
  hot: HotTier,
  after: number,
  upTo: number,
  limit: number,
  signal?: AbortSignal,
): Promise<HotSince> {
  const { kept, truncated } = await newestKeys(hot, after, upTo, limit, signal);
  const records: HotValue[] = [];
  for (let i = 0; i < kept.length; i += LOOKUP_BATCH) {
    signal?.throwIfAborted();
    const part = kept.slice(i, i + LOOKUP_BATCH);
    const values = await hot.getMany(part.map((f) => f.key));
    values.forEach((value, j) => {
      // gone since the key was listed (compacted or pruned meanwhile): counted as missing below
      if (value !== undefined) records.push({ ...part[j]!, value });
    });
  }
  return { records, missing: holes(after, upTo, records), truncated };
}

/**
 * The keys of the newest `limit` records in `(after, upTo]`, in seq order (keys are in no seq order).
 * At most about twice `limit` are held: past that the list is sorted and cut to the newest `limit`.
 */
async function newestKeys(
  hot: HotTier,
  after: number,
  upTo: number,
  limit: number,
  signal: AbortSignal | undefined,
): Promise<{ kept: { seq: number; key: Buffer }[]; truncated: boolean }> {
  let found: { seq: number; key: Buffer }[] = [];
  let count = 0;
  const cut = () => {
    found.sort((a, b) => a.seq - b.seq);
    if (found.length > limit) found = found.slice(found.length - limit);
  };
  const p = Buffer.of(P_RECORD);
  for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }, false)) {
    signal?.throwIfAborted();
    for (const [key] of batch) {
      const seq = recordKeySeq(key);
      if (seq <= after || seq > upTo) continue;
      count++;
      found.push({ seq, key });
      if (found.length >= Math.max(2 * limit, LOOKUP_BATCH)) cut();
    }
  }
  cut();
  return { kept: found, truncated: count > limit };
}

/** The ranges of `(after, upTo]` that no record's sequence number falls in (`records` in seq order). */
function holes(after: number, upTo: number, records: readonly { seq: number }[]): [number, number][] {
  const out: [number, number][] = [];
  let expected = after + 1;
  for (const r of records) {
    if (r.seq > expected) out.push([expected, r.seq - 1]);
    expected = r.seq + 1;
  }
  if (upTo >= expected) out.push([expected, upTo]);
  return out;
}
