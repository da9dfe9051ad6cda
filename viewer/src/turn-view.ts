/**
 * One turn: its header, the span waterfall, and the details of the selected span or log (attributes,
 * bodies loaded on selection, and for an LLM request the changes since the previous request). The
 * selection is in the URL (`?span=` / `?log=`), so it is shareable and survives a reload; it replaces the
 * history entry rather than adding one, so the back button leaves the turn instead of replaying clicks.
 */
import { useCallback, useLayoutEffect, useMemo, useState } from "preact/hooks";
import { api, type ThinRecord } from "./api.js";
import { BodySection, hasBody } from "./body.js";
import { DiffPanel } from "./diff-panel.js";
import { formatDuration, formatTime, formatUtc } from "./format.js";
import { html } from "./html.js";
import { useListKeys } from "./keys.js";
import { ErrorBox, Guard, useLoad } from "./load.js";
import { LongText } from "./long-text.js";
import { conversationHref, navigate, turnHref } from "./router.js";
import { buildTurn, type SpanNode, type TurnModel, visibleRows } from "./spans.js";
import { type Selection, Waterfall } from "./waterfall.js";

export function TurnView({ id, query }: { id: string; query: URLSearchParams }) {
  const { data, error, loading } = useLoad(
    async (signal) => {
      const records = await api.turn(id, signal);
      performance.mark("tracetier:turn-data");
      return records;
    },
    [id],
  );
  const model = useMemo(() => (data ? buildTurn(data) : undefined), [data]);
  useLayoutEffect(() => {
    if (!model) return;
    // From the data's arrival to the waterfall painted (the browser test reads it): the next frame's
    // callback runs before its style, layout and paint, and a task queued from it runs after them.
    let live = true;
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (live) performance.measure("tracetier:turn-render", "tracetier:turn-data");
      }, 0),
    );
    return () => {
      live = false;
    };
  }, [model]);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set());
  const toggle = useCallback((spanId: string) => {
    setCollapsed((prev) => {
      const next = new Set(prev);
      if (!next.delete(spanId)) next.add(spanId);
      return next;
    });
  }, []);
  const rows = useMemo(() => (model ? visibleRows(model.rows, collapsed) : []), [model, collapsed]);
  const spanId = query.get("span");
  const logId = query.get("log");
  const selection: Selection = spanId
    ? { kind: "span", id: spanId }
    : logId
      ? { kind: "log", id: logId }
      : undefined;
  // A selection replaces the history entry (moving through spans is not a trail to walk back through).
  const select = useCallback(
    (s: Selection) => {
      const q = s ? `?${s.kind}=${encodeURIComponent(s.id)}` : "";
      navigate(`${turnHref(id)}${q}`, true);
    },
    [id],
  );
  // j/k walk the rows shown: a span folded away is skipped.
  const index = selection?.kind === "span" ? rows.findIndex((s) => s.spanId === selection.id) : -1;
  useListKeys(
    rows.length,
    index,
    (i: number) => select({ kind: "span", id: rows[i]!.spanId }),
    () => {},
  );
  if (error) return html`<section class="page"><h1>Turn ${id}</h1><${ErrorBox} error=${error} /></section>`;
  if (loading || !model || !data)
    return html`<section class="page"><h1>Turn ${id}</h1><p class="muted">Loading…</p></section>`;
  if (data.length === 0) {
    return html`<section class="page"><h1>Turn ${id}</h1><p class="empty">No records for this turn.</p></section>`;
  }
  return html`<section class="page turn-page">
    <${TurnHeader} id=${id} records=${data} model=${model} />
    <div class="turn-layout">
      <div class="turn-main"><${Waterfall} model=${model} rows=${rows} collapsed=${collapsed} toggle=${toggle}
        selection=${selection} select=${select} /></div>
      <aside class="turn-details">
        ${selection ? html`<${Details} model=${model} records=${data} selection=${selection} select=${select} />` : html`<p class="muted">Select a span or a log (click, or j/k) to see its attributes and bodies.</p>`}
      </aside>
    </div>
  </section>`;
}

function TurnHeader({ id, records, model }: { id: string; records: ThinRecord[]; model: TurnModel }) {
  const first = records[0]!;
  const errors = model.rows.filter((s) => s.status === "error").length;
  return html`<header class="turn-header">
    <h1>${model.rows[0]?.name ?? "Turn"} <span class="muted mono">${id}</span></h1>
    <dl class="facts">
      <dt>Started</dt><dd title=${formatUtc(model.start)}>${formatTime(model.start)}</dd>
      <dt>Duration</dt><dd>${formatDuration(model.end - model.start)}</dd>
      <dt>Extension</dt><dd>${first.extensionId}</dd>
      ${
        first.conversationId
          ? html`<dt>Conversation</dt><dd><a href=${conversationHref(first.conversationId)}>${first.conversationId}</a></dd>`
          : null
      }
      <dt>Spans</dt><dd>${model.rows.length}</dd>
      <dt>Records</dt><dd>${records.length}</dd>
      ${errors > 0 ? html`<dt>Errors</dt><dd><span class="err-mark">✖ ${errors}</span></dd>` : null}
    </dl>
  </header>`;
}

interface DetailsProps {
  model: TurnModel;
  records: ThinRecord[];
  selection: NonNullable<Selection>;
  select: (s: Selection) => void;
}

function Details({ model, records, selection, select }: DetailsProps) {
  if (selection.kind === "span") {
    const s = model.byId.get(selection.id);
    if (!s) return html`<p class="muted">No span ${selection.id} in this turn.</p>`;
    return html`<${SpanDetails} key=${s.spanId} span=${s} select=${select} />`;
  }
  const log = records.find((r) => r.id === selection.id);
  if (log?.kind !== "log") return html`<p class="muted">No log ${selection.id} in this turn.</p>`;
  return html`<div class="details" key=${log.id}>
    <h2><span class=${`log-level level-${log.level}`}>${log.level}</span> ${log.msg}</h2>
    <table class="kv">
      <tr><th>time</th><td title=${formatUtc(log.timestamp)}>${formatTime(log.timestamp)}</td></tr>
      ${log.spanId ? html`<${SpanLinkRow} label="span" id=${log.spanId} select=${select} />` : null}
      <tr><th>record</th><td class="mono">${log.id}</td></tr>
    </table>
    <${Attributes} attrs=${log.attributes} />
    ${hasBody(log) ? html`<${BodySection} record=${log} label="Body" />` : null}
  </div>`;
}

/** A details row naming a span of the turn, as a link that selects it. */
function SpanLinkRow({ label, id, select }: { label: string; id: string; select: (s: Selection) => void }) {
  const onClick = (e: Event) => {
    e.preventDefault();
    select({ kind: "span", id });
  };
  return html`<tr><th>${label}</th><td class="mono"><a href="#" onClick=${onClick}>${id}</a></td></tr>`;
}

function SpanDetails({ span, select }: { span: SpanNode; select: (s: Selection) => void }) {
  const attrs = { ...span.open?.attributes, ...span.close?.attributes };
  const linksOf = (r: ThinRecord | undefined) => (r && r.kind !== "log" ? r.links : undefined);
  const links = linksOf(span.close) ?? linksOf(span.open);
  return html`<div class="details">
    <h2>${span.status === "error" ? html`<span class="err-mark">✖ </span>` : null}${span.name}</h2>
    <table class="kv">
      <tr><th>status</th><td class=${span.status === "error" ? "err-text" : ""}>${span.status}</td></tr>
      <tr><th>start</th><td title=${formatUtc(span.start)}>${formatTime(span.start)}</td></tr>
      <tr><th>duration</th><td>${span.durationMs !== undefined ? formatDuration(span.durationMs) : "still open"}</td></tr>
      <tr><th>span id</th><td class="mono">${span.spanId}</td></tr>
      ${span.parentSpanId ? html`<${SpanLinkRow} label="parent" id=${span.parentSpanId} select=${select} />` : null}
    </table>
    <${Attributes} attrs=${attrs} />
    ${links && links.length > 0 ? html`<h3>Links</h3><pre class="mono">${JSON.stringify(links, null, 2)}</pre>` : null}
    ${
      span.open && hasBody(span.open) && !span.open.bodyEvicted
        ? html`<${Guard} what="the request diff"><${DiffPanel} recordId=${span.open.id} /></${Guard}>`
        : null
    }
    ${span.open && hasBody(span.open) ? html`<${BodySection} record=${span.open} label="Request" />` : null}
    ${span.close && hasBody(span.close) ? html`<${BodySection} record=${span.close} label="Response" />` : null}
    ${
      span.logs.length > 0
        ? html`<h3>Logs</h3><ul class="log-list">${span.logs.map(
            (l) =>
              html`<li><a href="#" onClick=${(e: Event) => {
                e.preventDefault();
                select({ kind: "log", id: l.id });
              }}>${l.kind === "log" ? `${l.level}: ${l.msg}` : l.id}</a></li>`,
          )}</ul>`
        : null
    }
  </div>`;
}

/** Characters of one attribute value shown before "show all" (a value may be a whole document). */
const ATTR_LIMIT = 2000;

function Attributes({ attrs }: { attrs: Record<string, unknown> | undefined }) {
  const entries = Object.entries(attrs ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return null;
  return html`<h3>Attributes</h3>
    <table class="kv attrs">
      ${entries.map(
        ([k, v]) =>
          html`<tr key=${k}><th>${breakAtDots(k)}</th><td><${LongText} text=${typeof v === "string" ? v : String(JSON.stringify(v))} limit=${ATTR_LIMIT} inline=${true} /></td></tr>`,
      )}
    </table>`;
}

/** A dotted attribute name with line-break opportunities after its dots (`gen_ai.usage.` …), as text. */
function breakAtDots(key: string) {
  const parts = key.split(".");
  return parts.map((p, i) => (i < parts.length - 1 ? html`${p}.<wbr />` : p));
}
