/**
 * Token usage by day and model (`GET /v1/usage`), as an SVG bar chart: each day's input and output
 * tokens, stacked by model or grouped side by side, with a range selector kept in the URL.
 */
import { api, type UsageRow } from "./api.js";
import { formatCount, formatTokens } from "./format.js";
import { html } from "./html.js";
import { ErrorBox, useLoad } from "./load.js";
import { navigate } from "./router.js";

const RANGES: Array<[string, string]> = [
  ["-7d", "Last 7 days"],
  ["-30d", "Last 30 days"],
  ["-90d", "Last 90 days"],
  ["", "All time"],
];
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#db2777"];
const DAY = 86_400_000;
/** Days drawn at most (the newest ones); a wider range still sums in the table. */
const MAX_DAYS = 120;

export function UsageView({ query }: { query: URLSearchParams }) {
  const from = query.get("from") ?? "-30d";
  const mode = query.get("mode") === "grouped" ? "grouped" : "stacked";
  const extensionId = query.get("extensionId") ?? "";
  const { data, error, loading } = useLoad(
    (signal) => api.usage({ from: from || undefined, extensionId: extensionId || undefined }, signal),
    [from, extensionId],
  );
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
    ${data && !loading ? html`<${Chart} rows=${data.rows} mode=${mode} from=${from} /><${Totals} rows=${data.rows} />` : null}
  </section>`;
}

function Chart({ rows, mode, from }: { rows: UsageRow[]; mode: "stacked" | "grouped"; from: string }) {
  if (rows.length === 0) {
    return html`<svg data-testid="usage-chart" class="usage-chart" viewBox="0 0 900 60" role="img" aria-label="no usage">
      <text x="450" y="35" text-anchor="middle" class="chart-empty">No token usage in this range.</text>
    </svg>`;
  }
  const models = [...new Set(rows.map((r) => r.model))].sort();
  const color = (m: string) => COLORS[models.indexOf(m) % COLORS.length]!;
  const days = dayRange(rows, from);
  const byDay = new Map<string, UsageRow[]>();
  for (const r of rows) byDay.set(r.date, [...(byDay.get(r.date) ?? []), r]);
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
  for (const d of days) {
    const day = byDay.get(d) ?? [];
    if (mode === "stacked") {
      max = Math.max(max, sum(day, "inputTokens"), sum(day, "outputTokens"));
    } else for (const r of day) max = Math.max(max, r.inputTokens, r.outputTokens);
  }
  max = Math.max(max, 1);
  const y = (v: number) => 10 + plotH - (v / max) * plotH;
  const bars: unknown[] = [];
  days.forEach((d, i) => {
    const x0 = left + i * slot + (slot - barW * barsPerDay) / 2;
    const day = byDay.get(d) ?? [];
    if (mode === "stacked") {
      (["inputTokens", "outputTokens"] as const).forEach((metric, k) => {
        let acc = 0;
        for (const r of day) {
          const v = r[metric];
          if (v <= 0) continue;
          bars.push(bar(x0 + k * barW, y(acc + v), barW, y(acc) - y(acc + v), color(r.model), metric, r, d));
          acc += v;
        }
      });
    } else {
      models.forEach((m, j) => {
        const r = day.find((x) => x.model === m);
        if (!r) return;
        (["inputTokens", "outputTokens"] as const).forEach((metric, k) => {
          const v = r[metric];
          const x = x0 + (j * 2 + k) * barW;
          bars.push(bar(x, y(v), barW, y(0) - y(v), color(m), metric, r, d));
        });
      });
    }
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
      ${models.map((m) => html`<span><i style=${{ background: color(m) }}></i>${m}</span>`)}
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
  metric: string,
  r: UsageRow,
  d: string,
) {
  const output = metric === "outputTokens";
  return html`<rect class=${output ? "bar-out" : "bar-in"} x=${x} y=${y} width=${w} height=${Math.max(0, h)} fill=${fill}
    fill-opacity=${output ? 0.45 : 1} data-date=${d} data-model=${r.model} data-metric=${output ? "output" : "input"}>
    <title>${d} ${r.model}: ${formatCount(r[metric as "inputTokens" | "outputTokens"])} ${output ? "output" : "input"} tokens (${formatCount(r.calls)} calls)</title>
  </rect>`;
}

function Totals({ rows }: { rows: UsageRow[] }) {
  const totals = new Map<string, { calls: number; inputTokens: number; outputTokens: number }>();
  for (const r of rows) {
    const t = totals.get(r.model) ?? { calls: 0, inputTokens: 0, outputTokens: 0 };
    t.calls += r.calls;
    t.inputTokens += r.inputTokens;
    t.outputTokens += r.outputTokens;
    totals.set(r.model, t);
  }
  if (totals.size === 0) return null;
  return html`<table class="turns usage-totals">
    <thead><tr><th>Model</th><th class="num">Calls</th><th class="num">Input tokens</th><th class="num">Output tokens</th></tr></thead>
    <tbody>
      ${[...totals].map(
        ([m, t]) => html`<tr><td>${m}</td><td class="num">${formatCount(t.calls)}</td>
          <td class="num">${formatCount(t.inputTokens)}</td><td class="num">${formatCount(t.outputTokens)}</td></tr>`,
      )}
    </tbody>
  </table>`;
}

const sum = (rows: UsageRow[], k: "inputTokens" | "outputTokens") => rows.reduce((n, r) => n + r[k], 0);

/**
 * Every day of the range (for `-<n>d`, the n days to today; otherwise from the first to the last row's
 * date), the newest MAX_DAYS of them, so that days without usage show as gaps.
 */
function dayRange(rows: UsageRow[], from: string): string[] {
  const dates = rows.map((r) => Date.parse(`${r.date}T00:00:00Z`)).filter(Number.isFinite);
  const relative = /^-(\d+)d$/.exec(from);
  const today = Math.floor(Date.now() / DAY) * DAY;
  const last = Math.max(...dates, relative ? today : Number.NEGATIVE_INFINITY);
  const lowest = relative ? Math.min(today - (Number(relative[1]) - 1) * DAY, ...dates) : Math.min(...dates);
  const first = Math.max(lowest, last - (MAX_DAYS - 1) * DAY);
  const out: string[] = [];
  for (let t = first; t <= last; t += DAY) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
