// Builds the web viewer (viewer/) into dist/viewer: index.html plus content-hashed assets, so that the
// collector can serve the assets as immutable and index.html as no-cache. Prints each file's raw and
// gzipped size and fails over the bundle budget (issue 13: 150 KB gzipped, all assets together).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const BUDGET = 150 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "viewer");
const out = join(root, "dist", "viewer");
const assets = join(out, "assets");

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

// Each entry's key is the name the page uses for it: app -> /assets/app.js, style -> /assets/style.css.
const entryPoints = { app: join(src, "src", "main.ts"), style: join(src, "style.css") };
const result = await build({
  entryPoints,
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome111", "firefox111", "safari16"],
  tsconfig: join(src, "tsconfig.json"),
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: root,
});

// The page names its entry files by their hashed names (the only edit the build makes to index.html).
const named = {};
// The metafile names an output's entry point by its path relative to the working directory (root).
const keyOf = new Map(Object.entries(entryPoints).map(([key, path]) => [relative(root, path), key]));
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  const key = keyOf.get(meta.entryPoint);
  if (key === undefined) throw new Error(`esbuild wrote ${file} for an unknown entry ${meta.entryPoint}`);
  named[`${key}${extname(file)}`] = basename(file);
}
// Static files the page links to directly, hashed here the same way.
for (const name of ["favicon.svg"]) {
  const bytes = readFileSync(join(src, name));
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 8);
  const hashed = name.replace(/(\.[a-z]+)$/, `-${hash}$1`);
  writeFileSync(join(assets, hashed), bytes);
  result.metafile.outputs[join("dist", "viewer", "assets", hashed)] = {};
  named[name] = hashed;
}
let html = readFileSync(join(src, "index.html"), "utf8");
for (const [plain, hashed] of Object.entries(named)) {
  if (!html.includes(`/assets/${plain}`)) throw new Error(`viewer/index.html does not name /assets/${plain}`);
  html = html.replaceAll(`/assets/${plain}`, `/assets/${hashed}`);
}
writeFileSync(join(out, "index.html"), html);

let rawTotal = 0;
let gzTotal = 0;
const rows = [["index.html", Buffer.byteLength(html), gzipSync(html, { level: 9 }).length]];
for (const file of Object.keys(result.metafile.outputs)) {
  const bytes = readFileSync(join(root, file));
  rows.push([`assets/${basename(file)}`, bytes.length, gzipSync(bytes, { level: 9 }).length]);
}
for (const [name, raw, gz] of rows) {
  rawTotal += raw;
  gzTotal += gz;
  console.log(`  dist/viewer/${name.padEnd(32)} ${kb(raw).padStart(9)} raw ${kb(gz).padStart(9)} gzipped`);
}
console.log(`viewer: ${kb(rawTotal)} raw, ${kb(gzTotal)} gzipped (budget ${kb(BUDGET)} gzipped)`);
if (gzTotal > BUDGET) {
  console.error(`viewer: over the bundle budget by ${kb(gzTotal - BUDGET)}`);
  process.exit(1);
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} KB`;
}
