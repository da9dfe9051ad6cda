/**
 * The span waterfall: one row per span (bars on a time axis scaled to the turn, indented by nesting,
 * error spans marked), each span's logs under it at their time. Each row is a component that renders
 * again only when its own props change (its span, whether it is selected or folded), so moving the
 * selection through a turn of hundreds of spans re-renders two rows, not all of them.
 */
import { Component, type ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { ThinRecord } from "./api.js";
import { formatAxis, formatDuration } from "./format.js";
import { html } from "./html.js";
import type { SpanNode, TurnModel } from "./spans.js";

export type Selection = { kind: "span"; id: string } | { kind: "log"; id: string } | undefined;

interface Props {
  model: TurnModel;
  /** The rows to show: model.rows without those inside a folded span. */
  rows: SpanNode[];
  collapsed: ReadonlySet<string>;
  toggle: (spanId: string) => void;
  selection: Selection;
  /** Must keep its identity across renders (the rows do not re-render for a new one). */
  select: (s: Selection) => void;
}

const INDENT = 14;
/** Nesting indented at most this deep: a chain of thousands of spans must not push names off screen. */
const MAX_INDENT_DEPTH = 24;

/** The time axis of the rows: where the turn starts and how long it is (at least 1 ms). */
interface Axis {
  t0: number;
  total: number;
}

const pct = (a: Axis, t: number) => `${(((t - a.t0) / a.total) * 100).toFixed(3)}%`;
const width = (a: Axis, from: number, to: number) =>
  `${Math.max(((to - from) / a.total) * 100, 0.15).toFixed(3)}%`;
const indent = (depth: number) => `${4 + Math.min(depth, MAX_INDENT_DEPTH) * INDENT}px`;

export function Waterfall({ model, rows, collapsed, toggle, selection, select }: Props) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.querySelector(".wf-row.selected")?.scrollIntoView?.({ block: "nearest" });
  }, [selection?.id]);
  const total = Math.max(model.end - model.start, 1);
  const t0 = model.start;
  const isSel = (kind: "span" | "log", id: string) => selection?.kind === kind && selection.id === id;
  const out: ComponentChildren[] = [];
  for (const l of model.looseLogs) {
    out.push(html`<${LogRow} key=${`l:${l.id}`} log=${l} depth=${-1} spanStart=${t0} t0=${t0} total=${total}
      selected=${isSel("log", l.id)} select=${select} />`);
  }
  for (const s of rows) {
    const open = s.children.length > 0 ? !collapsed.has(s.spanId) : undefined;
    out.push(html`<${SpanRow} key=${`s:${s.spanId}`} span=${s} t0=${t0} total=${total}
      selected=${isSel("span", s.spanId)} open=${open} select=${select} toggle=${toggle} />`);
    for (const l of s.logs) {
      out.push(html`<${LogRow} key=${`l:${l.id}`} log=${l} depth=${s.depth} spanStart=${s.start} t0=${t0}
        total=${total} selected=${isSel("log", l.id)} select=${select} />`);
    }
  }
  return html`<div class="waterfall" role="list" ref=${box}>
    <div class="wf-row wf-axis">
      <div class="wf-name muted">Span</div>
      <div class="wf-track">
        ${[0, 0.25, 0.5, 0.75, 1].map(
          (f) =>
            html`<span class="wf-axis-label" style=${{ left: `${f * 100}%` }}>${formatAxis(f * (model.end - model.start))}</span>`,
        )}
      </div>
      <div class="wf-dur muted">Duration</div>
    </div>
    ${out}
  </div>`;
}

/** A component that renders again only when one of its props is a different value (shallow compare). */
abstract class Pure<P extends object> extends Component<P> {
  override shouldComponentUpdate(next: P): boolean {
    const prev = this.props as Record<string, unknown>;
    for (const k of Object.keys(next)) {
      if (k !== "children" && prev[k] !== (next as Record<string, unknown>)[k]) return true;
    }
    return false;
  }
}

interface SpanRowProps extends Axis {
  span: SpanNode;
  selected: boolean;
  /** Whether its subtree is shown; undefined for a span without children. */
  open: boolean | undefined;
  select: (s: Selection) => void;
  toggle: (spanId: string) => void;
}

class SpanRow extends Pure<SpanRowProps> {
  override render() {
    const { span: s, selected, open, select, toggle } = this.props;
    const error = s.status === "error";
    const kids = s.children.length;
    return html`<div
      role="listitem"
      class=${`wf-row wf-span${selected ? " selected" : ""}${error ? " is-error" : ""}`}
      data-testid="span-row"
      data-span-id=${s.spanId}
      data-status=${error ? "error" : s.status === "open" ? "open" : "ok"}
      onClick=${() => select({ kind: "span", id: s.spanId })}
    >
      <div class="wf-name" style=${{ paddingLeft: indent(s.depth) }}
        title=${s.depth > MAX_INDENT_DEPTH ? `${s.name} (depth ${s.depth})` : s.name}>
        ${
          open !== undefined
            ? html`<button type="button" class="wf-fold" aria-expanded=${open}
                title=${open ? "collapse" : `expand (${kids} child span${kids === 1 ? "" : "s"})`}
                onClick=${(e: Event) => {
                  e.stopPropagation();
                  toggle(s.spanId);
                }}>${open ? "▾" : "▸"}</button>`
            : html`<span class="wf-fold"></span>`
        }
        ${error ? html`<span class="err-mark" aria-label="error">✖ </span>` : null}
        <span data-testid="span-name">${s.name}</span>
      </div>
      <div class="wf-track">
        <div class=${`wf-bar${error ? " is-error" : ""}${s.status === "open" ? " is-open" : ""}`}
          style=${{ left: pct(this.props, s.start), width: width(this.props, s.start, s.end) }}></div>
        ${s.logs.map((l) => html`<div class=${`wf-tick level-${level(l)}`} style=${{ left: pct(this.props, l.timestamp) }}></div>`)}
      </div>
      <div class="wf-dur" data-testid="span-duration">
        ${s.durationMs !== undefined ? formatDuration(s.durationMs) : "open"}
      </div>
    </div>`;
  }
}

interface LogRowProps extends Axis {
  log: ThinRecord;
  /** Its span's depth (-1 for a log of no span). */
  depth: number;
  spanStart: number;
  selected: boolean;
  select: (s: Selection) => void;
}

class LogRow extends Pure<LogRowProps> {
  override render() {
    const { log: l, depth, spanStart, selected, select } = this.props;
    const lv = level(l);
    return html`<div
      role="listitem"
      class=${`wf-row wf-log level-${lv}${selected ? " selected" : ""}`}
      data-testid="log-row"
      data-record-id=${l.id}
      data-level=${lv}
      onClick=${() => select({ kind: "log", id: l.id })}
    >
      <div class="wf-name" style=${{ paddingLeft: indent(depth + 1) }}>
        <span class="log-level">${lv}</span> <span class="log-msg">${l.kind === "log" ? l.msg : ""}</span>
      </div>
      <div class="wf-track"><div class=${`wf-tick level-${lv}`} style=${{ left: pct(this.props, l.timestamp) }}></div></div>
      <div class="wf-dur muted">+${formatDuration(Math.max(0, l.timestamp - spanStart))}</div>
    </div>`;
  }
}

const level = (l: ThinRecord) => (l.kind === "log" ? l.level : "info");
