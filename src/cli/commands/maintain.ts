/** `tracetier compact`, `prune`, `gc` and `stats`: maintenance by hand, with readable summaries. */

import { parseBytes, parseDuration } from "../../base/units.js";
import { formatBytes } from "../../read/easy-view.js";
import { DEFAULT_RETENTION, type RetentionPolicy } from "../../retention/policy.js";
import type { TraceStore } from "../../store.js";
import { type Command, type CommandContext, EXIT, str } from "../command.js";
import { withElapsed } from "../progress.js";
import { type AdminBodies, type AdminJob, type AdminResults, runInCollector } from "../remote-store.js";
import { REMOTE_OPTIONS, withReads, withTarget } from "../target.js";

/**
 * A maintenance job on the store, or inside the collector that holds it (under its maintenance lock:
 * it waits for a scheduled run in progress, and the progress line says so).
 */
export function runJob<J extends AdminJob>(
  ctx: CommandContext,
  job: J,
  label: string,
  body: AdminBodies[J],
  direct: (store: TraceStore) => Promise<AdminResults[J]>,
): Promise<AdminResults[J]> {
  return withTarget(ctx, (t) =>
    withElapsed(!ctx.quiet && !ctx.json, label, (relabel) => {
      if (t.kind === "direct") return direct(t.store);
      return runInCollector(t.client, job, body, (e) => {
        if (e.event === "waiting")
          relabel(`waiting for the collector's ${e.behind ?? "maintenance run"} to finish`);
        else if (e.event === "started") relabel(label);
      });
    }),
  );
}

export const compact: Command = {
  name: "compact",
  summary: "move records older than a cutoff into the cold tier's Parquet partitions",
  help: `tracetier compact [--older-than 24h] [--json] [--dir DIR]

Moves hot records older than --older-than (default 24h) into cold/date=YYYY-MM-DD/*.parquet and
merges small files.

Examples:
  tracetier compact
  tracetier compact --older-than 1h --json
`,
  options: { "older-than": { type: "string" }, ...REMOTE_OPTIONS },
  positionals: [0, 0],
  async run(ctx) {
    const older = str(ctx.values, "older-than");
    const olderThanMs = older === undefined ? undefined : parseDuration(older, "older-than");
    const started = performance.now();
    const r = await runJob(ctx, "compact", "compacting", { olderThanMs }, (store) =>
      store.compact({ olderThanMs }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (ctx.json) ctx.print({ ...r, seconds });
    else
      ctx.out(
        `compacted ${r.recordsMoved} records into ${r.partitionsWritten} partitions (${formatBytes(r.bytesWritten)} of Parquet) in ${seconds.toFixed(2)} s`,
      );
    return EXIT.ok;
  },
};

export const prune: Command = {
  name: "prune",
  summary: "apply retention: drop old cold hours and records, evict and collect bodies",
  help: `tracetier prune [--max-age 7d] [--max-body-age 3d] [--max-cold-bytes 10GB] [--max-body-bytes 256MiB]
               [--json] [--dir DIR]

Without limits, applies the defaults (records 7d, bodies 256MiB). Cold files go a whole UTC hour at a
time, once their hour is past --max-age; --max-cold-bytes drops the oldest hours until the cold tier
fits; bodies past
--max-body-age, or beyond --max-body-bytes (least recently referenced first), are evicted while their
records stay.

Examples:
  tracetier prune
  tracetier prune --max-age 30d --max-cold-bytes 50GB --max-body-age 7d
`,
  options: {
    "max-age": { type: "string" },
    "max-body-age": { type: "string" },
    "max-cold-bytes": { type: "string" },
    "max-body-bytes": { type: "string" },
    ...REMOTE_OPTIONS,
  },
  positionals: [0, 0],
  async run(ctx) {
    const v = (name: string, parse: (t: string, n: string) => number) => {
      const s = str(ctx.values, name);
      return s === undefined ? undefined : parse(s, name);
    };
    const given: RetentionPolicy = {
      maxAgeMs: v("max-age", parseDuration),
      maxBodyAgeMs: v("max-body-age", parseDuration),
      maxColdBytes: v("max-cold-bytes", parseBytes),
      maxTotalBodyBytes: v("max-body-bytes", parseBytes),
    };
    const set = Object.fromEntries(
      Object.entries(given).filter(([, x]) => x !== undefined),
    ) as RetentionPolicy;
    const policy = Object.keys(set).length > 0 ? set : DEFAULT_RETENTION;
    const r = await runJob(ctx, "prune", "pruning", { policy }, (store) => store.prune(policy));
    if (ctx.json) ctx.print({ policy, ...r });
    else {
      ctx.out(
        `dropped ${r.filesDropped} cold files (${r.partitionsDropped} partitions emptied) and ${r.recordsDeleted} records; deleted ${r.bodiesDeleted} bodies (${r.bodiesEvicted} evicted, their records kept) and ${r.chunksDeleted} chunks`,
      );
      ctx.out(`disk given back: ${formatBytes(r.bytesReclaimed)}`);
    }
    return EXIT.ok;
  },
};

export const gc: Command = {
  name: "gc",
  summary: "delete bodies and chunks that no record refers to",
  help: `tracetier gc [--json] [--dir DIR]

Mark and sweep over the body store: bodies no record refers to, and chunks no body lists, are deleted
and their disk given back.
`,
  options: { ...REMOTE_OPTIONS },
  positionals: [0, 0],
  async run(ctx) {
    const r = await runJob(ctx, "gc", "collecting", {}, (store) => store.gc());
    if (ctx.json) ctx.print(r);
    else
      ctx.out(
        `deleted ${r.bodiesDeleted} bodies and ${r.chunksDeleted} chunks; disk given back: ${formatBytes(r.bytesReclaimed)}`,
      );
    return EXIT.ok;
  },
};

export const stats: Command = {
  name: "stats",
  summary: "print the store's counts and sizes",
  help: `tracetier stats [--json] [--dir DIR]
`,
  options: { ...REMOTE_OPTIONS },
  positionals: [0, 0],
  async run(ctx) {
    const s = await withReads(ctx, (store) => store.stats());
    if (ctx.json) {
      ctx.print(s);
      return EXIT.ok;
    }
    ctx.out(
      `records:  ${s.hotRecords} hot, ${s.coldRecords} cold in ${s.coldPartitions} partitions (${formatBytes(s.coldBytes)} of Parquet)`,
    );
    ctx.out(
      `bodies:   ${s.bodies}, ${formatBytes(s.bodyBytesOriginal)} as sent, ${formatBytes(s.bodyBytesStored)} stored`,
    );
    ctx.out(`wal:      ${formatBytes(s.walBytes)}`);
    return EXIT.ok;
  },
};
