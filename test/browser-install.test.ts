/**
 * scripts/browser-install.mjs on a machine without a browser: whatever happens to its install attempt
 * (apt offline or without the package, as here; or not tried, when not root on Debian), it ends with
 * what to install and CHROME_PATH, not with a bare "Command failed".
 */
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { tempDir } from "./support/fixtures.js";

const SCRIPT = fileURLToPath(new URL("../scripts/browser-install.mjs", import.meta.url));

it("explains what to install and CHROME_PATH when no browser is found and apt-get fails", () => {
  // A PATH with no browser and an apt-get that fails as it does offline, so no real install runs.
  const bin = tempDir();
  const aptGet = join(bin, "apt-get");
  writeFileSync(aptGet, '#!/bin/sh\necho "E: Unable to locate package chromium" >&2\nexit 100\n');
  chmodSync(aptGet, 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
  delete env.CHROME_PATH;
  const run = spawnSync(process.execPath, [SCRIPT], { env, encoding: "utf8", timeout: 30_000 });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain("none was found");
  expect(run.stderr).toContain("set CHROME_PATH");
  expect(run.stderr).toMatch(/apt-get install chromium/);
  expect(run.stderr).not.toMatch(/^browser-install: Command failed/m);
});
