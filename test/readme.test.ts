import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "./support/fixtures.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("opens with the two commands a newcomer runs", () => {
    const commands = readme.split("\n").filter((l) => l.startsWith("    npm "));
    expect(commands.slice(0, 2)).toEqual(["    npm ci && npm start", "    npm ci && npm test"]);
  });

  const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

  /** Runs a README example against the built package in a fresh directory; returns its output. */
  function run(example: string): string {
    const dir = tempDir();
    const entry = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));
    const script = join(dir, "example.mjs");
    writeFileSync(
      script,
      example
        .replace('"tracetier"', JSON.stringify(entry))
        .replace('"./tracetier-data"', JSON.stringify(join(dir, "data"))),
    );
    return execFileSync(process.execPath, [script], { encoding: "utf8" });
  }

  it("has a usage example that runs as written and prints the easy view it shows", () => {
    const example = examples[0];
    if (!example) throw new Error("no ts example in README");
    const out = run(example);
    const shown = /console\.log\(await store\.easyView\("t1"\)\);\s*\/\/ (.*)/.exec(example)?.[1];
    expect(out.trim()).toBe(shown);
  });

  it("has a retention example that runs as written", () => {
    const example = examples.find((e) => e.includes("startMaintenance"));
    if (!example) throw new Error("no retention example in README");
    expect(run(example).trim()).toBe("0 0"); // a fresh store: nothing to delete, nothing reclaimed
  });
});
