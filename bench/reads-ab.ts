/**
 * Before/after of the reads on the same stores, back to back (not part of `npm run bench`):
 *   TRACETIER_BENCH_KEEP=1 npx tsx bench/run.ts --only reads --profile agent   # prints "reads: ..." args
 *   npx tsx bench/reads-ab.ts <before checkout> <tracetier dir> <sqlite path> <ids.json>
 * Runs <before checkout>/bench/reads.ts, then this checkout's, each in its own process on the same
 * stores (copy this bench/reads.ts and stats.ts into the before checkout first, so both measure the same
 * way), and prints the getTurn figures of both as ratios against the SQLite baseline of the same run.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fmt } from "./stats.js";

const [before, ...stores] = process.argv.slice(2) as [string, string, string, string];
type Reads = Record<string, { p50: number; p99: number }>;

function run(checkout: string): Reads {
  return JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", join(checkout, "bench", "reads.ts"), ...stores], {
      encoding: "utf8",
      cwd: checkout,
    }),
  ) as Reads;
}

const a = run(before);
const b = run(fileURLToPath(new URL("..", import.meta.url)));
const rows: [string, string, string, "p50" | "p99"][] = [
  ["first read after open, p50", "first.cached", "first.baseline", "p50"],
  ["first read after open, p99", "first.cached", "first.baseline", "p99"],
  ["steady, p50", "turn.cached", "turn.baseline", "p50"],
  ["steady, p99", "turn.cached", "turn.baseline", "p99"],
  ["steady, chunk cache off, p50", "turn.uncached", "turn.baseline", "p50"],
  ["steady, chunk cache off, p99", "turn.uncached", "turn.baseline", "p99"],
  ["thin (no bodies), p50", "thin.cached", "thin.baseline", "p50"],
  ["thin (no bodies), p99", "thin.cached", "thin.baseline", "p99"],
];
const out = [
  "| getTurn with bodies (ms) | before | SQLite | before ÷ SQLite | after | SQLite | after ÷ SQLite |",
  "|---|---:|---:|---:|---:|---:|---:|",
];
for (const [label, key, base, q] of rows) {
  const cells = [a, b].flatMap((r) => [
    fmt(r[key]![q], 2),
    fmt(r[base]![q], 2),
    fmt(r[key]![q] / r[base]![q], 2),
  ]);
  out.push(`| ${label} | ${cells.join(" | ")} |`);
}
process.stdout.write(`${out.join("\n")}\n`);
