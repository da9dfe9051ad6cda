/**
 * `tracetier serve`: the collector, the README's main job. Prints where the data lives and the
 * endpoints; SIGINT or SIGTERM shuts it down gracefully (exit 0), a second signal exits at once (the
 * WAL keeps everything acknowledged).
 */
import { parseArgs } from "node:util";
import { SETTINGS, serveConfig } from "../collector/config.js";
import { runCollector } from "../collector/service.js";

export const SERVE_HELP = `tracetier serve: run the collector (HTTP + OTLP ingest, journal tailing, query API,
/metrics, scheduled compaction and retention) on a store.

Usage:
  tracetier serve [options]

Options (flag, environment variable, default):
${SETTINGS.map((s) => `  --${s.flag.padEnd(20)} ${s.env.padEnd(30)} ${s.fallback ?? "(none)"}\n      ${s.help}`).join("\n")}

Sizes take units (64MiB, 10GB), durations too (15m, 24h, 7d).

While it runs it publishes <dir>/collector/serve.json (its URL and pid; removed on a clean shutdown),
and the other commands go through it: turn, query, search, stats, dump, compact, prune, gc, verify
(read-only) and tail. Maintenance asked for that way runs inside the collector, under its maintenance
lock (POST /v1/admin/compact|prune|gc|verify); GET /v1/tail streams records as they are acknowledged.
Admin endpoints need the token when one is set, and answer only this machine when none is.
docs/operate.md has the details.

Examples:
  tracetier serve
  tracetier serve --dir /var/lib/tracetier --journal /var/log/agent/trace.ndjson
  TRACETIER_TOKEN=s3cret tracetier serve --host 0.0.0.0
`;

export async function serve(argv: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    help: { type: "boolean" },
    debug: { type: "boolean" },
  };
  for (const s of SETTINGS)
    options[s.flag] = s.flag === "journal" ? { type: "string", multiple: true } : { type: "string" };
  const { values } = parseArgs({ args: argv, options, allowPositionals: false });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const config = serveConfig(values);
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const running = await runCollector(config, log);
  // The signal handlers go in before the first line is printed: whoever waits for "listening on"
  // may signal at once, and a signal before them would kill the process without a shutdown.
  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        log(`${sig} again: exiting now (acknowledged records are in the WAL)`);
        process.exit(130);
      }
      log(`${sig}: shutting down (finishing requests, draining journals, closing the store)`);
      running.shutdown().then(resolve, (err: unknown) => {
        log(`shutdown failed: ${(err as Error).message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`tracetier serve: data in ${running.dir}`);
  out(`  listening on ${running.url}${config.token ? " (bearer token required)" : ""}`);
  out(
    `  ingest:  POST ${running.url}/v1/records (JSON or NDJSON)   POST ${running.url}/v1/traces, /v1/logs (OTLP/HTTP)`,
  );
  out(
    `  read:    GET  ${running.url}/v1/turns/<turnId>[/view]   /v1/records?from=-1h&kind=...   /v1/records/<id>/body`,
  );
  out(`  ops:     GET  ${running.url}/v1/stats   /metrics   /healthz   /v1/tail (SSE)`);
  out(
    `  admin:   POST ${running.url}/v1/admin/compact|prune|gc|verify   GET /v1/admin/maintenance   (or: tracetier compact --dir ${running.dir})`,
  );
  out(`  viewer:  ${running.url}/   (turns, conversations, request diffs, token usage)`);
  for (const j of running.journals) out(`  tailing: ${j.path}`);
  out(
    `  maintenance: compact ${config.compact ? `"${config.compact.schedule}"` : "off"}, prune ${config.prune ? `"${config.prune.schedule}" ${JSON.stringify(config.prune.policy)}` : "off"}`,
  );
  await stopped;
  log("stopped");
  return typeof process.exitCode === "number" ? process.exitCode : 0;
}
