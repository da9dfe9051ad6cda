/**
 * Token usage by day and model (`GET /v1/usage`), as an SVG bar chart: each day's input and output
 * tokens, stacked by model or grouped side by side, with a range selector kept in the URL.
 */
import { useMemo } from "preact/hooks";
import { api } from "./api.js";
import { formatCount, formatTokens } from "./format.js";
import { html } from "./html.js";
import { ErrorBox, useLoad } from "./load.js";
import { navigate } from "./router.js";
import { type Usage, type UsageChart, usageChart } from "./usage-data.js";

const RANGES: Array<[string, string]> = [
  ["-7d", "Last 7 days"],
  ["-30d", "Last 30 days"],
  ["-90d", "Last 90 days"],
  ["", "All time"],
];
/** Characters of a model name shown in the legend, the table and a bar's tooltip. */
const NAME_MAX = 60;
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#db2777"];

export function UsageView({ query }: { query: URLSearchParams }) {
  const from = query.get("from") ?? "-30d";
  const mode = query.get("mode") === "grouped" ? "grouped" : "stacked";
  const extensionId = query.get("extensionId") ?? "";
  const { data, error, loading } = useLoad(
    (signal) => api.usage({ from: from || undefined, extensionId: extensionId || undefined }, signal),
    [from, extensionId],
  );
  const chart = useMemo(() => (data ? usageChart(data.rows, from) : undefined), [data]);
  const go = (next: Record<string, string>) => {
    const q = new URLSearchParams({ from, mode, extensionId, ...next });
    for (const [k, v] of [...q]) if (v === "" && k !== "from") q.delete(k);
    navigate(`/usage?${q}`, true);
  };
  return html`<section class="page">
    <h1>Token usage</h1>
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Range
        <select data-testid="usage-range" value=${from} onChange=${(e: Event) => go({ from: (e.target as HTMLSelectElement).value })}>
          ${RANGES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
        </select>
      </label>
      <label>Bars
        <select data-testid="usage-mode" value=${mode} onChange=${(e: Event) => go({ mode: (e.target as HTMLSelectElement).value })}>
          <option value="stacked">Stacked by model</option>
          <option value="grouped">Grouped by model</option>
        </select>
      </label>
      <label>Extension
        <input type="text" value=${extensionId} placeholder="any"
          onChange=${(e: Event) => go({ extensionId: (e.target as HTMLInputElement).value.trim() })} />
      </label>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    ${loading ? html`<p class="muted">Loading…</p>` : null}
    ${chart && !loading ? html`<${Chart} data=${chart} mode=${mode} /><${Totals} totals=${chart.totals} />` : null}
  </section>`;
}

/** A model name as shown in the legend and the table: cut (a name is data, and may be huge), whole on hover up to a limit. */
function ModelName({ name }: { name: string }) {
  const shown = name.length > NAME_MAX ? `${name.slice(0, NAME_MAX)}…` : name;
  return html`<span class="model-name" title=${name.slice(0, 2000)}>${shown}</span>`;
}

function Chart({ data, mode }: { data: UsageChart; mode: "stacked" | "grouped" }) {
  const { models, days, byDay } = data;
  if (days.length === 0 || models.length === 0) {
    return html`<svg data-testid="usage-chart" class="usage-chart" viewBox="0 0 900 60" role="img" aria-label="no usage">
      <text x="450" y="35" text-anchor="middle" class="chart-empty">No token usage in this range.</text>
    </svg>`;
  }
  const index = new Map(models.map((m, i) => [m, i]));
  const color = (m: string) => COLORS[(index.get(m) ?? 0) % COLORS.length]!;
  const W = 900;
  const H = 280;
  const left = 56;
  const bottom = 24;
  const plotW = W - left - 8;
  const plotH = H - bottom - 10;
  const slot = plotW / days.length;
  const barsPerDay = mode === "stacked" ? 2 : models.length * 2;
  const barW = Math.min(24, Math.max(1, (slot * 0.8) / barsPerDay));
  let max = 0;
  for (const day of byDay.values()) {
    let sumIn = 0;
    let sumOut = 0;
    for (const u of day.values()) {
      sumIn += u.inputTokens;
      sumOut += u.outputTokens;
      if (mode === "grouped") max = Math.max(max, u.inputTokens, u.outputTokens);
    }
    if (mode === "stacked") max = Math.max(max, sumIn, sumOut);
  }
  max = Math.max(max, 1);
  const y = (v: number) => 10 + plotH - (v / max) * plotH;
  const bars: unknown[] = [];
  days.forEach((d, i) => {
    const x0 = left + i * slot + (slot - barW * barsPerDay) / 2;
    const day = byDay.get(d);
    if (!day) return;
    (["inputTokens", "outputTokens"] as const).forEach((metric, k) => {
      let acc = 0;
      for (const m of models) {
        const u = day.get(m);
        if (!u) continue;
        const v = u[metric];
        if (mode === "stacked") {
          if (v <= 0) continue;
          bars.push(bar(x0 + k * barW, y(acc + v), barW, y(acc) - y(acc + v), color(m), metric, m, u, d));
          acc += v;
        } else {
          const x = x0 + (index.get(m)! * 2 + k) * barW;
          bars.push(bar(x, y(v), barW, y(0) - y(v), color(m), metric, m, u, d));
        }
      }
    });
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  const labelEvery = Math.max(1, Math.ceil(days.length / 12));
  return html`<div class="chart-wrap">
    <svg data-testid="usage-chart" class="usage-chart" viewBox=${`0 0 ${W} ${H}`} role="img"
      aria-label="input and output tokens by day and model" data-mode=${mode}>
      ${ticks.map(
        (t) => html`<g class="chart-grid">
          <line x1=${left} x2=${W - 8} y1=${y(t)} y2=${y(t)} />
          <text x=${left - 6} y=${y(t) + 4} text-anchor="end">${formatTokens(Math.round(t))}</text>
        </g>`,
      )}
      ${bars}
      ${days.map((d, i) =>
        i % labelEvery === 0
          ? html`<text class="chart-x" x=${left + i * slot + slot / 2} y=${H - 6} text-anchor="middle">${d.slice(5)}</text>`
          : null,
      )}
    </svg>
    <div class="legend">
      ${models.map((m) => html`<span><i style=${{ background: color(m) }}></i><${ModelName} name=${m} /></span>`)}
      <span class="muted">each day: input (solid) then output (light)</span>
    </div>
  </div>`;
}

function bar(
  x: number,
  y: number,
  w: number,
  h: number,
  fill: string,
  metric: "inputTokens" | "outputTokens",
  model: string,
  u: Usage,
  d: string,
) {
  const output = metric === "outputTokens";
  const name = model.length > NAME_MAX ? `${model.slice(0, NAME_MAX)}…` : model;
  return html`<rect class=${output ? "bar-out" : "bar-in"} x=${x} y=${y} width=${w} height=${Math.max(0, h)} fill=${fill}
    fill-opacity=${output ? 0.45 : 1} data-date=${d} data-model=${model} data-metric=${output ? "output" : "input"}>
    <title>${d} ${name}: ${formatCount(u[metric])} ${output ? "output" : "input"} tokens (${formatCount(u.calls)} calls)</title>
  </rect>`;
}

function Totals({ totals }: { totals: UsageChart["totals"] }) {
  if (totals.length === 0) return null;
  return html`<table class="turns usage-totals">
    <thead><tr><th>Model</th><th class="num">Calls</th><th class="num">Input tokens</th><th class="num">Output tokens</th></tr></thead>
    <tbody>
      ${totals.map(
        ([
          m,
          t,
        ]) => html`<tr><td class="ellipsis"><${ModelName} name=${m} /></td><td class="num">${formatCount(t.calls)}</td>
          <td class="num">${formatCount(t.inputTokens)}</td><td class="num">${formatCount(t.outputTokens)}</td></tr>`,
      )}
    </tbody>
  </table>`;
}
