/** Starts test/support/child.ts in a real Node process, with tsx for TypeScript. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));

/** `script`: another child than child.ts (test/support/search-child.ts). */
export function startChild(args: string[], script = CHILD): ChildProcess & { lines: string[] } {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  }) as ChildProcess & { lines: string[] };
  child.lines = [];
  let partial = "";
  child.stdout!.on("data", (d: Buffer) => {
    const parts = (partial + d.toString()).split("\n");
    partial = parts.pop()!;
    child.lines.push(...parts);
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.on("exit", (code) => {
    if (code !== 0 && code !== null && err) process.stderr.write(`child stderr: ${err}\n`);
  });
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

export async function waitForLine(
  child: { lines: string[] },
  match: (l: string) => boolean,
  ms = 30_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!child.lines.some(match)) {
    if (Date.now() > until)
      throw new Error(`timed out waiting for child output; got ${child.lines.join("|")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs a child to completion and returns its stdout lines. */
export async function runChild(args: string[]): Promise<string[]> {
  const child = startChild(args);
  child.stdin!.end();
  const code = await exited(child);
  if (code !== 0) throw new Error(`child ${args.join(" ")} exited with ${code}`);
  return child.lines;
}
