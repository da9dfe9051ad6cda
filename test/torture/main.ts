/**
 * `npm run torture -- [--minutes N] [--rounds N] [--seed N] [--quiet]`: SIGKILL rounds against one store
 * after another (test/support/torture.ts says what a round does and checks). Prints a line per round
 * and a summary; exits 1 if any round failed. Default: 8 minutes.
 */
import { parseArgs } from "node:util";
import { runTorture } from "../support/torture.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string" },
    rounds: { type: "string" },
    seed: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
});

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n > 0)) {
    process.stderr.write(`--${name} must be a positive number\n`);
    process.exit(2);
  }
  return n;
}

const rounds = positive("rounds", values.rounds);
const minutes = positive("minutes", values.minutes) ?? (rounds === undefined ? 8 : undefined);
const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
process.stdout.write(
  `torture: seed ${seed}, ${rounds ?? "unbounded"} rounds, ${minutes ?? "unbounded"} minutes\n`,
);
const s = await runTorture({
  seed,
  rounds,
  minutes,
  onRound: values.quiet ? undefined : (line) => process.stdout.write(`${line}\n`),
});
const tally = (m: Map<string, number>) => [...m].map(([k, n]) => `${k}: ${n}`).join("; ") || "none";
process.stdout.write(`kill phases: ${tally(s.phases)}\n`);
process.stdout.write(
  `maintenance started: ${tally(s.ops)}; cold files merged away: ${s.merged}; partitions dropped: ${s.dropped}\n`,
);
process.stdout.write(
  `verify as killed, before recovery (rounds; a problem is a failure): ${tally(s.asKilled)}\n`,
);
process.stdout.write(
  `time per round: child ${(s.childMs / Math.max(1, s.rounds) / 1000).toFixed(1)} s, ` +
    `check ${(s.checkMs / Math.max(1, s.rounds) / 1000).toFixed(1)} s\n`,
);
if (s.failedRounds > 0) {
  process.stdout.write(`failure kinds (rounds): ${tally(s.failureKinds)}\n`);
  for (const e of s.examples) process.stdout.write(`  ${e}\n`);
  process.stdout.write(`stores kept for inspection: ${s.keptDirs.join(" ")}\n`);
}
process.stdout.write(
  `torture summary: seed ${seed}, ${s.rounds} rounds on ${s.stores} stores in ${(s.ms / 1000).toFixed(0)} s, ` +
    `${s.acknowledged} batches acknowledged, ${s.failedRounds} failed rounds\n`,
);
process.exit(s.failedRounds > 0 ? 1 : 0);
