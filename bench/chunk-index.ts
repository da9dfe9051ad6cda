/**
 * The hot chunk index's costs (issue 14): durable ingest (batches of 500, as bench/run.ts) with the
 * index (its worker thread, or inline on the main thread) ÷ without it (`chunkIndexSettings.mode =
 * "off"`, or TRACETIER_CHUNK_INDEX=off for a whole process), rounds alternating; the index's lag after
 * the last insert; and the index's bytes (segments `x`, `q` keys, `m·index`; keys and values)
 * ÷ the store's stored body bytes (stats().bodyBytesStored).
 *
 *   tsx bench/chunk-index.ts [--profile agent,diverse] [--rounds 2] [--modes worker,inline] [--conversations N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { type ChunkIndex, type ChunkIndexMode, chunkIndexSettings } from "../src/search/chunks/index.js";
import { INDEX_KEY } from "../src/search/chunks/keys.js";
import { generateTurns, type WorkloadProfile } from "../src/workload/generator.js";
import { P_DOC_BODY, P_SEGMENT, prefixEnd } from "../tiers/hot/keys.js";
import type { HotTier } from "../tiers/hot/tier.js";

const BATCH = 500;
const { values } = parseArgs({
  options: {
    profile: { type: "string", default: "agent,diverse" },
    rounds: { type: "string", default: "2" },
    modes: { type: "string", default: "worker" },
    /** Conversations of 12 turns (default 60 agent, 30 diverse, as bench/run.ts). */
    conversations: { type: "string" },
  },
});

interface Run {
  secs: number;
  /** CPU seconds of the process (every thread) during the ingest: less noisy than wall time on a shared machine. */
  cpu: number;
  lagMs: number;
  indexBytes: Record<string, number>;
  bodyBytesStored: number;
}

async function ingest(records: TraceRecord[], mode: ChunkIndexMode): Promise<Run> {
  chunkIndexSettings.mode = mode;
  const dir = mkdtempSync(join(tmpdir(), "tt-chunk-bench-"));
  try {
    const store = await openStore({ dir });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    const index = internal(store).chunkIndex;
    await index.caughtUp();
    const lagMs = performance.now() - t1;
    await index.flush();
    const { bodyBytesStored } = await store.stats();
    const indexBytes = await bytesOf(internal(store).hot);
    await store.close();
    return { secs: (t1 - t0) / 1000, cpu: (c1.user + c1.system) / 1e6, lagMs, indexBytes, bodyBytesStored };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function internal(store: TraceStore): { chunkIndex: ChunkIndex; hot: HotTier } {
  return store as unknown as { chunkIndex: ChunkIndex; hot: HotTier };
}

async function bytesOf(hot: HotTier): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, prefix] of [
    ["x", P_SEGMENT],
    ["q", P_DOC_BODY],
  ] as const) {
    const p = Buffer.of(prefix);
    let n = 0;
    for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }))
      for (const [k, v] of batch) n += k.length + v.length;
    out[name] = n;
  }
  out.m = INDEX_KEY.length + ((await hot.get(INDEX_KEY))?.length ?? 0);
  return out;
}

async function main(): Promise<void> {
  const rounds = Number(values.rounds);
  const modes = values.modes!.split(",") as ChunkIndexMode[];
  for (const profile of values.profile!.split(",") as WorkloadProfile[]) {
    const conversations = Number(values.conversations ?? (profile === "diverse" ? 30 : 60));
    const records = [...generateTurns({ conversations, turnsPerConversation: 12, seed: 1, profile })].flat();
    console.log(`${profile}: ${records.length} records`);
    const totals = new Map<string, number>();
    for (let r = 0; r < rounds; r++) {
      // the order alternates, so that a machine getting busier or quieter favours neither
      const order: ChunkIndexMode[] = r % 2 === 0 ? ["off", ...modes] : [...modes, "off"];
      const runs = new Map<ChunkIndexMode, Run>();
      for (const mode of order) {
        const run = await ingest(records, mode);
        runs.set(mode, run);
        totals.set(mode, (totals.get(mode) ?? 0) + run.secs);
      }
      const off = runs.get("off")!;
      console.log(
        `  round ${r} off: ${(records.length / off.secs).toFixed(0)} records/s, cpu ${off.cpu.toFixed(2)} s`,
      );
      for (const mode of modes) {
        const on = runs.get(mode)!;
        const total = Object.values(on.indexBytes).reduce((a, b) => a + b, 0);
        const parts = Object.entries(on.indexBytes)
          .map(([k, v]) => `${k} ${(v / on.bodyBytesStored).toFixed(3)}`)
          .join(", ");
        console.log(
          `  round ${r} ${mode}: ${(records.length / on.secs).toFixed(0)} records/s, ratio ${(off.secs / on.secs).toFixed(3)}, cpu ${on.cpu.toFixed(2)} s (÷ off ${(on.cpu / off.cpu).toFixed(3)}), lag ${on.lagMs.toFixed(0)} ms; index ${total} B ÷ stored body ${on.bodyBytesStored} B = ${(total / on.bodyBytesStored).toFixed(3)} (${parts})`,
        );
      }
    }
    for (const mode of modes)
      console.log(
        `  ${profile} ${mode}: ingest with ÷ without over ${rounds} rounds (total times) = ${(totals.get("off")! / totals.get(mode)!).toFixed(3)}`,
      );
  }
}

await main();
