/** Shared test fixtures: temporary store directories and small hand-made records. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { openStore, type StoreOptions, type TraceRecord, type TraceStore } from "../../src/index.js";
import { generateTurns } from "../../src/workload/generator.js";

const dirs: string[] = [];
const stores: TraceStore[] = [];

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tracetier-test-"));
  dirs.push(dir);
  return dir;
}

/** A store in a fresh directory (or `dir`), closed after the test if the test did not close it. */
export async function tempStore(
  opts: Partial<StoreOptions> = {},
): Promise<{ store: TraceStore; dir: string }> {
  const dir = opts.dir ?? tempDir();
  const store = await openStore({ ...opts, dir });
  stores.push(store);
  return { store, dir };
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function span(over: Partial<TraceRecord> & { spanId: string; timestamp: number }): TraceRecord {
  return { kind: "span-open", name: "step", extensionId: "ext", turnId: "turn-1", ...over } as TraceRecord;
}

export function log(msg: string, timestamp: number, over: Partial<TraceRecord> = {}): TraceRecord {
  return {
    kind: "log",
    level: "info",
    msg,
    timestamp,
    extensionId: "ext",
    turnId: "turn-1",
    ...over,
  } as TraceRecord;
}

/** One record of each kind with every optional field set (and one with only required fields). */
export function everyKind(): TraceRecord[] {
  return [
    {
      kind: "span-open",
      spanId: "s1",
      name: "agent.turn",
      timestamp: 1_700_000_000_000,
      extensionId: "ext",
      conversationId: "conv",
      turnId: "t",
      parentSpanId: "p0",
      attributes: { model: "m", tokens: 12, ratio: 0.5, ok: true, none: null, tags: ["a", 1, false, null] },
      links: [{ spanId: "x", turnId: "t0", reason: "retry-of", extra: { nested: [1, "two"] } }],
      body: "request body ✓ ü 😀",
    },
    {
      kind: "log",
      level: "warn",
      msg: "careful",
      timestamp: 1_700_000_000_001,
      extensionId: "ext",
      conversationId: "conv",
      turnId: "t",
      spanId: "s1",
      parentSpanId: "p0",
      attributes: {},
      body: "",
    },
    {
      kind: "span-close",
      spanId: "s1",
      name: "agent.turn",
      timestamp: 1_700_000_000_002,
      extensionId: "ext",
      conversationId: "conv",
      turnId: "t",
      parentSpanId: "p0",
      durationMs: 2.5,
      status: "error",
      links: [],
      attributes: { "http.status": 500 },
      body: "x".repeat(5000),
    },
    {
      kind: "log",
      level: "debug",
      msg: "bare",
      timestamp: 1_700_000_000_003,
      extensionId: "ext",
      turnId: "t",
    },
  ];
}

const HOUR = 3_600_000;

/**
 * A realistic workload spread over several UTC days: conversation c is shifted by c × `hoursApart`
 * hours, so the cold tier gets several date partitions.
 */
export function multiDayTurns(
  conversations: number,
  turnsPerConversation: number,
  hoursApart = 9,
): TraceRecord[][] {
  const turns = [
    ...generateTurns({ conversations, turnsPerConversation, seed: 11, startTime: Date.UTC(2026, 9, 1) }),
  ];
  const convs = [...new Set(turns.map((t) => t[0]!.conversationId))];
  return turns.map((t) =>
    t.map((r) => ({ ...r, timestamp: r.timestamp + convs.indexOf(r.conversationId) * hoursApart * HOUR })),
  );
}
