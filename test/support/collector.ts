/** A collector on an ephemeral port over a fresh store, closed after the test. */
import { afterEach } from "vitest";
import { type Collector, startCollector } from "../../src/collector/server.js";
import type { TraceStore } from "../../src/index.js";
import { tempStore } from "./fixtures.js";

const running: Collector[] = [];

afterEach(async () => {
  for (const c of running.splice(0)) await c.close().catch(() => {});
});

export async function tempCollector(
  opts: { token?: string; bodyLimit?: number; host?: string } = {},
): Promise<{ store: TraceStore; dir: string; collector: Collector; url: string }> {
  const { store, dir } = await tempStore();
  const collector = await startCollector({ store, dir, port: 0, ...opts });
  running.push(collector);
  return { store, dir, collector, url: collector.url };
}

/** Prometheus text as `name{labels}` → value; throws on a line that is not exposition format. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(
        line,
      );
    if (!m) throw new Error(`not Prometheus exposition format: ${line}`);
    out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}
