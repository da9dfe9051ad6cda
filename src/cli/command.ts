/**
 * What every `tracetier` command shares: its options (plus --dir, --json, --quiet, --debug, --help),
 * a context to print through, exit codes, and opening the store with a clear word when it is held.
 */
import type { ParseArgsConfig } from "node:util";
import { openStore, type TraceStore } from "../store.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export const EXIT = { ok: 0, failed: 1, usage: 2, problems: 3 } as const;

export interface CommandContext {
  values: Values;
  positionals: string[];
  /** The store's directory: --dir, else TRACETIER_DIR, else ./tracetier-data. */
  dir: string;
  json: boolean;
  /** No progress output (it only ever appears on a TTY). */
  quiet: boolean;
  out: (line?: string) => void;
  /** Prints `value` as JSON (for --json). */
  print: (value: unknown) => void;
  /** A line on stderr under --debug (which way the store was reached, reconnects). */
  debug: (line: string) => void;
}

export interface Command {
  name: string;
  /** One line for `tracetier --help`. */
  summary: string;
  /** The full `--help` text, with examples. */
  help: string;
  options: Options;
  positionals: [min: number, max: number];
  run(ctx: CommandContext): Promise<number>;
}

export const COMMON_OPTIONS: Options = {
  dir: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

export class UsageError extends Error {}

/** Runs `fn` on the opened store and closes it whatever happens. */
export async function withStore<T>(dir: string, fn: (store: TraceStore) => Promise<T>): Promise<T> {
  const store = await openStore({ dir });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}
