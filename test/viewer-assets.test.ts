import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { type Collector, startCollector } from "../src/collector/server.js";
import { acceptsGzip, findViewerDir, VIEWER_CSP } from "../src/collector/viewer.js";
import { tempDir, tempStore } from "./support/fixtures.js";
import { rawRequest, sendRaw } from "./support/raw-http.js";

const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/app-3f2a1b.js"></script></head></html>';
const APP = `console.log(${JSON.stringify("tracetier viewer ".repeat(200))});`;

/** A built viewer as scripts/build-viewer.mjs lays it out: index.html and hashed assets. */
function builtViewer(root = tempDir()): string {
  const dir = join(root, "viewer");
  mkdirSync(join(dir, "assets"), { recursive: true });
  writeFileSync(join(dir, "index.html"), INDEX);
  writeFileSync(join(dir, "assets", "app-3f2a1b.js"), APP);
  writeFileSync(join(dir, "assets", "style-9c8d7e.css"), "body{margin:0}");
  writeFileSync(join(root, "secret.txt"), "not for the web");
  return dir;
}

const running: Collector[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});

async function collector(opts: { token?: string; viewerDir?: string } = {}): Promise<string> {
  const { store, dir } = await tempStore();
  const c = await startCollector({
    store,
    dir,
    port: 0,
    viewerDir: opts.viewerDir ?? builtViewer(),
    ...opts,
  });
  running.push(c);
  return c.url;
}

describe("the collector serving the web viewer", () => {
  it("answers the app's paths and deep links with index.html, never cached", async () => {
    const url = await collector();
    for (const path of [
      "/",
      "/turns/abc123",
      "/conversations/conv%20one",
      "/usage",
      "/?errors=true&from=-1h",
    ]) {
      const res = await fetch(`${url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(await res.text()).toBe(INDEX);
    }
  });

  it("serves a built asset with its type, immutable caching and the security headers", async () => {
    const url = await collector();
    const res = await fetch(`${url}/assets/app-3f2a1b.js`, { headers: { "accept-encoding": "identity" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(APP);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("content-security-policy")).toBe(VIEWER_CSP);
    for (const directive of [
      "default-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "object-src 'none'",
    ]) {
      expect(VIEWER_CSP).toContain(directive);
    }
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const css = await fetch(`${url}/assets/style-9c8d7e.css`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
  });

  it("sends an asset gzipped to a client that accepts gzip, and plain to one that does not", async () => {
    const url = await collector();
    const target = "/assets/app-3f2a1b.js";
    const gz = await sendRaw(url, { pieces: [rawRequest("GET", target, { "accept-encoding": "br, gzip" })] });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.body.length).toBeLessThan(APP.length);
    expect(gunzipSync(gz.body).toString()).toBe(APP);
    const refused = await sendRaw(url, {
      pieces: [rawRequest("GET", target, { "accept-encoding": "gzip;q=0" })],
    });
    expect(refused.headers["content-encoding"]).toBeUndefined();
    expect(refused.body.toString()).toBe(APP);
  });

  it("answers HEAD on the page and an asset with the GET headers and no body", async () => {
    const url = await collector();
    for (const target of ["/turns/t1", "/assets/app-3f2a1b.js"]) {
      const res = await fetch(`${url}${target}`, {
        method: "HEAD",
        headers: { "accept-encoding": "identity" },
      });
      expect(res.status, target).toBe(200);
      const get = await fetch(`${url}${target}`, { headers: { "accept-encoding": "identity" } });
      expect(res.headers.get("content-length"), target).toBe(get.headers.get("content-length"));
      expect(res.headers.get("content-type"), target).toBe(get.headers.get("content-type"));
      expect(await res.text(), target).toBe("");
    }
  });

  it("answers 405 ERR_METHOD_NOT_ALLOWED to other methods on the viewer's paths", async () => {
    const url = await collector();
    for (const [method, target] of [
      ["POST", "/"],
      ["PUT", "/turns/t1"],
      ["DELETE", "/assets/app-3f2a1b.js"],
    ] as const) {
      const res = await fetch(`${url}${target}`, { method });
      expect(res.status, `${method} ${target}`).toBe(405);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ERR_METHOD_NOT_ALLOWED");
    }
  });

  it("answers 404 ERR_NOT_FOUND for an asset the build did not make", async () => {
    const url = await collector();
    const res = await fetch(`${url}/assets/app-000000.js`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ERR_NOT_FOUND");
  });

  it("answers 404 to path traversal, however the dots and slashes are escaped", async () => {
    const url = await collector();
    const targets = [
      "/assets/../secret.txt",
      "/assets/../../secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
      "/assets/..%5c..%5csecret.txt",
      "/assets/%2e%2e/index.html",
      "/assets/.",
      "/assets/",
      "/../secret.txt",
    ];
    for (const target of targets) {
      const res = await sendRaw(url, { pieces: [rawRequest("GET", target, {})] });
      expect(res.status, target).toBe(404);
      expect(res.body.toString(), target).not.toContain("not for the web");
    }
  });

  it("needs no token for the page and its assets, while the API still does", async () => {
    const url = await collector({ token: "s3cret" });
    expect((await fetch(`${url}/`)).status).toBe(200);
    expect((await fetch(`${url}/turns/t1`)).status).toBe(200);
    expect((await fetch(`${url}/assets/app-3f2a1b.js`)).status).toBe(200);
    expect((await fetch(`${url}/v1/stats`)).status).toBe(401);
    expect((await fetch(`${url}/v1/turns/t1`)).status).toBe(401);
    const authorized = await fetch(`${url}/v1/stats`, { headers: { authorization: "Bearer s3cret" } });
    expect(authorized.status).toBe(200);
  });

  it("answers / with 404 ERR_NOT_FOUND saying to build when no viewer was built", async () => {
    const url = await collector({ viewerDir: join(tempDir(), "missing") });
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("ERR_NOT_FOUND");
    expect(body.error.message).toContain("npm run build");
  });

  it("fails the start with ERR_IO naming the folder when a built file cannot be read", async () => {
    const dir = builtViewer();
    mkdirSync(join(dir, "assets", "broken.js")); // a folder is skipped; an unreadable index is not
    const bad = join(tempDir(), "viewer");
    mkdirSync(join(bad, "index.html"), { recursive: true });
    mkdirSync(join(bad, "assets"));
    const { store, dir: storeDir } = await tempStore();
    await expect(startCollector({ store, dir: storeDir, port: 0, viewerDir: bad })).rejects.toMatchObject({
      code: "ERR_IO",
      message: expect.stringContaining(bad),
    });
    expect((await fetch(`${await collector({ viewerDir: dir })}/`)).status).toBe(200);
  });

  it("finds dist/viewer from the compiled module and from the source, never the unbuilt viewer/", () => {
    const root = tempDir();
    mkdirSync(join(root, "dist", "viewer", "assets"), { recursive: true });
    writeFileSync(join(root, "dist", "viewer", "index.html"), INDEX);
    mkdirSync(join(root, "viewer"), { recursive: true });
    writeFileSync(join(root, "viewer", "index.html"), "<!-- source, not built -->");
    const built = join(root, "dist", "viewer");
    expect(findViewerDir(join(root, "dist", "src", "collector"))).toBe(built);
    expect(findViewerDir(join(root, "src", "collector"))).toBe(built);
    expect(findViewerDir(join(tempDir(), "src", "collector"))).toBeUndefined();
  });

  it("reads Accept-Encoding as HTTP has it: gzip or *, unless its q is 0", () => {
    expect(acceptsGzip("gzip, deflate, br")).toBe(true);
    expect(acceptsGzip("GZIP;q=0.5")).toBe(true);
    expect(acceptsGzip("*")).toBe(true);
    expect(acceptsGzip("gzip;q=0")).toBe(false);
    expect(acceptsGzip("*;q=0, gzip")).toBe(true); // the explicit gzip entry wins over *
    expect(acceptsGzip("*, gzip;q=0")).toBe(false);
    expect(acceptsGzip("br, *;q=0")).toBe(false);
    expect(acceptsGzip("br, deflate")).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });
});
