// Finds a Chromium for the viewer's browser tests (test/viewer.test.ts), and installs Debian's package
// when there is none on a Debian/Ubuntu machine as root: `npm test` must set itself up on a fresh
// machine, as scripts/interop-install.mjs does for DuckDB. playwright-core drives this installed
// browser; it never downloads its own.
//
// Also imported by test/support/browser.ts (findChromium), so the tests launch exactly what this found.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";

const NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** Where macOS installs Chrome and Chromium (neither puts a command on PATH). */
const MAC_APPS = [
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
];

/**
 * Debian's /usr/bin/chromium is a shell wrapper that adds flags from /etc/chromium.d (extensions to
 * load, GPU rasterization) and prints a `[: … unexpected operator` line on some machines. The tests
 * want the browser with only their own flags, so where the wrapper's real binary is, that is used.
 */
const WRAPPED = { chromium: "/usr/lib/chromium/chromium", "chromium-browser": "/usr/lib/chromium/chromium" };

/** Whether `path` runs and answers `--version` (a broken or half-installed browser does not). */
function runs(path) {
  try {
    const out = execFileSync(path, ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 30_000,
    });
    return /\d+\.\d+/.test(out);
  } catch {
    return false;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** A shell script (the first two bytes `#!`), not a binary. */
function isScript(path) {
  try {
    return readFileSync(path).subarray(0, 2).toString() === "#!";
  } catch {
    return false;
  }
}

/**
 * The Chromium executable to launch: CHROME_PATH when set (it must run), else the first of NAMES on
 * PATH that runs (a Debian wrapper script replaced by its real binary when that runs too), else (on
 * macOS) the first of MAC_APPS that runs; undefined when there is none.
 */
export function findChromium() {
  const explicit = process.env.CHROME_PATH;
  if (explicit !== undefined && explicit !== "") {
    if (!runs(explicit)) throw new Error(`CHROME_PATH=${explicit} does not run \`--version\``);
    return explicit;
  }
  for (const name of NAMES) {
    const p = onPath(name);
    if (p === undefined || !runs(p)) continue;
    const real = WRAPPED[name];
    if (real !== undefined && isScript(p) && existsSync(real) && runs(real)) return real;
    return p;
  }
  if (process.platform === "darwin") return MAC_APPS.find((p) => existsSync(p) && runs(p));
  return undefined;
}

function isDebian() {
  if (existsSync("/etc/debian_version")) return true;
  try {
    const os = readFileSync("/etc/os-release", "utf8");
    return /^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b/m.test(os);
  } catch {
    return false;
  }
}

/** Whether the machine is Ubuntu, where `chromium` may be a transitional package for a snap. */
function isUbuntu() {
  try {
    return /^ID=ubuntu$/m.test(readFileSync("/etc/os-release", "utf8"));
  } catch {
    return false;
  }
}

/**
 * Installs the `chromium` package with apt; returns why it failed (offline, no such package, a snap
 * that cannot install here), or undefined. A failure is not fatal: the caller explains what to do.
 * Snap is never tried: it needs snapd running, which containers and CI machines rarely have.
 */
function install() {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  console.log("browser-install: no Chromium found; installing the chromium package with apt-get");
  try {
    execFileSync("apt-get", ["update"], { stdio: "inherit", env });
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], { stdio: "inherit", env });
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message.split("\n")[0] : String(e);
  }
}

/** Why apt did not give a browser: its failure, or an install that left nothing that runs. */
function installProblem(failure) {
  const what = failure !== undefined ? `failed (${failure})` : "finished, but no Chromium that runs was found after it";
  const ubuntu = isUbuntu()
    ? " On Ubuntu the chromium package may be only a transitional package for the snap, which this script does not install."
    : "";
  return `\`apt-get install chromium\` ${what}.${ubuntu}`;
}

function main() {
  let found = findChromium();
  let problem;
  if (found === undefined && process.platform === "linux" && isDebian() && process.getuid?.() === 0) {
    const failure = install();
    found = findChromium();
    if (found === undefined) problem = installProblem(failure);
  }
  if (found === undefined) {
    const looked = [`${NAMES.join(", ")} on PATH`, ...(process.platform === "darwin" ? MAC_APPS : [])];
    console.error(
      "browser-install: the viewer's browser tests need Chromium or Google Chrome, and none was found " +
        `(looked for ${looked.join(", ")}).\n` +
        (problem !== undefined ? `${problem}\n` : "") +
        "Install one (Debian: `apt-get install chromium`; Ubuntu: Google Chrome's .deb, or `snap install chromium`; " +
        "macOS: Google Chrome or `brew install --cask chromium`), " +
        "or set CHROME_PATH to a Chromium or Chrome executable.",
    );
    process.exit(1);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (e) {
    console.error(`browser-install: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
