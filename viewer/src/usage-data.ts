/**
 * The usage report's rows shaped for the chart and the table, in time linear in the rows: models
 * ranked by tokens, the top ones drawn in their own colour and the rest summed as "other", each day's
 * usage by model, and the days of the range. Pure, so it is tested without a browser.
 */
import type { UsageRow } from "./types.js";

/** Models drawn (and listed) on their own; any more are summed as OTHER. */
export const TOP_MODELS = 8;
export const OTHER = "other models";
const DAY = 86_400_000;
/** Days drawn at most (the newest ones); a wider range still sums in the table. */
export const MAX_DAYS = 120;

export interface Usage {
  calls: number;
  inputTokens: number;
  outputTokens: number;
}

export interface UsageChart {
  /** The models drawn, most tokens first (OTHER last, when there are more than TOP_MODELS). */
  models: string[];
  /** Each model's totals over the whole report, in `models` order. */
  totals: Array<[string, Usage]>;
  /** The days drawn, oldest first (YYYY-MM-DD, UTC). */
  days: string[];
  /** Per day, per drawn model (OTHER included): its usage. */
  byDay: Map<string, Map<string, Usage>>;
}

/** The map's value for `key`, made (and kept) by `make` when it has none. */
function getOr<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

const zero = (): Usage => ({ calls: 0, inputTokens: 0, outputTokens: 0 });
function add(to: Usage, r: Usage): void {
  to.calls += r.calls;
  to.inputTokens += r.inputTokens;
  to.outputTokens += r.outputTokens;
}

export function usageChart(rows: UsageRow[], from: string, now = Date.now()): UsageChart {
  const perModel = new Map<string, Usage>();
  for (const r of rows) {
    add(getOr(perModel, r.model, zero), r);
  }
  const ranked = [...perModel].sort(
    ([a, x], [b, y]) => y.inputTokens + y.outputTokens - (x.inputTokens + x.outputTokens) || (a < b ? -1 : 1),
  );
  const shown = ranked.length > TOP_MODELS ? ranked.slice(0, TOP_MODELS - 1) : ranked;
  const drawn = new Set(shown.map(([m]) => m));
  const totals = [...shown];
  if (ranked.length > shown.length) {
    const other = zero();
    for (const [, u] of ranked.slice(shown.length)) add(other, u);
    totals.push([OTHER, other]);
  }
  const byDay = new Map<string, Map<string, Usage>>();
  for (const r of rows) {
    const day = getOr(byDay, r.date, () => new Map<string, Usage>());
    add(getOr(day, drawn.has(r.model) ? r.model : OTHER, zero), r);
  }
  return { models: totals.map(([m]) => m), totals, days: dayRange(rows, from, now), byDay };
}

/**
 * Every day of the range (for `-<n>d`, the n days to today; otherwise from the first to the last row's
 * date), the newest MAX_DAYS of them, so that days without usage show as gaps. The bounds are found
 * by a loop: spreading 100k dates into Math.min would overflow the call stack.
 */
export function dayRange(rows: UsageRow[], from: string, now = Date.now()): string[] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const r of rows) {
    const t = Date.parse(`${r.date}T00:00:00Z`);
    if (!Number.isFinite(t)) continue;
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  const relative = /^-(\d+)d$/.exec(from);
  if (relative) {
    const today = Math.floor(now / DAY) * DAY;
    hi = Math.max(hi, today);
    lo = Math.min(lo, today - (Number(relative[1]) - 1) * DAY);
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  const first = Math.max(lo, hi - (MAX_DAYS - 1) * DAY);
  const out: string[] = [];
  for (let t = first; t <= hi; t += DAY) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
