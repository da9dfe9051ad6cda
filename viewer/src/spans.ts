/**
 * A turn's records as a span tree: each span from its open and close records (either may be missing),
 * nested by `parentSpanId`, children in start order, and each log under its span. Pure data, so the
 * waterfall only renders.
 */
import type { ThinRecord } from "./types.js";

export interface SpanNode {
  spanId: string;
  name: string;
  parentSpanId: string | undefined;
  start: number;
  end: number;
  /** From the close record; undefined while the span is still open. */
  durationMs: number | undefined;
  status: "ok" | "error" | "open";
  depth: number;
  open: ThinRecord | undefined;
  close: ThinRecord | undefined;
  logs: ThinRecord[];
  children: SpanNode[];
  /** Position of its first record in the turn (a tie-break for equal start times). */
  order: number;
}

export interface TurnModel {
  /** Spans depth-first, each parent before its children, siblings by start time. */
  rows: SpanNode[];
  byId: Map<string, SpanNode>;
  /** Logs outside any span of the turn. */
  looseLogs: ThinRecord[];
  start: number;
  end: number;
}

export function buildTurn(records: ThinRecord[]): TurnModel {
  const byId = new Map<string, SpanNode>();
  const logs: ThinRecord[] = [];
  records.forEach((r, order) => {
    if (r.kind === "log") {
      logs.push(r);
      return;
    }
    let s = byId.get(r.spanId);
    if (!s) {
      s = {
        spanId: r.spanId,
        name: r.name,
        parentSpanId: r.parentSpanId,
        start: r.timestamp,
        end: r.timestamp,
        durationMs: undefined,
        status: "open",
        depth: 0,
        open: undefined,
        close: undefined,
        logs: [],
        children: [],
        order,
      };
      byId.set(r.spanId, s);
    }
    s.parentSpanId ??= r.parentSpanId;
    if (r.kind === "span-open") s.open ??= r;
    else {
      s.close = r;
      s.durationMs = r.durationMs;
      s.status = r.status;
      s.name = r.name;
    }
  });
  for (const s of byId.values()) {
    if (s.open) s.start = s.open.timestamp;
    else if (s.close) s.start = s.close.timestamp - (s.durationMs ?? 0);
    s.end =
      s.durationMs !== undefined ? s.start + s.durationMs : Math.max(s.start, s.close?.timestamp ?? s.start);
  }
  const looseLogs: ThinRecord[] = [];
  for (const l of logs) {
    const owner = l.kind === "log" && l.spanId !== undefined ? byId.get(l.spanId) : undefined;
    if (owner) owner.logs.push(l);
    else looseLogs.push(l);
  }
  const roots: SpanNode[] = [];
  for (const s of byId.values()) {
    const parent =
      s.parentSpanId !== undefined && s.parentSpanId !== s.spanId ? byId.get(s.parentSpanId) : undefined;
    if (parent) parent.children.push(s);
    else roots.push(s);
  }
  const rows: SpanNode[] = [];
  const seen = new Set<string>();
  const sortSiblings = (list: SpanNode[]) => list.sort((a, b) => a.start - b.start || a.order - b.order);
  // Depth-first with an explicit stack, not recursion: a chain of many thousand spans (each the parent
  // of the next) must not overflow the call stack. Siblings are pushed last-first so the first pops first.
  const walk = (list: SpanNode[], depth: number) => {
    const stack: Array<[SpanNode, number]> = [];
    const push = (children: SpanNode[], d: number) => {
      sortSiblings(children);
      for (let i = children.length - 1; i >= 0; i--) stack.push([children[i]!, d]);
    };
    push(list, depth);
    while (stack.length > 0) {
      const [s, d] = stack.pop()!;
      if (seen.has(s.spanId)) continue; // a parent cycle in bad data must not loop
      seen.add(s.spanId);
      s.depth = d;
      rows.push(s);
      push(s.children, d + 1);
    }
  };
  walk(roots, 0);
  // Spans only reachable through a cycle: shown at the top level rather than lost.
  for (const s of byId.values()) if (!seen.has(s.spanId)) walk([s], 0);
  // An open span (no close) ends where its last child or log does.
  for (let i = rows.length - 1; i >= 0; i--) {
    const s = rows[i]!;
    if (s.durationMs !== undefined) continue;
    for (const c of s.children) s.end = Math.max(s.end, c.end);
    for (const l of s.logs) s.end = Math.max(s.end, l.timestamp);
  }
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const s of rows) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
  }
  for (const r of records) {
    start = Math.min(start, r.timestamp);
    end = Math.max(end, r.timestamp);
  }
  if (!Number.isFinite(start)) start = end = 0;
  return { rows, byId, looseLogs, start, end };
}

/**
 * The rows a waterfall shows when the spans in `collapsed` are folded: rows are depth-first, so a
 * folded span hides the rows after it that are deeper than it, up to the next one that is not.
 */
export function visibleRows(rows: SpanNode[], collapsed: ReadonlySet<string>): SpanNode[] {
  if (collapsed.size === 0) return rows;
  const out: SpanNode[] = [];
  let hideBelow = Number.POSITIVE_INFINITY;
  for (const s of rows) {
    if (s.depth > hideBelow) continue;
    hideBelow = collapsed.has(s.spanId) ? s.depth : Number.POSITIVE_INFINITY;
    out.push(s);
  }
  return out;
}
