// Installs test/interop's dependencies (DuckDB) when they are missing: the DuckDB tests need them, and
// `npm test` must set itself up on a fresh machine. See test/interop/package.json for why no lockfile.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../test/interop", import.meta.url));
if (!existsSync(`${dir}/node_modules/@duckdb/node-api/package.json`)) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  execFileSync(npm, ["install", "--prefix", dir, "--no-package-lock", "--no-audit", "--no-fund"], { stdio: "inherit" });
}
