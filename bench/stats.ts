/** Small measuring helpers for the benchmark. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** p50 and p99 of `fn` over `runs` calls (after `warmup` unmeasured ones), in ms. */
export async function latency(
  runs: number,
  warmup: number,
  fn: (i: number) => unknown,
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i + warmup);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/**
 * p50 and p99 of each of `fns` over `runs` rounds (after `warmup` unmeasured ones), in ms. Each round
 * calls every fn once with the same `i`, starting with a different one each round: on a shared machine
 * the ratios of what is measured side by side hold up where separate passes see different neighbours.
 */
export async function interleaved(
  runs: number,
  warmup: number,
  fns: ((i: number) => unknown)[],
): Promise<{ p50: number; p99: number }[]> {
  const times = fns.map(() => [] as number[]);
  for (let i = 0; i < warmup + runs; i++) {
    for (let k = 0; k < fns.length; k++) {
      const j = (i + k) % fns.length;
      const t = performance.now();
      await fns[j]!(i);
      if (i >= warmup) times[j]!.push(performance.now() - t);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return { p50: percentile(t, 50), p99: percentile(t, 99) };
  });
}

export async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const dirs: string[] = [];
export function scratch(name: string): string {
  const d = mkdtempSync(join(process.env.TRACETIER_BENCH_DIR ?? tmpdir(), `tracetier-bench-${name}-`));
  dirs.push(d);
  return d;
}
/** Removes the scratch directories, unless TRACETIER_BENCH_KEEP is set (to rerun a part on them). */
export function cleanup(): void {
  if (process.env.TRACETIER_BENCH_KEEP) {
    if (dirs.length > 0) process.stderr.write(`kept: ${dirs.splice(0).join(" ")}\n`);
    return;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
