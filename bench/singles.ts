/**
 * The single-record row of `bench/run.ts` alone, for profiling (`node --cpu-prof --import tsx
 * bench/singles.ts`): 32 concurrent one-record callers, then batches of 500, on the same records
 * (the first 6000 of the generated workload, as in run.ts), each into a fresh store. Prints both rates,
 * their ratio and the WAL's fsync count of each run. `--rounds N` repeats the pair.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { openStore, type TraceRecord } from "../src/index.js";
import { generateTurns } from "../src/workload/generator.js";
import { cleanup, fmt, scratch, timed } from "./stats.js";

const argv = process.argv.slice(2);
const rounds = argv.includes("--rounds") ? Number(argv[argv.indexOf("--rounds") + 1]) : 1;
/** `--only single` or `--only batch`: one of the two runs (for a profile of it alone). */
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
/** `--profile FILE`: a CPU profile of the measured runs only (not of generating the records). */
const profile = argv.includes("--profile") ? argv[argv.indexOf("--profile") + 1] : undefined;
const CONCURRENT = 32;
const BATCH = 500;

interface Run {
  rate: number;
  syncs: number;
  /** CPU seconds of this process (all threads) per wall second of the run. */
  cpu: number;
  /** The main thread's event-loop utilization: the share of the run it was busy. */
  elu: number;
}

async function measured(fn: () => Promise<unknown>): Promise<{ secs: number; cpu: number; elu: number }> {
  const before = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const secs = await timed(fn);
  const used = process.cpuUsage(before);
  const { utilization } = performance.eventLoopUtilization(loop);
  return { secs, cpu: (used.user + used.system) / 1e6 / secs, elu: utilization };
}

async function concurrent(records: TraceRecord[]): Promise<Run> {
  const store = await openStore({ dir: scratch("tt-single") });
  let next = 0;
  const { secs, cpu, elu } = await measured(() =>
    Promise.all(
      Array.from({ length: CONCURRENT }, async () => {
        while (next < records.length) await store.insertRecords([records[next++]!]);
      }),
    ),
  );
  const { walSyncs } = await store.stats();
  await store.close();
  return { rate: records.length / secs, syncs: walSyncs, cpu, elu };
}

async function batched(records: TraceRecord[]): Promise<Run> {
  const store = await openStore({ dir: scratch("tt-same") });
  const { secs, cpu, elu } = await measured(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  const { walSyncs } = await store.stats();
  await store.close();
  return { rate: records.length / secs, syncs: walSyncs, cpu, elu };
}

async function main(): Promise<void> {
  const turns = [...generateTurns({ conversations: 60, turnsPerConversation: 12, seed: 1 })];
  const records = turns.flat().slice(0, 6000);
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  for (let round = 0; round < rounds; round++) {
    const none = { rate: Number.NaN, syncs: 0, cpu: 0, elu: 0 };
    const single = only === "batch" ? none : await concurrent(records);
    const batch = only === "single" ? none : await batched(records);
    process.stdout.write(
      `single x${CONCURRENT}: ${fmt(single.rate)}/s (${single.syncs} fsyncs, cpu ${fmt(single.cpu, 2)}, loop busy ${fmt(single.elu, 2)}); ` +
        `batch-${BATCH}: ${fmt(batch.rate)}/s (${batch.syncs} fsyncs, cpu ${fmt(batch.cpu, 2)}, loop busy ${fmt(batch.elu, 2)}); ` +
        `ratio ${fmt((100 * single.rate) / batch.rate)}%\n`,
    );
  }
  if (session && profile) {
    const { profile: taken } = await session.post("Profiler.stop");
    writeFileSync(profile, JSON.stringify(taken));
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
