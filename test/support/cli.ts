/** The `tracetier` command as a real process (through tsx): its exit code and both outputs. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 1 << 26 },
      (error, out, err) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out, err });
      },
    );
  });
}
