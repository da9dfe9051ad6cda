/**
 * The easy view: a turn as an indented tree, one line per span or log, children in time order at
 * every depth (the seed sorted only the first two levels). Format (docs/easy-view.md):
 *
 *   - <span name> <duration>[ ERR][ {k=v, k=v, k=v}][ [body 2.1k]][ [result 0.8k]]
 *     (a body retention evicted shows as [body 2.1k evicted])
 *   - <span name> (open)          a span-open with no span-close in the turn
 *   - [<level>] <msg>[ {k=v, …}][ [body 2.1k]]
 */
import type { StoredRecord } from "../types.js";

export interface ViewEntry {
  record: StoredRecord;
  /** UTF-8 size of the record's body, when it has one. */
  bodyBytes?: number;
  /** The body was evicted by retention (its size is still known). */
  bodyEvicted?: boolean;
}

interface Node {
  at: number; // position in (timestamp, seq) order, for sorting children
  timestamp: number;
  line: () => string;
  children: Node[];
}

const ATTR_LIMIT = 3;
const ATTR_VALUE_MAX = 40;

/** Renders the turn's records, which must be in (timestamp, seq) order, as getTurn returns them. */
export function renderEasyView(entries: readonly ViewEntry[]): string {
  const spans = new Map<string, SpanNode>();
  const roots: Node[] = [];
  const logs: { node: Node; parent: string | undefined }[] = [];
  entries.forEach((e, at) => {
    const r = e.record;
    if (r.kind === "log") {
      const node: Node = { at, timestamp: r.timestamp, line: () => logLine(e), children: [] };
      logs.push({ node, parent: r.spanId ?? r.parentSpanId });
      return;
    }
    let span = spans.get(r.spanId);
    if (!span) {
      span = new SpanNode(at, r.timestamp);
      spans.set(r.spanId, span);
    }
    span.add(e);
  });
  for (const span of spans.values()) {
    const parent = span.parentSpanId === undefined ? undefined : spans.get(span.parentSpanId);
    (parent && parent !== span ? parent.children : roots).push(span);
  }
  for (const { node, parent } of logs) {
    const owner = parent === undefined ? undefined : spans.get(parent);
    (owner ? owner.children : roots).push(node);
  }
  const lines: string[] = [];
  emit(roots, 0, lines, new Set());
  return lines.join("\n");
}

function emit(nodes: Node[], depth: number, lines: string[], seen: Set<Node>): void {
  nodes.sort((a, b) => a.timestamp - b.timestamp || a.at - b.at);
  for (const n of nodes) {
    if (seen.has(n)) continue; // a parent cycle in bad data must not loop forever
    seen.add(n);
    lines.push(`${"  ".repeat(depth)}- ${n.line()}`);
    emit(n.children, depth + 1, lines, seen);
  }
}

class SpanNode implements Node {
  at: number;
  timestamp: number;
  children: Node[] = [];
  parentSpanId: string | undefined;
  private open: ViewEntry | undefined;
  private close: ViewEntry | undefined;

  constructor(at: number, timestamp: number) {
    this.at = at;
    this.timestamp = timestamp;
  }

  add(e: ViewEntry): void {
    if (e.record.kind === "span-open") this.open ??= e;
    else this.close ??= e;
    this.parentSpanId ??= (e.record as { parentSpanId?: string }).parentSpanId;
  }

  line = (): string => {
    const first = (this.open ?? this.close)!.record as StoredRecord & { name: string };
    let out = first.name;
    const close = this.close?.record;
    if (close?.kind === "span-close") {
      out += ` ${formatDuration(close.durationMs)}`;
      if (close.status === "error") out += " ERR";
    } else {
      out += " (open)";
    }
    out += formatAttributes({ ...this.open?.record.attributes, ...close?.attributes });
    if (this.open) out += bodyTag("body", this.open);
    if (this.close) out += bodyTag("result", this.close);
    return out;
  };
}

function logLine(e: ViewEntry): string {
  const r = e.record as StoredRecord & { level: string; msg: string };
  const out = `[${r.level}] ${r.msg}${formatAttributes(r.attributes)}`;
  return out + bodyTag("body", e);
}

function bodyTag(label: string, e: ViewEntry): string {
  if (e.bodyBytes === undefined) return "";
  return ` [${label} ${formatBytes(e.bodyBytes)}${e.bodyEvicted ? " evicted" : ""}]`;
}

function formatAttributes(attrs: Record<string, unknown> | undefined): string {
  if (!attrs) return "";
  const keys = Object.keys(attrs).slice(0, ATTR_LIMIT);
  if (keys.length === 0) return "";
  const parts = keys.map((k) => `${k}=${formatValue(attrs[k])}`);
  return ` {${parts.join(", ")}}`;
}

function formatValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > ATTR_VALUE_MAX ? `${s.slice(0, ATTR_VALUE_MAX - 1)}…` : s;
}

/**
 * `850ms`, `1.5s`, `2m0s`, `1h5m`. Rounding happens once, to the unit shown, before splitting into
 * parts, so 119999 ms is `2m0s` (the seed printed `1m60s`) and 59999 ms is `1m0s`, not `60.0s`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1) return `${Math.round(ms * 100) / 100}ms`;
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  const minutes = Math.round(ms / 60_000);
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

/** `512b`, `2.1k`, `3.4M` (1024-based), for UTF-8 byte counts. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}b`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}k`;
  return `${(n / (1024 * 1024)).toFixed(1)}M`;
}
