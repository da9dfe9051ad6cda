/**
 * The web viewer's static files: `index.html` for the single-page app's own paths (`/`, `/turns/<id>`,
 * `/conversations/<id>`, `/usage`) and the built, content-hashed assets under `/assets/`. These need no
 * token: they hold code, never data (the app asks for the token before it reads the API).
 *
 * Every file is read and gzipped once, when the collector starts, into a map keyed by asset name. A
 * request only looks names up in that map, so no part of a URL ever reaches the file system (no path
 * traversal is possible, whatever the escaping).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { IoError } from "../base/errors.js";
import { HttpError } from "./http.js";

export interface ViewerFile {
  contentType: string;
  cacheControl: string;
  raw: Buffer;
  /** Present when gzip makes it smaller. */
  gzip?: Buffer;
}

export interface ViewerAssets {
  /** Where the files were read from; undefined when no built viewer was found. */
  dir: string | undefined;
  index: ViewerFile | undefined;
  assets: Map<string, ViewerFile>;
}

/** The types of the files scripts/build-viewer.mjs writes (it emits no source maps or other files). */
const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * The page loads only its own files, runs no inline code, cannot be framed (clickjacking), and cannot
 * have its base URL or plugins swapped in.
 */
export const VIEWER_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * The built viewer's directory: `dist/viewer`, seen from the compiled module (dist/src/collector) or
 * from its source run through tsx (src/collector). The source folder `viewer/` also has an
 * index.html, so a candidate counts only with its `assets/` folder, which only the build makes.
 */
export function findViewerDir(here = dirname(fileURLToPath(import.meta.url))): string | undefined {
  const candidates = [resolve(here, "../../viewer"), resolve(here, "../../dist/viewer")];
  return candidates.find((d) => existsSync(join(d, "index.html")) && existsSync(join(d, "assets")));
}

/**
 * Reads and precompresses the built viewer in `dir` (default: found as above). A file that cannot be
 * read fails the collector's start, coded (ERR_IO) and naming the viewer's folder.
 */
export function loadViewer(dir: string | undefined = findViewerDir()): ViewerAssets {
  if (dir === undefined || !existsSync(join(dir, "index.html"))) {
    return { dir: undefined, index: undefined, assets: new Map() };
  }
  try {
    return readViewer(dir);
  } catch (err) {
    throw new IoError(`reading the web viewer's files in ${dir}`, err);
  }
}

function readViewer(dir: string): ViewerAssets {
  const index = file(readFileSync(join(dir, "index.html")), "text/html; charset=utf-8", "no-cache");
  const assets = new Map<string, ViewerFile>();
  const assetDir = join(dir, "assets");
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) {
      const path = join(assetDir, name);
      if (!statSync(path).isFile()) continue;
      const type = TYPES[extname(name)] ?? "application/octet-stream";
      assets.set(name, file(readFileSync(path), type, IMMUTABLE));
    }
  }
  return { dir, index, assets };
}

function file(raw: Buffer, contentType: string, cacheControl: string): ViewerFile {
  const gz = gzipSync(raw, { level: 9 });
  return { contentType, cacheControl, raw, ...(gz.length < raw.length ? { gzip: gz } : {}) };
}

/** GET / and the app's deep links: index.html, or a 404 saying how to build it. */
export function sendIndex(viewer: ViewerAssets, req: IncomingMessage, res: ServerResponse): void {
  if (!viewer.index) {
    throw new HttpError(
      404,
      "ERR_NOT_FOUND",
      "the web viewer is not built here: run `npm run build` (it writes dist/viewer)",
    );
  }
  sendFile(viewer.index, req, res);
}

/** GET /assets/<name>: only a name the built viewer has. */
export function sendAsset(
  viewer: ViewerAssets,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const found = viewer.assets.get(name);
  if (!found) throw new HttpError(404, "ERR_NOT_FOUND", `no viewer asset named ${JSON.stringify(name)}`);
  sendFile(found, req, res);
}

function sendFile(f: ViewerFile, req: IncomingMessage, res: ServerResponse): void {
  const gzip = f.gzip !== undefined && acceptsGzip(req.headers["accept-encoding"]);
  const body = gzip ? f.gzip! : f.raw;
  res.writeHead(200, {
    "content-type": f.contentType,
    "content-length": body.length,
    "cache-control": f.cacheControl,
    "content-security-policy": VIEWER_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    vary: "Accept-Encoding",
    ...(gzip ? { "content-encoding": "gzip" } : {}),
  });
  res.end(body);
}

/**
 * Whether an Accept-Encoding header takes gzip: an explicit `gzip` entry decides by its q (0 refuses),
 * wherever it stands; without one, `*` decides the same way (RFC 9110 §12.5.3).
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(",") : (header ?? "");
  let star: boolean | undefined;
  for (const part of value.split(",")) {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding !== "gzip" && coding !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (coding === "gzip") return ok;
    star ??= ok;
  }
  return star ?? false;
}
