/**
 * OTLP traces and logs as tracetier records (docs/otlp.md has the mapping). One trace is one turn: the
 * turn id is the trace id. A span becomes a span-open at its start and a span-close at its end; its
 * events that carry no GenAI content become log records under it. An item that cannot be mapped, or
 * whose records do not validate, is rejected alone (OTLP's partial success); the rest are stored.
 */
import { TracetierError } from "../../errors.js";
import { validateRecords } from "../../records/validate.js";
import type { Attributes, LogLevel, SpanLink, TraceRecord } from "../../types.js";
import { extractContent } from "./content.js";
import type { LogRecord, LogsRequest, Resource, Span, TraceRequest } from "./types.js";
import { flatten, hexId, nanosBetweenMs, nanosToMs, plain } from "./values.js";

export interface Mapped {
  records: TraceRecord[];
  /** Items (spans or log records) that were not stored, and why the first one was not. */
  rejected: number;
  firstError: string | undefined;
}

const SPAN_KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"];

export function mapTraces(req: TraceRequest): Mapped {
  const out: Mapped = { records: [], rejected: 0, firstError: undefined };
  for (const rs of req.resourceSpans ?? []) {
    const res = resourceInfo(rs.resource);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) collect(out, () => spanRecords(span, res));
    }
  }
  return out;
}

export function mapLogs(req: LogsRequest): Mapped {
  const out: Mapped = { records: [], rejected: 0, firstError: undefined };
  for (const rl of req.resourceLogs ?? []) {
    const res = resourceInfo(rl.resource);
    for (const sl of rl.scopeLogs ?? []) {
      for (const log of sl.logRecords ?? []) collect(out, () => [logRecord(log, res)]);
    }
  }
  return out;
}

/**
 * Maps one item and validates its records; a failure rejects that item only. The request passed
 * check.ts, so the item's shape is sound; whatever else fails here is still about this item's
 * content, never a reason to fail the others (or to answer 500), so any error rejects the item.
 */
function collect(out: Mapped, map: () => TraceRecord[]): void {
  try {
    const records = map();
    validateRecords(records);
    out.records.push(...records);
  } catch (err) {
    out.rejected++;
    out.firstError ??=
      err instanceof TracetierError || err instanceof MappingError
        ? err.message
        : "an item could not be mapped to records";
  }
}

class MappingError extends Error {}

interface ResourceInfo {
  service: string;
  attrs: Attributes;
}

function resourceInfo(r: Resource | undefined): ResourceInfo {
  const attrs = flatten(r?.attributes);
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

function spanRecords(span: Span, res: ResourceInfo): TraceRecord[] {
  const turnId = hexId(span.traceId, 16);
  const spanId = hexId(span.spanId, 8);
  if (!turnId) throw new MappingError("a span has no valid traceId (32 hex digits)");
  if (!spanId) throw new MappingError("a span has no valid spanId (16 hex digits)");
  const start = nanosToMs(span.startTimeUnixNano);
  const end = nanosToMs(span.endTimeUnixNano);
  if (start === undefined || end === undefined)
    throw new MappingError(`span ${spanId} has no start or end time`);
  const content = extractContent(span.attributes, span.events);
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
  const links = linksOf(span.links);
  const open: TraceRecord = {
    kind: "span-open",
    timestamp: start,
    ...base,
    ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
    ...(links.length > 0 ? { links } : {}),
    ...(content.input !== undefined ? { body: content.input } : {}),
  };
  const statusCode = span.status?.code;
  const failed = statusCode === 2 || statusCode === "STATUS_CODE_ERROR";
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
    ...(e.attributes && e.attributes.length > 0 ? { attributes: flatten(e.attributes) } : {}),
  }));
  return [open, ...events, close];
}

function linksOf(links: Span["links"]): SpanLink[] {
  const out: SpanLink[] = [];
  for (const l of links ?? []) {
    const spanId = hexId(l.spanId, 8);
    if (!spanId) continue;
    const turnId = hexId(l.traceId, 16);
    const attrs = flatten(l.attributes);
    out.push({
      spanId,
      ...(turnId ? { turnId } : {}),
      ...(Object.keys(attrs).length > 0 ? { attributes: attrs } : {}),
    });
  }
  return out;
}

function logRecord(log: LogRecord, res: ResourceInfo): TraceRecord {
  const timestamp = nanosToMs(log.timeUnixNano) ?? nanosToMs(log.observedTimeUnixNano);
  if (timestamp === undefined)
    throw new MappingError("a log record has neither timeUnixNano nor observedTimeUnixNano");
  const attributes = flatten(log.attributes);
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
  const n = Number(log.severityNumber ?? 0);
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
