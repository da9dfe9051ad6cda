/** `tracetier serve` as a real process (through tsx), with the crash monitor preloaded. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const MONITOR = fileURLToPath(new URL("./crash-monitor.ts", import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  /** The collector's base URL, once it listens; rejects if the process exits first. */
  url: Promise<string>;
  stderr(): string;
  /** The crash monitor's lines: an uncaught exception or unhandled rejection in the process. */
  crashes(): string[];
}

export function serveProcess(args: string[]): ServeProcess {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--import", MONITOR, MAIN, "serve", "--port", "0", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  return {
    child,
    url,
    stderr: () => err,
    crashes: () => err.split("\n").filter((l) => l.startsWith("CRASH-MONITOR")),
  };
}
