/**
 * The `tracetier ingest` row of the collector benchmark alone (bench/collector.ts `cliIngest`), for
 * iterating on it: the run.ts workload in-process in batches of 500, then `tracetier ingest` of the same
 * records as an NDJSON file in a child process (its own clock, from the command's --json summary).
 * `--rounds N` repeats the pair; `--cpu-prof DIR` profiles the child (node --cpu-prof); `--against DIR`
 * also runs DIR's `tracetier ingest` (another checkout) each round, alternating, for a before/after.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openStore, type TraceRecord } from "../src/index.js";
import { generateTurns } from "../src/workload/generator.js";
import { cleanup, fmt, scratch, timed } from "./stats.js";

const argv = process.argv.slice(2);
const rounds = argv.includes("--rounds") ? Number(argv[argv.indexOf("--rounds") + 1]) : 1;
const profDir = argv.includes("--cpu-prof") ? argv[argv.indexOf("--cpu-prof") + 1] : undefined;
const against = argv.includes("--against") ? argv[argv.indexOf("--against") + 1] : undefined;
const BATCH = 500;

async function inProcess(records: TraceRecord[]): Promise<number> {
  const store = await openStore({ dir: scratch("inproc") });
  const session = profDir ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const secs = await timed(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  if (session && profDir) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(join(profDir, "in-process.cpuprofile"), JSON.stringify(profile));
    session.disconnect();
  }
  await store.close();
  return records.length / secs;
}

async function cli(file: string, count: number, checkout?: string): Promise<number> {
  const main = checkout
    ? join(checkout, "src/cli/main.ts")
    : fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const flags = profDir ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [];
  const args = [
    ...flags,
    "--import",
    "tsx",
    main,
    "ingest",
    file,
    "--dir",
    scratch("ingest"),
    "--json",
    "--quiet",
  ];
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ingest exited with ${code}`))));
  });
  const summary = JSON.parse(out) as { seconds: number; inserted: number };
  if (summary.inserted !== count) throw new Error(`ingest stored ${summary.inserted} of ${count}`);
  return count / summary.seconds;
}

async function main(): Promise<void> {
  const records = [...generateTurns({ conversations: 60, turnsPerConversation: 12, seed: 1 })].flat();
  const file = join(scratch("ingest-file"), "workload.ndjson");
  await writeFile(file, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);
  for (let round = 0; round < rounds; round++) {
    const inproc = await inProcess(records);
    const other = against ? await cli(file, records.length, against) : undefined;
    const ingest = await cli(file, records.length);
    const vs = other ? `; ${against}: ${fmt(other)}/s, ${fmt((100 * other) / inproc)}%` : "";
    process.stdout.write(
      `in-process: ${fmt(inproc)}/s; tracetier ingest: ${fmt(ingest)}/s; ratio ${fmt((100 * ingest) / inproc)}%${vs}\n`,
    );
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
