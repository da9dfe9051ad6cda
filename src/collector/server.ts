/**
 * The collector's HTTP server: routes (routes.ts), bearer-token auth, the bind rule (a non-loopback
 * address only with a token), per-request metrics, and a graceful close that stops accepting, lets
 * requests in flight finish (each answers only once its records are durable), then closes connections.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import { InvalidOptionError } from "../errors.js";
import type { TraceStore } from "../store.js";
import { errorResponse, HttpError, sendJson } from "./http.js";
import { CollectorMetrics } from "./metrics.js";
import { encodeStatus, encodingOf } from "./otlp/decode.js";
import { findRoute, type RouteContext, sendOtlp } from "./routes.js";

export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

export interface CollectorOptions {
  store: TraceStore;
  /** The store's directory (for the hot tier's bytes in /metrics). */
  dir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, every endpoint but /healthz requires `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body, before and after decompression. Default 64 MiB. */
  bodyLimit?: number;
  metrics?: CollectorMetrics;
}

export interface Collector {
  readonly url: string;
  readonly metrics: CollectorMetrics;
  /** Stops accepting, waits for requests in flight, closes every connection. */
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "[::1]";
}

export async function startCollector(opts: CollectorOptions): Promise<Collector> {
  const host = opts.host ?? "127.0.0.1";
  if (!isLoopback(host) && !opts.token) {
    throw new InvalidOptionError(
      "host",
      `refuses to listen on ${host} without a token (--token or TRACETIER_TOKEN)`,
    );
  }
  const metrics = opts.metrics ?? new CollectorMetrics(opts.store, opts.dir);
  const ctx: RouteContext = { store: opts.store, metrics, bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT };
  const inflight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const done = handle(ctx, opts.token, req, res);
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 4318, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`,
    metrics,
    close: () => closeGracefully(server, inflight),
  };
}

async function closeGracefully(server: Server, inflight: Set<Promise<void>>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  while (inflight.size > 0) await Promise.allSettled([...inflight]);
  server.closeAllConnections();
  await closed;
}

async function handle(
  ctx: RouteContext,
  token: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const url = new URL(req.url ?? "/", "http://collector");
  let routeName = "unknown";
  try {
    const { route, params } = findRoute(req.method ?? "GET", url.pathname);
    routeName = route.name;
    if (token && route.name !== "healthz") authorize(req, token);
    await route.handler(ctx, req, res, params, url);
  } catch (err) {
    answerError(ctx, req, res, err);
  } finally {
    ctx.metrics.requests.inc({ route: routeName, status: String(res.statusCode) });
    ctx.metrics.requestSeconds.observe({ route: routeName }, (performance.now() - started) / 1000);
  }
}

function authorize(req: IncomingMessage, token: string): void {
  const given = Buffer.from(req.headers.authorization ?? "");
  const wanted = Buffer.from(`Bearer ${token}`);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    throw new HttpError(401, "ERR_UNAUTHORIZED", "a valid Authorization: Bearer token is required");
  }
}

/** Errors as JSON, or for OTLP requests as a google.rpc.Status in the request's own encoding. */
function answerError(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const { status, body } = errorResponse(err);
  ctx.metrics.rejects.inc({ reason: String(body.error.code).toLowerCase().replace(/^err_/, "") });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 401) res.setHeader("www-authenticate", "Bearer");
  if (status === 413) res.setHeader("connection", "close"); // the rest of the body is not read
  const enc =
    req.url?.startsWith("/v1/traces") || req.url?.startsWith("/v1/logs")
      ? encodingOf(req.headers["content-type"])
      : undefined;
  if (enc) sendOtlp(res, status, encodeStatus(status === 400 ? 3 : 13, String(body.error.message), enc), enc);
  else sendJson(res, status, body);
}
