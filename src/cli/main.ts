#!/usr/bin/env node
/**
 * The `tracetier` command: `serve` (the collector, the README's main job), the operator's commands
 * (src/cli/commands/), and `demo`. Errors are one line with their code (a stack under --debug).
 */
import { parseArgs } from "node:util";
import { TracetierError } from "../base/errors.js";
import { jsonSafe } from "../base/json-safe.js";
import { COMMON_OPTIONS, type Command, EXIT, str, UsageError } from "./command.js";
import { dump } from "./commands/dump.js";
import { importSqlite } from "./commands/import-sqlite.js";
import { ingest } from "./commands/ingest.js";
import { compact, gc, prune, stats } from "./commands/maintain.js";
import { query, turn } from "./commands/read.js";
import { reindex } from "./commands/reindex.js";
import { search } from "./commands/search.js";
import { sql } from "./commands/sql.js";
import { tail } from "./commands/tail.js";
import { verify } from "./commands/verify.js";
import { runDemo } from "./demo.js";
import { SERVE_HELP, serve } from "./serve.js";

const demo: Command = {
  name: "demo",
  summary: "load a generated agent workload into a store, read a turn back, print the figures",
  help: `tracetier demo [--dir DIR] [--conversations N] [--turns N]

Generates a realistic agent workload, inserts it into a store (a temporary directory unless --dir is
given, which is then kept), reads a turn back, and prints its easy view and the figures.
`,
  options: { conversations: { type: "string" }, turns: { type: "string" } },
  positionals: [0, 0],
  async run(ctx) {
    await runDemo({
      dir: str(ctx.values, "dir"),
      conversations: positiveInt(str(ctx.values, "conversations"), "--conversations", 40),
      turns: positiveInt(str(ctx.values, "turns"), "--turns", 12),
    });
    return EXIT.ok;
  },
};

const COMMANDS: Command[] = [
  ingest,
  turn,
  query,
  search,
  tail,
  compact,
  prune,
  gc,
  stats,
  verify,
  reindex,
  dump,
  importSqlite,
  sql,
  demo,
];

const HELP = `tracetier: a tiered storage engine for the traces of LLM agents

Usage: tracetier <command> [options]    (tracetier <command> --help for each)

  serve        run the collector: HTTP and OTLP ingest, journals, query API, /metrics, maintenance
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join("\n")}

Every command takes --dir DIR (default $TRACETIER_DIR, else ./tracetier-data), --json (output for
scripts), --quiet (no progress), --debug (which way the store was reached; stack traces on errors).

While \`tracetier serve\` holds the store, turn, query, search, stats, dump, compact, prune, gc, verify
and tail go through it (found through <dir>/collector/serve.json, or --url URL; --token TOKEN or
$TRACETIER_TOKEN when it has one), with the same output and exit codes.

Exit codes: 0 success, 1 failure (the error's code is printed), 2 bad usage, 3 done with problems
(rejected lines, or problems found by verify).
`;

const THROUGH_COLLECTOR = `
While \`tracetier serve\` holds the store, this command goes through it: found through
<dir>/collector/serve.json, or --url http://HOST:PORT; its token from --token or $TRACETIER_TOKEN. Same
output and exit codes; --debug says which way it went (docs/operate.md).
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (name === "serve") {
    if (!rest.includes("--help")) return serve(rest);
    process.stdout.write(SERVE_HELP);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}" (see tracetier --help)`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...COMMON_OPTIONS, ...command.options },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(command.help);
    if ("url" in command.options) process.stdout.write(THROUGH_COLLECTOR);
    return EXIT.ok;
  }
  const [min, max] = command.positionals;
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(
      `${name} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"} (see tracetier ${name} --help)`,
    );
  }
  return command.run({
    values,
    positionals,
    dir: str(values, "dir") ?? process.env.TRACETIER_DIR ?? "./tracetier-data",
    json: values.json === true,
    quiet: values.quiet === true,
    out: (line = "") => process.stdout.write(`${line}\n`),
    print: (value) => process.stdout.write(`${JSON.stringify(value, jsonSafe, 2)}\n`),
    debug: (line) => {
      if (values.debug === true) process.stderr.write(`tracetier: ${line}\n`);
    },
  });
}

function positiveInt(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${flag} takes a positive whole number, got "${v}"`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const debug = process.argv.includes("--debug");
    const argCode = (err as { code?: string }).code ?? "";
    if (err instanceof UsageError || argCode.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`tracetier: ${(err as Error).message}\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    const code = err instanceof TracetierError ? `${err.code}: ` : "";
    // A collector found through its serve.json is used, not refused: a held store without one is held
    // by something else (another command, a program linking the library, a collector of an older version).
    const hint =
      argCode === "ERR_LOCKED" && !(err as Error).message.includes("--repair")
        ? " (another program has it open. While `tracetier serve` holds it, turn, query, search, stats, dump, compact, prune, gc, verify and tail go through it; ingest, reindex, import-sqlite and sql need it to themselves: stop it first, or work on a copy)"
        : "";
    process.stderr.write(`tracetier: ${code}${(err as Error).message}${hint}\n`);
    if (debug) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = EXIT.failed;
  },
);
