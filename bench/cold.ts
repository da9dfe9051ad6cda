/**
 * The cold-tier half of `npm run bench`, run in its own process by run.ts (so its peak RSS is the
 * compaction's). Arguments: <scratch dir> <records>. Prints JSON.
 *
 * Workload: a month (30 UTC days) of agent turns, about 20 records each, with attributes, links and
 * short bodies (so bodyHash is set as it is for LLM records). Bodies are short to keep the ingest part
 * quick: compaction moves metadata only, bodies stay in the body store.
 */
import { openStore, type TraceRecord } from "../src/index.js";
import { Random } from "../src/workload/random.js";
import { latency, timed } from "./stats.js";

const [dir, countArg] = process.argv.slice(2) as [string, string];
const COUNT = Number(countArg);
const DAY = 86_400_000;
const START = Date.UTC(2026, 8, 1);

function* turns(): Generator<TraceRecord[]> {
  const rnd = new Random(5);
  const perDay = Math.ceil(COUNT / 20 / 30);
  for (let d = 0; d < 30; d++) {
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
          body: `{"req":"${rnd.hex(40)}"}`,
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
          body: `{"res":"${rnd.hex(40)}"}`,
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

const mode = process.argv[4] ?? "all";

async function main(): Promise<void> {
  if (mode === "compact-only") {
    const s = await openStore({ dir });
    const t = performance.now();
    const r = await s.compact({ now: START + 40 * DAY });
    process.stdout.write(
      `${JSON.stringify({ ...r, rate: r.recordsMoved / ((performance.now() - t) / 1000), maxRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
    );
    await s.close();
    return;
  }
  const store = await openStore({ dir, durability: "none" });
  const turnIds: string[] = [];
  let batch: TraceRecord[] = [];
  let n = 0;
  for (const t of turns()) {
    turnIds.push(t[0]!.turnId!);
    batch.push(...t);
    n += t.length;
    if (batch.length >= 2000) {
      await store.insertRecords(batch);
      batch = [];
    }
  }
  await store.insertRecords(batch);
  if (mode === "prepare-only") {
    await store.close();
    return;
  }
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  let moved = 0;
  const secs = await timed(async () => {
    moved = (await store.compact({ now: START + 40 * DAY })).recordsMoved;
  });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const stats = await store.stats();
  const coldBytes = await coldFileBytes(store);
  const pick = (i: number) => turnIds[(i * 7919) % turnIds.length]!;
  const getTurn = await latency(1000, 100, (i) => store.getTurn(pick(i), { bodies: false }));
  const hour = (i: number) => START + ((i * 7919) % (29 * 24)) * 3_600_000;
  const query = await latency(300, 30, (i) =>
    store.query({ from: hour(i), to: hour(i) + 3_600_000, bodies: false }),
  );
  const hourRows = (await store.query({ from: hour(0), to: hour(0) + 3_600_000, bodies: false })).length;
  await store.close();
  process.stdout.write(
    JSON.stringify({
      records: n,
      moved,
      seconds: secs,
      rate: moved / secs,
      rssBeforeMB: rssBefore / 2 ** 20,
      peakRssMB: peak / 2 ** 20,
      partitions: stats.coldPartitions,
      coldBytesPerRecord: coldBytes / stats.coldRecords,
      getTurn,
      query,
      hourRows,
    }),
  );
}

async function coldFileBytes(store: { stats(): Promise<unknown> }): Promise<number> {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  void store;
  const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    files: { bytes: number }[];
  };
  return manifest.files.reduce((s, f) => s + f.bytes, 0);
}

void main();
