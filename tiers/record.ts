/**
 * A stored record as both tiers hold and exchange it: the record without its body, its id (the stable
 * id), the sequence number the WAL gave it (insertion order among equal timestamps) and its body's
 * SHA-256 (the body itself lives in the body store, shared by both tiers).
 */
import type { TraceRecord } from "../src/types.js";

export interface TierRecord {
  id: string;
  seq: number;
  record: Omit<TraceRecord, "body">;
  bodyHash: Uint8Array | null;
}
