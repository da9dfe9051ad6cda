/**
 * OTLP traces and logs as tracetier records (docs/otlp.md has the mapping). One trace is one turn: the
 * turn id is the trace id. A span becomes a span-open at its start and a span-close at its end; its
 * events that carry no GenAI content become log records under it. An item that cannot be mapped, or
 * whose records do not validate, is rejected alone (OTLP's partial success); the rest are stored.
 */
import { TracetierError } from "../../base/errors.js";
import { validateRecords } from "../../records/validate.js";
import type { Attributes, LogLevel, SpanLink, TraceRecord } from "../../types.js";
import { HttpError } from "../http.js";
import { OtlpShapeError } from "./check.js";
import { extractContent } from "./content.js";
import { ItemLimitError, KeyBudget, MAX_ATTRIBUTES_PER_SET } from "./limits.js";
import type { LogRecord, LogsRequest, Resource, Span, TraceRequest } from "./types.js";
import { flatten, hexId, nanosBetweenMs, nanosToMs, plain } from "./values.js";

export interface Mapped {
  records: TraceRecord[];
  /** Items (spans or log records) that were not stored, and why the first one was not. */
  rejected: number;
  firstError: string | undefined;
}

/** Span kinds by number, as schema.ts's SpanKind enum has them (check.ts turns names into these numbers). */
const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const STATUS_CODE_ERROR = 2;

/** Where a mapper bug goes: the item is rejected either way, but the detail must reach the log. */
export type MapLog = (line: string) => void;

const stderrLog: MapLog = (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

interface Context {
  out: Mapped;
  budget: KeyBudget;
  log: MapLog;
}

export function mapTraces(req: TraceRequest, log: MapLog = stderrLog): Mapped {
  return mapEach(req.resourceSpans, "resourceSpans", log, (rs, res, ctx) => {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) collect(ctx, () => spanRecords(span, res, ctx.budget));
    }
  });
}

export function mapLogs(req: LogsRequest, log: MapLog = stderrLog): Mapped {
  return mapEach(req.resourceLogs, "resourceLogs", log, (rl, res, ctx) => {
    for (const sl of rl.scopeLogs ?? []) {
      for (const rec of sl.logRecords ?? []) collect(ctx, () => [logRecord(rec, res, ctx.budget)]);
    }
  });
}

/** One request's resources in order, each item mapped under the request's key budget. */
function mapEach<R extends { resource?: Resource }>(
  resources: readonly R[] | undefined,
  field: string,
  log: MapLog,
  items: (r: R, res: ResourceInfo, ctx: Context) => void,
): Mapped {
  const ctx: Context = {
    out: { records: [], rejected: 0, firstError: undefined },
    budget: new KeyBudget(),
    log,
  };
  (resources ?? []).forEach((r, i) => {
    items(r, resourceInfo(r.resource, `${field}[${i}].resource.attributes`, ctx.budget), ctx);
  });
  return ctx.out;
}

/**
 * Maps one item and validates its records; a failure rejects that item only. The request passed
 * check.ts, so the item's shape is sound; whatever else fails here is still about this item's
 * content, never a reason to fail the others (or to answer 500), so any error rejects the item. A
 * request-wide limit (an HttpError) refuses the whole request instead. An error that is none of ours
 * (a TypeError…) is a mapper bug: the client gets a generic message, the log gets the detail.
 */
function collect(ctx: Context, map: () => TraceRecord[]): void {
  const { out } = ctx;
  try {
    const records = map();
    validateRecords(records);
    out.records.push(...records);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    out.rejected++;
    const ours =
      err instanceof TracetierError || err instanceof MappingError || err instanceof ItemLimitError;
    if (!ours)
      ctx.log(
        `OTLP mapping failed unexpectedly (the item was rejected): ${(err as Error)?.stack ?? String(err)}`,
      );
    out.firstError ??= ours ? (err as Error).message : "an item could not be mapped to records";
  }
}

class MappingError extends Error {}

interface ResourceInfo {
  service: string;
  attrs: Attributes;
}

/** A resource's attributes over a limit fail every item under it: the request is refused, naming it. */
function resourceInfo(r: Resource | undefined, path: string, budget: KeyBudget): ResourceInfo {
  let attrs: Attributes;
  try {
    if ((r?.attributes?.length ?? 0) > MAX_ATTRIBUTES_PER_SET)
      throw new ItemLimitError(`has over ${MAX_ATTRIBUTES_PER_SET} attributes`);
    attrs = flatten(r?.attributes, budget);
  } catch (err) {
    if (err instanceof ItemLimitError) throw new OtlpShapeError(path, `is over a limit: ${err.message}`);
    throw err;
  }
  const service = attrs["service.name"];
  return { service: typeof service === "string" && service !== "" ? service : "unknown_service", attrs };
}

function conversationOf(attrs: Attributes, res: ResourceInfo): string | undefined {
  for (const key of ["gen_ai.conversation.id", "session.id"]) {
    const v = attrs[key] ?? res.attrs[key];
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "number") return String(v);
  }
  return undefined;
}

function spanRecords(span: Span, res: ResourceInfo, budget: KeyBudget): TraceRecord[] {
  const turnId = hexId(span.traceId, 16);
  const spanId = hexId(span.spanId, 8);
  if (!turnId) throw new MappingError("a span has no valid traceId (32 hex digits)");
  if (!spanId) throw new MappingError("a span has no valid spanId (16 hex digits)");
  const start = nanosToMs(span.startTimeUnixNano);
  const end = nanosToMs(span.endTimeUnixNano);
  if (start === undefined || end === undefined)
    throw new MappingError(`span ${spanId} has no start or end time`);
  const content = extractContent(span.attributes, span.events, budget);
  const attributes = content.attributes;
  const kind = SPAN_KINDS[Number(span.kind ?? 0)];
  if (kind && kind !== "unspecified") attributes["otel.span.kind"] = kind;
  const parentSpanId = hexId(span.parentSpanId, 8);
  const conversationId = conversationOf(attributes, res);
  const base = {
    extensionId: res.service,
    turnId,
    spanId,
    name: span.name ?? "",
    ...(parentSpanId ? { parentSpanId } : {}),
    ...(conversationId !== undefined ? { conversationId } : {}),
  };
  const links = linksOf(span.links, budget);
  const open: TraceRecord = {
    kind: "span-open",
    timestamp: start,
    ...base,
    ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
    ...(links.length > 0 ? { links } : {}),
    ...(content.input !== undefined ? { body: content.input } : {}),
  };
  const statusCode = span.status?.code;
  const failed = statusCode === STATUS_CODE_ERROR;
  const message = span.status?.message;
  const close: TraceRecord = {
    kind: "span-close",
    timestamp: end,
    ...base,
    durationMs: Math.max(0, nanosBetweenMs(span.startTimeUnixNano!, span.endTimeUnixNano!)),
    status: failed ? "error" : "ok",
    ...(message ? { attributes: { "otel.status_message": message } } : {}),
    ...(content.output !== undefined ? { body: content.output } : {}),
  };
  const events: TraceRecord[] = content.events.map((e) => ({
    kind: "log",
    level: e.name === "exception" ? "error" : "info",
    msg: e.name ?? "",
    timestamp: nanosToMs((e as { timeUnixNano?: string | number }).timeUnixNano) ?? start,
    extensionId: res.service,
    turnId,
    spanId,
    ...(conversationId !== undefined ? { conversationId } : {}),
    ...(e.attributes && e.attributes.length > 0 ? { attributes: flatten(e.attributes, budget) } : {}),
  }));
  return [open, ...events, close];
}

function linksOf(links: Span["links"], budget: KeyBudget): SpanLink[] {
  const out: SpanLink[] = [];
  for (const l of links ?? []) {
    const spanId = hexId(l.spanId, 8);
    if (!spanId) continue;
    const turnId = hexId(l.traceId, 16);
    const attrs = flatten(l.attributes, budget);
    out.push({
      spanId,
      ...(turnId ? { turnId } : {}),
      ...(Object.keys(attrs).length > 0 ? { attributes: attrs } : {}),
    });
  }
  return out;
}

function logRecord(log: LogRecord, res: ResourceInfo, budget: KeyBudget): TraceRecord {
  const timestamp = nanosToMs(log.timeUnixNano) ?? nanosToMs(log.observedTimeUnixNano);
  if (timestamp === undefined)
    throw new MappingError("a log record has neither timeUnixNano nor observedTimeUnixNano");
  const attributes = flatten(log.attributes, budget);
  const turnId = hexId(log.traceId, 16);
  const spanId = hexId(log.spanId, 8);
  const conversationId = conversationOf(attributes, res);
  const value = plain(log.body);
  const text = typeof value === "string" ? value : value === null ? "" : JSON.stringify(value);
  // A GenAI event's body is content (a prompt, a completion): it goes where bodies go.
  const content = log.eventName?.startsWith("gen_ai.") === true;
  return {
    kind: "log",
    level: levelOf(log),
    msg: content ? log.eventName! : text,
    timestamp,
    extensionId: res.service,
    ...(turnId ? { turnId } : {}),
    ...(spanId ? { spanId } : {}),
    ...(conversationId !== undefined ? { conversationId } : {}),
    ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
    ...(content && text !== "" ? { body: text } : {}),
  };
}

/** OTLP severity numbers 1–8 are trace and debug, 9–12 info, 13–16 warn, 17–24 error and fatal. */
function levelOf(log: LogRecord): LogLevel {
  const n = log.severityNumber ?? 0;
  if (n >= 17) return "error";
  if (n >= 13) return "warn";
  if (n >= 9) return "info";
  if (n >= 1) return "debug";
  const text = (log.severityText ?? "").toLowerCase();
  if (text.startsWith("err") || text.startsWith("fatal") || text.startsWith("crit")) return "error";
  if (text.startsWith("warn")) return "warn";
  if (text.startsWith("debug") || text.startsWith("trace")) return "debug";
  return "info";
}
