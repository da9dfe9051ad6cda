/**
 * A small script to profile getTurn with bodies (not part of `npm run bench`):
 *   npx tsx bench/read-profile.ts build <dir> <agent|diverse> [conversations]   ingest a workload once
 *   node --cpu-prof --import tsx bench/read-profile.ts read <dir> [passes] [chunkCacheBytes]
 * `read` opens the store, reads every turn once in order (first reads), then `passes` more passes in a
 * scattered order (steady), and prints p50/p99 of each phase.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../src/index.js";
import { generateTurns, type WorkloadProfile } from "../src/workload/generator.js";
import { latency } from "./stats.js";

const [cmd, dir, a, b] = process.argv.slice(2) as [string, string, string?, string?];

async function build(profile: WorkloadProfile, conversations: number): Promise<void> {
  const store = await openStore({ dir, durability: "none" });
  const turnIds: string[] = [];
  for (const t of generateTurns({ conversations, turnsPerConversation: 12, seed: 1, profile })) {
    turnIds.push(t[0]!.turnId!);
    await store.insertRecords(t);
  }
  await store.close();
  writeFileSync(join(dir, "turn-ids.json"), JSON.stringify(turnIds));
}

async function read(passes: number, cache: number | undefined): Promise<void> {
  const turnIds = JSON.parse(readFileSync(join(dir, "turn-ids.json"), "utf8")) as string[];
  const store = await openStore({ dir, chunkCacheBytes: cache });
  const first = await latency(turnIds.length, 0, (i) => store.getTurn(turnIds[i]!));
  const n = turnIds.length * passes;
  const steady = await latency(n, 0, (i) => store.getTurn(turnIds[(i * 7919) % turnIds.length]!));
  await store.close();
  const f = (x: { p50: number; p99: number }) => `p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)}`;
  process.stdout.write(`first: ${f(first)}; steady (${n}): ${f(steady)}\n`);
}

if (cmd === "build") await build((a ?? "agent") as WorkloadProfile, Number(b ?? 15));
else await read(Number(a ?? 3), b === undefined ? undefined : Number(b));
