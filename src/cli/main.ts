#!/usr/bin/env node
/**
 * The `tracetier` command: `serve` (the collector, the README's main job), `demo`, `--help`; the
 * operator's commands come with the next issue.
 */
import { parseArgs } from "node:util";
import { TracetierError } from "../errors.js";
import { runDemo } from "./demo.js";
import { serve } from "./serve.js";

const HELP = `tracetier: a tiered storage engine for the traces of LLM agents

Usage:
  tracetier serve [options]
      Run the collector: HTTP and OTLP ingest, journal tailing, the query API,
      /metrics, scheduled compaction and retention (tracetier serve --help).
  tracetier demo [--dir DIR] [--conversations N] [--turns N]
      Generate a realistic agent workload, insert it into a store (a temporary
      directory unless --dir is given, which is then kept), read a turn back,
      and print its easy view and the figures.
  tracetier --help

Examples:
  tracetier serve
  tracetier demo
  tracetier demo --dir ./tracetier-data --conversations 50

Exit codes: 0 success, 1 failure (the error code is printed), 2 bad usage.
`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "serve") return serve(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      dir: { type: "string" },
      conversations: { type: "string" },
      turns: { type: "string" },
      debug: { type: "boolean" },
    },
  });
  const [command] = positionals;
  if (values.help || command === undefined || command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === "demo") {
    await runDemo({
      dir: values.dir,
      conversations: positiveInt(values.conversations, "--conversations", 40),
      turns: positiveInt(values.turns, "--turns", 12),
    });
    return 0;
  }
  process.stderr.write(`tracetier: unknown command "${command}" (see tracetier --help)\n`);
  return 2;
}

function positiveInt(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${flag} takes a positive whole number, got "${v}"`);
  return n;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const debug = process.argv.includes("--debug");
    const argCode = (err as { code?: string }).code ?? "";
    if (err instanceof UsageError || argCode.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`tracetier: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    const code = err instanceof TracetierError ? `${err.code}: ` : "";
    process.stderr.write(`tracetier: ${code}${(err as Error).message}\n`);
    if (debug) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = 1;
  },
);
