/**
 * Deterministic batches for crash tests: batch b always holds the same records, so a test knows what
 * every acknowledged batch must have stored. Bodies grow along a few conversations (chunk sharing),
 * some repeat exactly, and some are small (inline).
 */
import type { TraceRecord } from "../../src/index.js";

const PARAGRAPH = "The agent read the file, ran the tests, and wrote a patch for the failing case. ";

export function crashBatch(b: number): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let i = 0; i < 20; i++) {
    const n = b * 20 + i;
    const turnId = `turn-${n % 37}`;
    const history = PARAGRAPH.repeat(10 + (n % 200));
    const rec: TraceRecord =
      i % 4 === 0
        ? {
            kind: "log",
            level: "info",
            msg: `batch ${b} record ${i}`,
            timestamp: 1_000_000 + n,
            extensionId: "crash",
            turnId,
          }
        : {
            kind: "span-open",
            spanId: `span-${n}`,
            name: "llm.request",
            timestamp: 1_000_000 + n,
            extensionId: "crash",
            turnId,
            conversationId: `conv-${n % 5}`,
            body: i % 4 === 1 ? `${history}#${n % 7}` : i % 4 === 2 ? history : `short ${n}`,
          };
    out.push(rec);
  }
  return out;
}

const DAY = 86_400_000;

/**
 * Batches for the compaction crash test: batch b lands in one of five UTC days of October 2026 (so
 * compaction writes to old partitions again and again, and merges small files), with bodies.
 */
export function coldBatch(b: number): TraceRecord[] {
  const day = Date.UTC(2026, 9, 1) + (b % 5) * DAY;
  return crashBatch(b).map((r, i) => ({ ...r, timestamp: day + b * 100 + i, turnId: `cold-turn-${b % 11}` }));
}

/** The retention crash test's clock: iteration i prunes as if it were this plus i × 6 hours. */
export const RETENTION_START = Date.UTC(2026, 9, 3);
export const RETENTION_STEP = 6 * 3_600_000;
/** The policy the retention loop applies (records: 2 days; bodies: 1 day). */
export const RETENTION_POLICY = { maxAgeMs: 2 * DAY, maxBodyAgeMs: DAY };

/**
 * Batches the retention loop inserts: far in the future of its clock (never pruned, bodies never
 * evicted), with bodies that share chunks with each other.
 */
export function retentionBatch(b: number): TraceRecord[] {
  return crashBatch(b).map((r, i) => ({
    ...r,
    timestamp: Date.UTC(2030, 0, 1) + b * 100 + i,
    turnId: `kept-${b % 7}`,
  }));
}

const HOUR = 3_600_000;

/**
 * The torture rounds (test/support/torture.ts): batch b's 10 records in one hour, from `baseTs` on,
 * spread over a dozen turns that therefore reach across many cold files and partitions. Bodies are
 * smaller than crashBatch's (a round's check reads every one of them) but still share chunks.
 */
export function tortureBatch(b: number, baseTs: number): TraceRecord[] {
  return crashBatch(b)
    .slice(0, 10)
    .map((r, i) => {
      const n = b * 10 + i;
      const long = `${PARAGRAPH.repeat(4 + (n % 50))}${i % 3 === 0 ? `#${n}` : ""}`;
      const body = r.body === undefined ? undefined : i % 4 === 3 ? `short ${n}` : long;
      return { ...r, timestamp: baseTs + i, turnId: tortureTurn(n), ...(body === undefined ? {} : { body }) };
    });
}

export const TORTURE_TURNS = 5;
const tortureTurn = (n: number) => `tt-${n % TORTURE_TURNS}`;
export const tortureTurnIds = (): string[] => Array.from({ length: TORTURE_TURNS }, (_, t) => tortureTurn(t));

/** Where a torture store's clock starts. */
export const TORTURE_START = Date.UTC(2026, 9, 1);
/** Records: 1 day; bodies: 12 hours. A store in "cap" mode also caps stored body bytes. */
export const TORTURE_POLICY = { maxAgeMs: DAY, maxBodyAgeMs: DAY / 2 };
export const TORTURE_BODY_CAP = 256 * 1024;

/**
 * A batch's first timestamp: inside the hour `hoursBack` hours before `clock`, so that late batches
 * land in hours compaction already wrote (small files pile up there, and merges follow).
 */
export function tortureBase(b: number, clock: number, hoursBack: number): number {
  const hour = Math.floor((clock - hoursBack * HOUR) / HOUR) * HOUR;
  return hour + (b % 3000) * 1000;
}
