/**
 * The admin endpoints: the operator's commands while the collector holds the store.
 *
 *   POST /v1/admin/compact|prune|gc|verify   a maintenance job run inside the collector, under the
 *                                            store's maintenance lock (so after a scheduled run in
 *                                            progress, never beside it), streamed as NDJSON events
 *   GET  /v1/admin/maintenance               the run holding the lock, and the last 100 runs
 *   GET  /v1/admin/dump/…                    what `tracetier dump` shows, read inside the collector
 *
 * A job's options are checked before the answer starts (a bad one is a 400 like any other); after
 * that the status is 200 and the outcome is the last line: `done` with the result or `failed` with
 * the error. A line every second while waiting or running keeps proxies and clients from timing out.
 * A client that goes away does not stop a job (a half-run compaction is not a thing): it finishes,
 * and the collector logs it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidOptionError, TracetierError } from "../base/errors.js";
import { jsonSafe } from "../base/json-safe.js";
import { checkDate, checkRows, dumpBody, dumpManifest, dumpPartition, dumpWal } from "../maintenance/dump.js";
import { liveRepairRefused } from "../maintenance/verify.js";
import { checkPolicy, DEFAULT_RETENTION, POLICY_FIELDS, type RetentionPolicy } from "../retention/policy.js";
import { inspectStore, type TraceStore, verifyRunning } from "../store.js";
import { errorResponse, HttpError, readBody, send } from "./http.js";
import { describeRun, type RunJob, type RunningJob } from "./maintenance-log.js";
import type { RouteContext } from "./routes.js";

/** Admin request bodies are a few options: anything larger is not one. */
const ADMIN_BODY_LIMIT = 64 * 1024;
const HEARTBEAT_MS = 1000;

/** Starts the job; `hooks` are told when it holds the maintenance lock and when it has ended. */
type Start = (
  store: TraceStore,
  hooks: { onStart: () => void; onEnd: () => void; signal: AbortSignal },
) => Promise<unknown>;

/** The job's start function, from its checked options (a bad option throws before anything runs). */
const JOBS: Record<RunJob, (body: Record<string, unknown>) => Start> = {
  compact(body) {
    only(body, ["olderThanMs"]);
    const v = body.olderThanMs;
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0))
      throw new InvalidOptionError("olderThanMs", "must be a whole number of ms, 0 or more");
    // -0 is 0 (JSON numbers compare so, and the CLI sends "0"): taken as 0, never shown as -0
    const olderThanMs = v === undefined ? undefined : (v as number) + 0;
    return (store, { onStart, onEnd }) => store.compact({ olderThanMs, onStart, onEnd });
  },
  prune(body) {
    only(body, ["policy"]);
    // Only a missing policy is the default: a null or an array is a mistake, not "delete by the defaults".
    if (body.policy !== undefined && !isPlainObject(body.policy))
      throw new InvalidOptionError("policy", "must be an object of retention limits");
    const policy = (body.policy ?? DEFAULT_RETENTION) as RetentionPolicy;
    checkPolicy(policy, {});
    only(policy as Record<string, unknown>, [...POLICY_FIELDS], "policy.");
    return (store, { onStart, onEnd }) => store.prune(policy, { onStart, onEnd });
  },
  gc(body) {
    only(body, []);
    return (store, { onStart, onEnd }) => store.gc({ onStart, onEnd });
  },
  /** Read-only, over a snapshot (verifyRunning); `repair` needs the store closed. */
  verify(body) {
    if (body.repair === true) throw liveRepairRefused();
    only(body, []);
    // a shutdown ends it at its next file or batch (ERR_CLOSED) rather than wait for the whole check
    return (store, hooks) => verifyRunning(store, hooks);
  },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function only(body: Record<string, unknown>, allowed: string[], prefix = ""): void {
  for (const key of Object.keys(body))
    if (!allowed.includes(key))
      throw new InvalidOptionError(`${prefix}${key}`, "is not an option of this job");
}

/** `POST /v1/admin/<job>`: the handler for a job whose start `starter` builds from the body. */
export function adminJob(job: RunJob, starter: (body: Record<string, unknown>) => Start) {
  return async (ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const start = starter(await jsonBody(req));
    await streamJob(ctx, res, job, start);
  };
}

export const ADMIN_JOBS = Object.entries(JOBS) as [RunJob, (b: Record<string, unknown>) => Start][];

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const { body } = await readBody(req, ADMIN_BODY_LIMIT);
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, "ERR_INVALID_JSON", `the body is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(v))
    throw new HttpError(400, "ERR_INVALID_JSON", "the body must be a JSON object of the job's options");
  return v as Record<string, unknown>;
}

async function streamJob(ctx: RouteContext, res: ServerResponse, job: RunJob, start: Start): Promise<void> {
  const log = ctx.metrics.maintenance;
  res.writeHead(200, {
    "content-type": "application/x-ndjson; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  const write = (event: unknown) => {
    // a client gone, or the answer ended (a job refused at once, before its first waiting line)
    if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(event, jsonSafe)}\n`);
  };
  const queuedAt = Date.now();
  let startedAt: number | undefined;
  const waiting = () => {
    const behind = log.running;
    write({
      event: "waiting",
      elapsedMs: Date.now() - queuedAt,
      ...(behind ? { behind: describeRun(behind) } : {}),
    });
  };
  const timer = setInterval(() => {
    if (startedAt === undefined) waiting();
    else write({ event: "running", elapsedMs: Date.now() - startedAt });
  }, HEARTBEAT_MS);
  // taken as the job ends, before the lock passes on: the next run starts at or after it
  let finishedAt: number | undefined;
  let holding: RunningJob | undefined;
  const onEnd = () => {
    finishedAt = Date.now();
    if (holding) log.ended(holding);
  };
  const onStart = () => {
    // A job still waiting when the collector begins to shut down does not start: shutdown waits for
    // requests in flight, and should not wait for a whole compaction nobody will see the end of.
    if (ctx.stopping.aborted)
      throw new TracetierError("ERR_CLOSED", "the collector is shutting down: the job did not start");
    startedAt = Date.now();
    holding = log.started(job, "admin", startedAt);
    write({ event: "started", waitedMs: startedAt - queuedAt });
  };
  try {
    const running = start(ctx.store, { onStart, onEnd, signal: ctx.stopping });
    // A free lock is taken within the microtasks of start(); a job not started by then waits (behind
    // a run of the collector's, or one it did not start: a library call, the sidecar upgrade), and
    // says so at once rather than at the first heartbeat.
    setImmediate(() => {
      if (startedAt === undefined) waiting();
    });
    const result = await running;
    ctx.metrics.recordRunOf(runOf(job, queuedAt, startedAt, finishedAt, "ok"));
    ctx.log?.(`maintenance: ${job} (admin) done in ${Date.now() - (startedAt ?? queuedAt)} ms`);
    write({ event: "done", result });
  } catch (err) {
    const { body, logged } = errorResponse(err);
    ctx.metrics.recordRunOf({
      ...runOf(job, queuedAt, startedAt, finishedAt, "failed"),
      error: `${body.error.code}: ${body.error.message}`,
    });
    ctx.log?.(
      `maintenance: ${job} (admin) failed: ${logged ? (err as Error).stack : (err as Error).message}`,
    );
    write({ event: "failed", error: body.error });
  } finally {
    clearInterval(timer);
    res.end();
  }
}

function runOf(
  job: RunJob,
  queuedAt: number,
  startedAt: number | undefined,
  finishedAt: number | undefined,
  outcome: "ok" | "failed",
) {
  return {
    job,
    trigger: "admin" as const,
    queuedAt,
    startedAt: startedAt ?? queuedAt,
    finishedAt: finishedAt ?? Date.now(),
    outcome,
  };
}

export async function getMaintenance(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const log = ctx.metrics.maintenance;
  sendSafeJson(res, { running: log.running ?? null, runs: log.runs() });
}

/** `GET /v1/admin/dump/(wal|manifest|partition/<date>|body/<ref>)`, read as a tracked read. */
export async function getDump(
  ctx: RouteContext,
  _req: IncomingMessage,
  res: ServerResponse,
  [what, arg]: string[],
  query: URLSearchParams,
): Promise<void> {
  const store = inspectStore(ctx.store);
  const value = await store.read(async () => {
    if (what === "wal") return dumpWal(store.dir, { live: true });
    if (what === "manifest") return dumpManifest(store.dir);
    if (what === "partition")
      return dumpPartition(store.dir, checkDate(arg!), checkRows(query.get("rows") ?? undefined));
    return dumpBody(store.hot, store.dir, arg!);
  });
  sendSafeJson(res, value);
}

function sendSafeJson(res: ServerResponse, value: unknown): void {
  send(res, 200, "application/json; charset=utf-8", JSON.stringify(value, jsonSafe));
}
