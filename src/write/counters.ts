/**
 * Counters kept under `m | state` in the hot tier, written in the same atomic batch as the records they
 * count. `appliedSeq` is the last sequence number whose batch is in the hot tier: replay skips frames at
 * or below it, so re-applying a frame after a crash never counts it twice.
 */

import { metaKey } from "../../tiers/hot/keys.js";
import type { BatchOp, HotReader } from "../../tiers/hot/tier.js";
import { CorruptStoreError } from "../base/errors.js";
import { decodeStored, encode } from "../base/msgpack.js";
import type { Batch } from "./batch.js";

export const STATE_VERSION = 1;
const STATE_KEY = metaKey("state");

export interface Counters {
  appliedSeq: number;
  hotRecords: number;
  bodies: number;
  bodyBytesOriginal: number;
  bodyBytesStored: number;
}

export const EMPTY_COUNTERS: Readonly<Counters> = {
  appliedSeq: 0,
  hotRecords: 0,
  bodies: 0,
  bodyBytesOriginal: 0,
  bodyBytesStored: 0,
};

/** The fields of the stored value after its version, in order. */
const FIELDS = ["appliedSeq", "hotRecords", "bodies", "bodyBytesOriginal", "bodyBytesStored"] as const;
const WHAT = "the store's counters (m·state)";

/**
 * Every field is checked: a string would make `nextSeq` a string ("x1"), a NaN appliedSeq would make
 * replay re-apply (and count) every frame again.
 */
export async function loadCounters(hot: HotReader): Promise<Counters> {
  const raw = await hot.get(STATE_KEY);
  if (raw === undefined) return { ...EMPTY_COUNTERS };
  const v = decodeStored(raw, WHAT);
  if (!Array.isArray(v) || v[0] !== STATE_VERSION)
    throw new CorruptStoreError(`${WHAT} has an unknown version or layout`);
  if (v.length !== FIELDS.length + 1)
    throw new CorruptStoreError(`${WHAT} holds ${v.length - 1} fields, not ${FIELDS.length}`);
  const c = { ...EMPTY_COUNTERS };
  FIELDS.forEach((name, i) => {
    const n: unknown = v[i + 1];
    if (!(typeof n === "number" && Number.isSafeInteger(n) && n >= 0)) {
      throw new CorruptStoreError(`${WHAT}: ${name} is ${describe(n)}, not a whole number 0 or more`);
    }
    c[name] = n;
  });
  return c;
}

function describe(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return JSON.stringify(v.slice(0, 40));
  return v === null ? "null" : typeof v;
}

/** The counters after `batch` is applied (pure: the caller adopts them once the write succeeded). */
export function countBatch(c: Counters, batch: Batch): Counters {
  let original = 0;
  let stored = 0;
  for (const b of batch.bodies.bodies) {
    original += b.originalBytes;
    stored += b.manifest.length;
  }
  for (const ch of batch.bodies.chunks) stored += ch.stored.length;
  return {
    appliedSeq: Math.max(c.appliedSeq, batch.lastSeq),
    hotRecords: c.hotRecords + batch.records.length,
    bodies: c.bodies + batch.bodies.bodies.length,
    bodyBytesOriginal: c.bodyBytesOriginal + original,
    bodyBytesStored: c.bodyBytesStored + stored,
  };
}

export function countersOp(c: Counters): BatchOp {
  const value = encode([
    STATE_VERSION,
    c.appliedSeq,
    c.hotRecords,
    c.bodies,
    c.bodyBytesOriginal,
    c.bodyBytesStored,
  ]);
  return { type: "put", key: STATE_KEY, value };
}
