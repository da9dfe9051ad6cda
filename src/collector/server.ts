/**
 * The collector's HTTP server: routes (routes.ts), bearer-token auth, the bind rule (a non-loopback
 * address only with a token), per-request metrics, and a graceful close that stops accepting, lets
 * requests in flight finish (each answers only once its records are durable), then closes connections.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { isIP } from "node:net";
import { InvalidOptionError, TracetierError } from "../base/errors.js";
import type { TraceStore } from "../store.js";
import { BodyBudget, errorResponse, HttpError, sendJson } from "./http.js";
import { CollectorMetrics } from "./metrics.js";
import { encodeStatus, encodingOf } from "./otlp/decode.js";
import { findRoute, type RouteContext, sendOtlp } from "./routes.js";
import { TailHub, type TailLimits } from "./tail.js";
import { parseTarget } from "./target.js";
import { loadViewer } from "./viewer.js";

export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

export interface CollectorOptions {
  store: TraceStore;
  /** The store's directory (for the hot tier's bytes in /metrics). */
  dir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, every endpoint but /healthz and the viewer's static files requires `Authorization: Bearer <token>`. */
  token?: string;
  /** Largest request body, before and after decompression. Default 64 MiB. */
  bodyLimit?: number;
  /**
   * Bytes of ingest request bodies held at once (after decompression, until answered); past it a
   * request gets 503 ERR_BUSY with Retry-After. Default: 4 × the body limit, at least 256 MiB.
   */
  maxBytesInFlight?: number;
  metrics?: CollectorMetrics;
  /** Where the detail of a server-side failure goes (a client only sees a generic 500). Default stderr. */
  log?: (line: string) => void;
  /** The built web viewer (index.html and assets/). Default: dist/viewer, found from this module. */
  viewerDir?: string;
  /** `GET /v1/tail`'s bounds (tail.ts TAIL_DEFAULTS). */
  tail?: Partial<TailLimits>;
}

export interface Collector {
  readonly url: string;
  readonly metrics: CollectorMetrics;
  /** Ends the tail streams, stops accepting, waits for requests in flight, closes every connection. */
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
  const log = opts.log ?? ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const stopping = new AbortController();
  const ctx: RouteContext = {
    store: opts.store,
    metrics,
    bodyLimit,
    bodyBudget: new BodyBudget(
      Math.max(opts.maxBytesInFlight ?? Math.max(4 * bodyLimit, 256 * 1024 * 1024), bodyLimit),
    ),
    log,
    viewer: loadViewer(opts.viewerDir),
    // last: it follows the store from now on (stopped by close(), or below if the server cannot listen)
    tail: new TailHub(opts.store, metrics, opts.tail),
    stopping: stopping.signal,
  };
  const inflight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    // handle() answers every error itself; this catch is the last line, so that no request can ever
    // become an unhandled rejection (which would end the process).
    const done = handle(ctx, opts.token, req, res, log).catch((err: unknown) => {
      log(`request ${describe(req)}: unexpected failure: ${detail(err)}`);
      res.destroy();
    });
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  });
  server.on("clientError", (err, socket) => answerClientError(err, socket as Socket));
  // Node hands CONNECT to this event, not to the request handler, and drops the connection unanswered
  // when nothing listens: answer it like any other method the collector does not take.
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    socket.on("error", () => socket.destroy()); // a reset from the client must not become an uncaught error
    const message = `${req.method} is not allowed here`;
    writeRaw(socket, 405, "Method Not Allowed", { error: { code: "ERR_METHOD_NOT_ALLOWED", message } });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 4318, host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    ctx.tail.close();
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`,
    metrics,
    close: () => {
      stopping.abort(); // admin jobs still waiting for the maintenance lock will not start
      return closeGracefully(server, inflight, ctx.tail);
    },
  };
}

async function closeGracefully(server: Server, inflight: Set<Promise<void>>, tail: TailHub): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A tail stream never ends by itself: ended here, its client resumes by its cursor elsewhere.
  tail.close();
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
  log: (line: string) => void,
): Promise<void> {
  const started = performance.now();
  let routeName = "unknown";
  try {
    const target = parseTarget(req.url);
    const { route, params } = findRoute(req.method ?? "GET", target.path);
    routeName = route.name;
    if (!token) checkHost(req);
    if (!token) checkOrigin(req);
    if (!token && route.admin) checkLocalPeer(req);
    if (token && !route.public) authorize(req, token);
    await route.handler(ctx, req, res, params, target.query);
  } catch (err) {
    answerError(ctx, routeName, req, res, err, log);
  } finally {
    ctx.metrics.requests.inc({ route: routeName, status: String(res.statusCode) });
    ctx.metrics.requestSeconds.observe({ route: routeName }, (performance.now() - started) / 1000);
  }
}

/**
 * Without a token, only requests addressed to a loopback name are answered. A web page elsewhere can
 * make a browser send requests to 127.0.0.1 under its own host name (DNS rebinding) and read the
 * answers; the Host header it must send gives it away. A request without one (HTTP/1.0) is no browser's.
 */
function checkHost(req: IncomingMessage): void {
  const header = req.headers.host;
  if (header === undefined) return;
  const name = /^\[[^\]]*\]|^[^:]*/.exec(header)![0].toLowerCase().replace(/\.$/, ""); // `localhost.` is fully qualified
  if (isLoopback(name) || name.endsWith(".localhost")) return;
  throw new HttpError(
    403,
    "ERR_FORBIDDEN_HOST",
    `Host ${JSON.stringify(header.slice(0, 100))} is not a loopback name: without a token the collector answers only requests addressed to localhost or 127.0.0.1 (a guard against DNS rebinding); use --token to serve other names`,
  );
}

/**
 * Without a token, a write (any method but GET and HEAD) from a web page of another origin is refused.
 * A page elsewhere can make the browser send a "simple" POST (text/plain, no preflight) to 127.0.0.1
 * with the collector's own Host: its records would be stored, its admin jobs run (a prune). Browsers
 * say where such a request comes from (Origin, Sec-Fetch-Site); other clients (SDKs, curl, the command
 * line) send neither. A token stops it by itself: a page cannot add the Authorization header without
 * a CORS preflight, which the collector never answers.
 */
function checkOrigin(req: IncomingMessage): void {
  if (req.method === "GET" || req.method === "HEAD") return;
  const origin = req.headers.origin;
  const site = req.headers["sec-fetch-site"];
  // The browser's own word first: it knows the page's origin even behind a proxy that rewrites Host.
  // Without it (older browsers), the Origin against the Host the collector was asked for.
  const foreign =
    site !== undefined
      ? site === "cross-site" || site === "same-site"
      : origin !== undefined && !sameOrigin(origin, req);
  if (!foreign) return;
  throw new HttpError(
    403,
    "ERR_FORBIDDEN",
    `a ${req.method} from a web page of another origin (${JSON.stringify(String(origin ?? site).slice(0, 100))}) is refused: without a token the collector takes writes only from programs and its own pages; use --token to accept them`,
  );
}

/** Whether a browser's Origin header names the collector itself (the host it was asked for). */
function sameOrigin(origin: string, req: IncomingMessage): boolean {
  try {
    return new URL(origin).host === (req.headers.host ?? "").toLowerCase();
  } catch {
    return false; // "null" (a sandboxed page, a file:) and anything unparseable
  }
}

/** A peer address of this machine: 127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address. */
export function isLocalPeer(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, "");
  return isIP(v4) === 4 ? v4.startsWith("127.") : address === "::1";
}

/**
 * Admin endpoints without a token answer only clients on this machine. A collector without a token
 * listens on loopback anyway; this holds if it is ever reached another way (a forwarded port).
 */
function checkLocalPeer(req: IncomingMessage): void {
  const peer = req.socket.remoteAddress ?? "";
  if (isLocalPeer(peer)) return;
  throw new HttpError(
    403,
    "ERR_FORBIDDEN",
    `admin endpoints answer other machines only when the collector has a token (--token or TRACETIER_TOKEN); ${peer} is not this machine`,
  );
}

function authorize(req: IncomingMessage, token: string): void {
  const given = Buffer.from(req.headers.authorization ?? "");
  const wanted = Buffer.from(`Bearer ${token}`);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
    throw new HttpError(401, "ERR_UNAUTHORIZED", "a valid Authorization: Bearer token is required");
  }
}

/**
 * Errors as JSON, or for OTLP requests as a google.rpc.Status in the request's own encoding. A server
 * fault is logged with its detail (and stack); the client gets only the code and a generic message.
 */
function answerError(
  ctx: RouteContext,
  routeName: string,
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  log: (line: string) => void,
): void {
  const { status, body, headers, logged } = errorResponse(err);
  if (logged) log(`request ${describe(req)}: ${status} ${body.error.code}: ${detail(err)}`);
  ctx.metrics.rejects.inc({ reason: String(body.error.code).toLowerCase().replace(/^err_/, "") });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (status === 401) res.setHeader("www-authenticate", "Bearer");
  if (status === 413 || status === 503) res.setHeader("connection", "close"); // the rest of the body may not be read
  const enc =
    routeName === "otlp_traces" || routeName === "otlp_logs"
      ? encodingOf(req.headers["content-type"])
      : undefined;
  if (enc) sendOtlp(res, status, encodeStatus(rpcCode(status), String(body.error.message), enc), enc);
  else sendJson(res, status, body);
}

/** google.rpc.Code for an HTTP status: INVALID_ARGUMENT, UNAUTHENTICATED, RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL. */
function rpcCode(status: number): number {
  if (status === 401) return 16;
  if (status === 413 || status === 507) return 8;
  if (status === 503) return 14;
  return status < 500 ? 3 : 13;
}

/**
 * A request Node's HTTP parser refused before any handler saw it (a malformed request line or header,
 * headers over the limit, a timeout): answered as JSON like every other refusal, then the connection
 * is closed, since the parser cannot find the next request in the stream.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // As Node's own handler: answer only on a connection that has sent nothing yet; otherwise a response
  // may be half written, and a second one would corrupt it.
  if (err.code === "ECONNRESET" || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [
          431,
          "Request Header Fields Too Large",
          "ERR_TOO_LARGE",
          "the request line and headers are over the limit",
        ]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", "ERR_BAD_REQUEST", "the request did not arrive in time"]
        : [
            400,
            "Bad Request",
            "ERR_BAD_REQUEST",
            `the request is not valid HTTP/1.1 (${err.code ?? err.message})`,
          ];
  writeRaw(socket, status, reason, { error: { code, message } });
}

/** A whole JSON response written straight to a socket Node's server no longer manages, then closed. */
function writeRaw(socket: Socket, status: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/** The request in a log line: its method and target, cut short (a target can be kilobytes). */
function describe(req: IncomingMessage): string {
  const target = req.url ?? "";
  return `${req.method} ${target.length > 200 ? `${target.slice(0, 200)}…` : target}`;
}

/**
 * What the log gets: a condition the store reports (a full disk, a closing store) as its message and
 * cause, one line per request; anything else, a bug or damage, with its stack.
 */
function detail(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const expected =
    err instanceof TracetierError && err.code !== "ERR_CORRUPT_STORE" && err.code !== "ERR_CORRUPT_WAL";
  if (!expected) return err.stack ?? `${err.name}: ${err.message}`;
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : "";
  return `${err.message}${cause}`;
}
