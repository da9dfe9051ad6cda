/**
 * A month (30 UTC days from 2026-09-01) of agent turns for the cold-tier and retention benchmarks:
 * about 20 records a turn, with attributes, links, and two short bodies a turn (the first request,
 * the last response), so that a month is about 1.1M records and 110k bodies. `turnsOver` spreads the
 * same kind of turns over any number of days (a year: 365 daily partitions, thinner ones).
 */
import type { TraceRecord } from "../src/index.js";
import { Random } from "../src/workload/random.js";

export const DAY = 86_400_000;
export const MONTH_START = Date.UTC(2026, 8, 1);

export function monthOfTurns(count: number): Generator<TraceRecord[]> {
  return turnsOver(count, 30);
}

/** About `count` records (20 a turn) spread evenly over `days` UTC days from MONTH_START. */
export function* turnsOver(count: number, days: number): Generator<TraceRecord[]> {
  const START = MONTH_START;
  const rnd = new Random(5);
  const perDay = Math.ceil(count / 20 / days);
  for (let d = 0; d < days; d++) {
    for (let t = 0; t < perDay; t++) {
      const turnId = rnd.hex(32);
      const conversationId = `conv-${rnd.hex(8)}`;
      let ts = START + d * DAY + Math.floor((t / perDay) * DAY);
      const base = { extensionId: rnd.pick(["coder", "researcher", "support-bot"]), turnId, conversationId };
      const root = rnd.hex(16);
      const out: TraceRecord[] = [
        { kind: "span-open", spanId: root, name: "agent.turn", timestamp: ts, ...base },
      ];
      for (let s = 0; s < 4; s++) {
        const spanId = rnd.hex(16);
        const attrs = {
          "gen_ai.request.model": "claude-sonnet-4-5",
          "gen_ai.usage.input_tokens": rnd.int(100, 50_000),
        };
        out.push({
          kind: "span-open",
          spanId,
          parentSpanId: root,
          name: "llm.request",
          timestamp: ++ts,
          attributes: attrs,
          ...(s === 0 ? { body: `{"req":"${rnd.hex(40)}"}` } : {}),
          ...base,
        });
        out.push({ kind: "log", level: "debug", msg: "sending request", spanId, timestamp: ++ts, ...base });
        ts += rnd.int(300, 8000);
        out.push({
          kind: "span-close",
          spanId,
          parentSpanId: root,
          name: "llm.request",
          durationMs: rnd.int(300, 8000),
          status: "ok",
          timestamp: ts,
          ...(s === 3 ? { body: `{"res":"${rnd.hex(40)}"}` } : {}),
          ...base,
        });
        const tool = rnd.hex(16);
        out.push({
          kind: "span-open",
          spanId: tool,
          parentSpanId: root,
          name: "tool.read_file",
          timestamp: ++ts,
          links: [{ spanId, reason: "requested-by" }],
          ...base,
        });
        ts += rnd.int(5, 500);
        out.push({
          kind: "span-close",
          spanId: tool,
          parentSpanId: root,
          name: "tool.read_file",
          durationMs: rnd.int(5, 500),
          status: rnd.chance(0.05) ? "error" : "ok",
          timestamp: ts,
          ...base,
        });
      }
      out.push({
        kind: "span-close",
        spanId: root,
        name: "agent.turn",
        durationMs: ts - out[0]!.timestamp,
        status: "ok",
        timestamp: ++ts,
        ...base,
      });
      yield out;
    }
  }
}
