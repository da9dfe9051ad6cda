/** Display formats shared by the views: durations, times (local, with UTC for a title), counts, sizes. */

/** `840 ms`, `1.23 s`, `2 min 05 s`, as the tests and readers expect. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  // Bad data (a close before its open) gives negative durations: shown as such, not as `-5000.00 ms`.
  if (ms < 0) return `−${formatDuration(-ms)}`;
  if (ms === 0) return "0 ms";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (min < 60) return `${min} min ${String(s).padStart(2, "0")} s`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, "0")} min`;
}

/**
 * A short duration for the waterfall's axis labels (`250 ms`, `1.5 s`, `12 min`, `3.2 h`, `41 d`):
 * five of them share the track's width, so none may grow with the turn's length.
 */
export function formatAxis(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 0) return `−${formatAxis(-ms)}`;
  const units: Array<[number, string]> = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1000, "s"],
  ];
  for (const [size, unit] of units) {
    if (ms >= size) return `${short(ms / size)} ${unit}`;
  }
  return `${short(ms)} ms`;
}

/** 3 significant digits at most, no trailing zeros: 1.5, 12, 250, 41000. */
const short = (v: number) => (v >= 100 ? String(Math.round(v)) : String(Number(v.toPrecision(2))));

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local time, `2026-11-01 14:03:07`. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}:${pad(d.getSeconds())}`;
}

/** The same instant in UTC, for a `title` (hover). */
export function formatUtc(ms: number): string {
  return `${new Date(ms).toISOString().replace("T", " ").replace("Z", "")} UTC`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatTokens(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  return formatCount(n);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A `datetime-local` input's value for a time, and back (local time). */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value: string): number | undefined {
  if (!value) return undefined;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t : undefined;
}
