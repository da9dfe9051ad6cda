/**
 * The span waterfall: one row per span (bars on a time axis scaled to the turn, indented by nesting,
 * error spans marked), each span's logs under it at their time. Rows are plain elements with a few
 * computed styles and no per-row state, so a turn of hundreds of spans renders in one cheap pass.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ThinRecord } from "./api.js";
import { formatDuration } from "./format.js";
import { html } from "./html.js";
import type { SpanNode, TurnModel } from "./spans.js";

export type Selection = { kind: "span"; id: string } | { kind: "log"; id: string } | undefined;

interface Props {
  model: TurnModel;
  selection: Selection;
  select: (s: Selection) => void;
}

const INDENT = 14;

export function Waterfall({ model, selection, select }: Props) {
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.querySelector(".wf-row.selected")?.scrollIntoView?.({ block: "nearest" });
  }, [selection?.id]);
  const toggle = (id: string) => {
    const next = new Set(collapsed);
    if (!next.delete(id)) next.add(id);
    setCollapsed(next);
  };
  const span = Math.max(model.end - model.start, 1);
  const pct = (t: number) => `${(((t - model.start) / span) * 100).toFixed(3)}%`;
  const width = (a: number, b: number) => `${Math.max(((b - a) / span) * 100, 0.15).toFixed(3)}%`;
  const rows: unknown[] = [];
  for (const l of model.looseLogs) rows.push(logRow(l, -1, model.start, pct, selection, select));
  // Rows are depth-first: a collapsed span hides the rows after it that are deeper than it.
  let hideBelow = Number.POSITIVE_INFINITY;
  for (const s of model.rows) {
    if (s.depth > hideBelow) continue;
    hideBelow = collapsed.has(s.spanId) ? s.depth : Number.POSITIVE_INFINITY;
    const fold = s.children.length > 0 ? { open: !collapsed.has(s.spanId), toggle } : undefined;
    rows.push(spanRow(s, pct, width, selection, select, fold));
    for (const l of s.logs) rows.push(logRow(l, s.depth, s.start, pct, selection, select));
  }
  return html`<div class="waterfall" role="list" ref=${box}>
    <div class="wf-row wf-axis">
      <div class="wf-name muted">Span</div>
      <div class="wf-track">
        ${[0, 0.25, 0.5, 0.75, 1].map(
          (f) =>
            html`<span class="wf-axis-label" style=${{ left: `${f * 100}%` }}>${formatDuration(f * (model.end - model.start))}</span>`,
        )}
      </div>
      <div class="wf-dur muted">Duration</div>
    </div>
    ${rows}
  </div>`;
}

function spanRow(
  s: SpanNode,
  pct: (t: number) => string,
  width: (a: number, b: number) => string,
  selection: Selection,
  select: (s: Selection) => void,
  fold: { open: boolean; toggle: (id: string) => void } | undefined,
) {
  const selected = selection?.kind === "span" && selection.id === s.spanId;
  const error = s.status === "error";
  return html`<div
    key=${`s:${s.spanId}`}
    role="listitem"
    class=${`wf-row wf-span${selected ? " selected" : ""}${error ? " is-error" : ""}`}
    data-testid="span-row"
    data-span-id=${s.spanId}
    data-status=${error ? "error" : s.status === "open" ? "open" : "ok"}
    onClick=${() => select({ kind: "span", id: s.spanId })}
  >
    <div class="wf-name" style=${{ paddingLeft: `${4 + s.depth * INDENT}px` }} title=${s.name}>
      ${
        fold
          ? html`<button type="button" class="wf-fold" aria-expanded=${fold.open}
              title=${fold.open ? "collapse" : `expand (${s.children.length} child span${s.children.length === 1 ? "" : "s"})`}
              onClick=${(e: Event) => {
                e.stopPropagation();
                fold.toggle(s.spanId);
              }}>${fold.open ? "▾" : "▸"}</button>`
          : html`<span class="wf-fold"></span>`
      }
      ${error ? html`<span class="err-mark" aria-label="error">✖ </span>` : null}
      <span data-testid="span-name">${s.name}</span>
    </div>
    <div class="wf-track">
      <div class=${`wf-bar${error ? " is-error" : ""}${s.status === "open" ? " is-open" : ""}`}
        style=${{ left: pct(s.start), width: width(s.start, s.end) }}></div>
      ${s.logs.map((l) => html`<div class=${`wf-tick level-${level(l)}`} style=${{ left: pct(l.timestamp) }}></div>`)}
    </div>
    <div class="wf-dur" data-testid="span-duration">
      ${s.durationMs !== undefined ? formatDuration(s.durationMs) : "open"}
    </div>
  </div>`;
}

function logRow(
  l: ThinRecord,
  depth: number,
  spanStart: number,
  pct: (t: number) => string,
  selection: Selection,
  select: (s: Selection) => void,
) {
  const selected = selection?.kind === "log" && selection.id === l.id;
  const lv = level(l);
  return html`<div
    key=${`l:${l.id}`}
    role="listitem"
    class=${`wf-row wf-log level-${lv}${selected ? " selected" : ""}`}
    data-testid="log-row"
    data-record-id=${l.id}
    data-level=${lv}
    onClick=${() => select({ kind: "log", id: l.id })}
  >
    <div class="wf-name" style=${{ paddingLeft: `${4 + (depth + 1) * INDENT}px` }}>
      <span class="log-level">${lv}</span> <span class="log-msg">${l.kind === "log" ? l.msg : ""}</span>
    </div>
    <div class="wf-track"><div class=${`wf-tick level-${lv}`} style=${{ left: pct(l.timestamp) }}></div></div>
    <div class="wf-dur muted">+${formatDuration(Math.max(0, l.timestamp - spanStart))}</div>
  </div>`;
}

const level = (l: ThinRecord) => (l.kind === "log" ? l.level : "info");
