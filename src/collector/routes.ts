/**
 * The collector's endpoints: ingest (records, OTLP traces and logs) and reads (turns, views, queries,
 * bodies, stats, health, metrics). A route answers only once what it stored is durable.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidOptionError } from "../base/errors.js";
import { parseTime } from "../base/units.js";
import { decodeCursor, MAX_TURNS_LIMIT } from "../read/turns-query.js";
import type { TraceStore } from "../store.js";
import type { Query, SearchOptions, TurnsQuery, UsageQuery } from "../types.js";
import { ADMIN_JOBS, adminJob, getDump, getMaintenance } from "./admin.js";
import { type BodyBudget, HttpError, readBody, send, sendJson } from "./http.js";
import type { CollectorMetrics, Source } from "./metrics.js";
import { decodeLogs, decodeTraces, encodeResponse, encodingOf, type OtlpEncoding } from "./otlp/decode.js";
import { type Mapped, mapLogs, mapTraces } from "./otlp/map.js";
import { parseRecordsBody } from "./records-body.js";
import type { TailHub } from "./tail.js";
import { decodePart } from "./target.js";
import { sendAsset, sendIndex, type ViewerAssets } from "./viewer.js";

export interface RouteContext {
  store: TraceStore;
  metrics: CollectorMetrics;
  bodyLimit: number;
  /** Bytes of ingest requests held at once (503 past it). */
  bodyBudget: BodyBudget;
  /** The collector's log (server faults and mapper bugs; never a client's error). */
  log?: (line: string) => void;
  /** The web viewer's files, read at start (viewer.ts). */
  viewer: ViewerAssets;
  /** `GET /v1/tail`'s streams and recent records (tail.ts). */
  tail: TailHub;
  /** Aborted when the collector begins to shut down (admin jobs not yet started then do not start). */
  stopping: AbortSignal;
}

type Handler = (
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  params: string[],
  query: URLSearchParams,
) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  handler: Handler;
  /** Answered without a token: health and the viewer's static files, which hold no data. */
  public?: true;
  /** Without a token, answered only to clients on this machine (a loopback peer address). */
  admin?: true;
}

const ROUTES: Route[] = [
  { method: "POST", pattern: /^\/v1\/records$/, name: "records", handler: postRecords },
  {
    method: "POST",
    pattern: /^\/v1\/traces$/,
    name: "otlp_traces",
    handler: (c, q, s) => postOtlp(c, q, s, "traces"),
  },
  {
    method: "POST",
    pattern: /^\/v1\/logs$/,
    name: "otlp_logs",
    handler: (c, q, s) => postOtlp(c, q, s, "logs"),
  },
  { method: "GET", pattern: /^\/v1\/turns$/, name: "turns", handler: getTurns },
  { method: "GET", pattern: /^\/v1\/usage$/, name: "usage", handler: getUsage },
  { method: "GET", pattern: /^\/v1\/search$/, name: "search", handler: getSearch },
  { method: "GET", pattern: /^\/v1\/turns\/([^/]+)$/, name: "turn", handler: getTurn },
  { method: "GET", pattern: /^\/v1\/turns\/([^/]+)\/view$/, name: "turn_view", handler: getView },
  { method: "GET", pattern: /^\/v1\/records$/, name: "query", handler: getRecords },
  {
    method: "GET",
    pattern: /^\/v1\/tail$/,
    name: "tail",
    handler: (c, q, s, _p, p) => c.tail.serve(q, s, p),
  },
  { method: "GET", pattern: /^\/v1\/records\/([^/]+)\/body$/, name: "body", handler: getBody },
  { method: "GET", pattern: /^\/v1\/records\/([^/]+)\/diff$/, name: "diff", handler: getDiff },
  {
    method: "GET",
    pattern: /^\/v1\/stats$/,
    name: "stats",
    handler: async (c, _q, s) => sendJson(s, 200, await c.store.stats()),
  },
  {
    method: "GET",
    pattern: /^\/healthz$/,
    name: "healthz",
    handler: async (_c, _q, s) => sendJson(s, 200, { ok: true }),
    public: true,
  },
  { method: "GET", pattern: /^\/metrics$/, name: "metrics", handler: getMetrics },
  ...ADMIN_JOBS.map(
    ([job, starter]): Route => ({
      method: "POST",
      pattern: new RegExp(`^/v1/admin/${job}$`),
      name: `admin_${job}`,
      handler: adminJob(job, starter),
      admin: true,
    }),
  ),
  {
    method: "GET",
    pattern: /^\/v1\/admin\/maintenance$/,
    name: "admin_maintenance",
    handler: getMaintenance,
    admin: true,
  },
  {
    method: "GET",
    pattern: /^\/v1\/admin\/dump\/(wal|manifest|partition\/[^/]+|body\/[^/]+)$/,
    name: "admin_dump",
    handler: (c, q, s, [what], p) => getDump(c, q, s, splitOnce(what!), p),
    admin: true,
  },
  {
    method: "GET",
    pattern: /^\/(?:|usage|turns\/[^/]+|conversations\/[^/]+)$/,
    name: "viewer",
    handler: async (c, q, s) => sendIndex(c.viewer, q, s),
    public: true,
  },
  {
    method: "GET",
    pattern: /^\/assets\/([^/]+)$/,
    name: "viewer_asset",
    handler: async (c, q, s, [name]) => sendAsset(c.viewer, name!, q, s),
    public: true,
  },
];

/** `partition/2026-11-01` → `["partition", "2026-11-01"]` (decoded already: a `/` in the date is %2F). */
function splitOnce(what: string): string[] {
  const i = what.indexOf("/");
  return i < 0 ? [what] : [what.slice(0, i), what.slice(i + 1)];
}

/** The route for a request, with its path parameters; a known path with another method is a 405. */
export function findRoute(method: string, path: string): { route: Route; params: string[] } {
  let pathKnown = false;
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    pathKnown = true;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) {
      return { route, params: m.slice(1).map((p) => decodePart(p, "path segment")) };
    }
  }
  if (pathKnown) throw new HttpError(405, "ERR_METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}`);
  throw new HttpError(404, "ERR_NOT_FOUND", `no endpoint at ${path}`);
}

/**
 * An ingest request's body, held against the collector's budget until `use` has answered: reserved at
 * its Content-Length before reading (so a burst of large bodies is refused before it is buffered), then
 * grown to its decompressed size.
 */
async function withBody(
  ctx: RouteContext,
  req: IncomingMessage,
  use: (body: Buffer, rawBytes: number) => Promise<void>,
): Promise<void> {
  const declared = Number(req.headers["content-length"] ?? 0);
  const hold = ctx.bodyBudget.hold(Number.isSafeInteger(declared) ? Math.min(declared, ctx.bodyLimit) : 0);
  try {
    const { body, rawBytes } = await readBody(req, ctx.bodyLimit);
    hold.grow(Math.max(body.length, rawBytes));
    await use(body, rawBytes);
  } finally {
    hold.release();
  }
}

async function postRecords(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  await withBody(ctx, req, (body, rawBytes) => storeRecords(ctx, req, res, body, rawBytes));
}

async function storeRecords(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  rawBytes: number,
): Promise<void> {
  const records = await parseRecordsBody(body, req.headers["content-type"]);
  const result = await ctx.store.insertRecords(records as never);
  count(ctx, "records", result, rawBytes);
  sendJson(res, 200, result);
}

async function postOtlp(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  signal: "traces" | "logs",
): Promise<void> {
  const enc = encodingOf(req.headers["content-type"]);
  if (!enc) {
    throw new HttpError(
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
      "OTLP/HTTP takes application/x-protobuf or application/json",
    );
  }
  await withBody(ctx, req, async (body, rawBytes) => {
    const mapped: Mapped =
      signal === "traces"
        ? mapTraces(decodeTraces(body, enc), ctx.log)
        : mapLogs(decodeLogs(body, enc), ctx.log);
    const result =
      mapped.records.length > 0
        ? await ctx.store.insertRecords(mapped.records)
        : { inserted: 0, duplicates: 0 };
    const source: Source = signal === "traces" ? "otlp_traces" : "otlp_logs";
    count(ctx, source, result, rawBytes);
    if (mapped.rejected > 0) ctx.metrics.rejects.inc({ reason: `otlp_${signal}_item` }, mapped.rejected);
    sendOtlp(res, 200, encodeResponse(signal, mapped.rejected, mapped.firstError, enc), enc);
  });
}

export function sendOtlp(res: ServerResponse, status: number, body: Buffer, enc: OtlpEncoding): void {
  send(res, status, enc === "json" ? "application/json" : "application/x-protobuf", body);
}

function count(
  ctx: RouteContext,
  source: Source,
  r: { inserted: number; duplicates: number },
  bytes: number,
): void {
  ctx.metrics.ingested.inc({ source }, r.inserted);
  ctx.metrics.duplicates.inc({ source }, r.duplicates);
  ctx.metrics.ingestedBytes.inc({ source }, bytes);
}

async function getTurn(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  [turnId]: string[],
  query: URLSearchParams,
): Promise<void> {
  sendJson(res, 200, await ctx.store.getTurn(turnId!, { bodies: bodiesParam(query.get("bodies")) }));
}

/** `?bodies=`: `false` (thin records), `sizes` (thin, with each body's size), anything else: bodies. */
function bodiesParam(v: string | null): boolean | "sizes" {
  return v === "sizes" ? "sizes" : v !== "false";
}

function noBody(id: string): HttpError {
  return new HttpError(404, "ERR_NOT_FOUND", `record ${id} has no body here (unknown, bodiless, or evicted)`);
}

async function getDiff(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  [id]: string[],
): Promise<void> {
  const diff = await ctx.store.requestDiff(id!);
  if (diff === undefined) throw noBody(id!);
  sendJson(res, 200, diff);
}

async function getView(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  [turnId]: string[],
): Promise<void> {
  send(res, 200, "text/plain; charset=utf-8", `${await ctx.store.easyView(turnId!)}\n`);
}

async function getBody(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  [id]: string[],
): Promise<void> {
  const body = await ctx.store.getBody(id!);
  if (body === undefined) throw noBody(id!);
  send(res, 200, "text/plain; charset=utf-8", body);
}

const FILTERS = ["kind", "level", "name", "status", "extensionId", "conversationId", "turnId"] as const;

async function getRecords(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  _p: string[],
  p: URLSearchParams,
): Promise<void> {
  const q: Query = {};
  for (const f of FILTERS) {
    const v = p.get(f);
    if (v !== null) q[f] = v;
  }
  if (p.has("from")) q.from = parseTime(p.get("from")!, "from");
  if (p.has("to")) q.to = parseTime(p.get("to")!, "to");
  if (p.has("limit")) q.limit = Number(p.get("limit"));
  if (p.has("order")) q.order = p.get("order") as Query["order"];
  q.bodies = bodiesParam(p.get("bodies"));
  sendJson(res, 200, await ctx.store.query(q));
}

/** `from`, `to` (ms, ISO dates or `-1h`) and `extensionId`, shared by the turns list and usage. */
function rangeParams(p: URLSearchParams): UsageQuery {
  const q: UsageQuery = {};
  if (p.has("from")) q.from = parseTime(p.get("from")!, "from");
  if (p.has("to")) q.to = parseTime(p.get("to")!, "to");
  if (p.has("extensionId")) q.extensionId = p.get("extensionId")!;
  return q;
}

async function getTurns(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  _p: string[],
  p: URLSearchParams,
): Promise<void> {
  const q: TurnsQuery = rangeParams(p);
  for (const f of ["conversationId", "model"] as const) if (p.has(f)) q[f] = p.get(f)!;
  if (p.has("cursor")) {
    const v = p.get("cursor")!;
    decodeCursor(v, "cursor"); // named as the parameter is, not as the store's option
    q.cursor = v;
  }
  if (p.has("errors")) {
    const v = p.get("errors");
    if (v !== "true" && v !== "false")
      throw new InvalidOptionError("errors", `must be true or false, got "${v}"`);
    q.errors = v === "true";
  }
  pageParams(p, q, MAX_TURNS_LIMIT);
  sendJson(res, 200, await ctx.store.turns(q));
}

async function getUsage(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  _p: string[],
  p: URLSearchParams,
): Promise<void> {
  sendJson(res, 200, await ctx.store.usage(rangeParams(p)));
}

/** `GET /v1/search?q&from&to&turnId&conversationId&extensionId&kind&limit&order`. */
async function getSearch(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  _p: string[],
  p: URLSearchParams,
): Promise<void> {
  const q = p.get("q");
  if (q === null) throw new InvalidOptionError("q", "is required");
  const opts: SearchOptions = rangeParams(p);
  for (const f of ["turnId", "conversationId", "kind"] as const) if (p.has(f)) opts[f] = p.get(f)!;
  // `limit` and `order` are left to the store's own check, so that its message is the one the command
  // line prints on the store opened directly (docs/operate.md: same output either way).
  if (p.has("limit")) opts.limit = Number(p.get("limit"));
  if (p.has("order")) opts.order = p.get("order") as SearchOptions["order"];
  sendJson(res, 200, await ctx.store.search(q, opts));
}

/** `limit` (1 to `max`) and `order` (asc or desc), each named in its 400. */
function pageParams(p: URLSearchParams, q: { limit?: number; order?: "asc" | "desc" }, max: number): void {
  if (p.has("limit")) {
    const v = p.get("limit")!;
    if (!/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > max)
      throw new InvalidOptionError("limit", `must be an integer from 1 to ${max}, got "${v}"`);
    q.limit = Number(v);
  }
  if (p.has("order")) {
    const v = p.get("order");
    if (v !== "asc" && v !== "desc") throw new InvalidOptionError("order", `must be asc or desc, got "${v}"`);
    q.order = v;
  }
}

async function getMetrics(ctx: RouteContext, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  send(res, 200, ctx.metrics.registry.contentType, await ctx.metrics.scrape());
}
