/** Retention's public shapes and the seed's defaults. */
import { InvalidOptionError } from "../base/errors.js";

export interface RetentionPolicy {
  /** Records older than `now - maxAgeMs` are deleted (cold files a whole UTC hour at a time, once the hour is past it). */
  maxAgeMs?: number;
  /** Bodies whose newest referencing record is older than `now - maxBodyAgeMs` are evicted. */
  maxBodyAgeMs?: number;
  /** The oldest cold hours are dropped until the cold tier's bytes on disk are at or under this. */
  maxColdBytes?: number;
  /** Bodies are evicted, oldest newest-reference first, until the stored body bytes are at or under this. */
  maxTotalBodyBytes?: number;
}

export interface PruneOptions {
  /** The clock (ms since the epoch). Default `Date.now()`. */
  now?: number;
  /**
   * Called when the run holds the maintenance lock and starts (after any run in progress ended). If it
   * throws, the run does not start and the call rejects with its error.
   */
  onStart?: () => void;
  /** Called when the run has ended, done or failed, before the maintenance lock passes on. */
  onEnd?: () => void;
}

export interface GcOptions {
  /**
   * Called when the run holds the maintenance lock and starts (after any run in progress ended). If it
   * throws, the run does not start and the call rejects with its error.
   */
  onStart?: () => void;
  /** Called when the run has ended, done or failed, before the maintenance lock passes on. */
  onEnd?: () => void;
}

export interface PruneResult {
  /** Cold partitions (dates) that no file is left in. */
  partitionsDropped: number;
  /** Cold files dropped: whole UTC hours, by age (the hour ended by the cutoff) or by size. */
  filesDropped: number;
  /** Records deleted: the rows of dropped cold files plus the hot records past `maxAgeMs`. */
  recordsDeleted: number;
  /** Bodies deleted: orphans (no record left refers to them) and evicted ones. */
  bodiesDeleted: number;
  /** Of those, bodies evicted by the payload clock or the body cap (their records stay, `bodyEvicted`). */
  bodiesEvicted: number;
  chunksDeleted: number;
  /** Bytes the file system got back: dropped files as allocated, plus what the hot tier's directory shrank by. */
  bytesReclaimed: number;
  /**
   * Where the time went, in ms: partition drops; hot deletes by age, with the body GC's mark (one pass
   * over the hot records; without `maxAgeMs` the mark counts in `bodiesMs`); the rest of body eviction
   * and GC; the LevelDB rewrite.
   */
  timings: { dropMs: number; hotMs: number; bodiesMs: number; reclaimMs: number };
}

export interface GcResult {
  bodiesDeleted: number;
  chunksDeleted: number;
  bytesReclaimed: number;
}

const DAY_MS = 86_400_000;

/** The seed's defaults: 7 days of records, 256 MiB of bodies. */
export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  maxAgeMs: 7 * DAY_MS,
  maxTotalBodyBytes: 256 * 1024 * 1024,
});

/** The fields of a `RetentionPolicy`. */
export const POLICY_FIELDS = ["maxAgeMs", "maxBodyAgeMs", "maxColdBytes", "maxTotalBodyBytes"] as const;
const FIELDS = POLICY_FIELDS;

export function checkPolicy(policy: RetentionPolicy, opts: PruneOptions): void {
  if (typeof policy !== "object" || policy === null)
    throw new InvalidOptionError("policy", "must be an object");
  for (const f of FIELDS) {
    const v = policy[f];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
      throw new InvalidOptionError(`policy.${f}`, "must be a finite number, 0 or more");
    }
  }
  if (opts.now !== undefined && !Number.isFinite(opts.now)) {
    throw new InvalidOptionError("now", "must be a number of ms since the epoch");
  }
}
