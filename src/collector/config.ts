/**
 * `tracetier serve` settings: every one from a flag, else a `TRACETIER_*` environment variable, else
 * its default (the table below is also what `--help` prints).
 */
import { delimiter } from "node:path";
import { InvalidOptionError } from "../base/errors.js";
import { parseBytes, parseDuration } from "../base/units.js";
import { DEFAULT_RETENTION, type RetentionPolicy } from "../retention/policy.js";
import type { Durability } from "../types.js";

export interface ServeConfig {
  dir: string;
  host: string;
  port: number;
  journals: string[];
  token: string | undefined;
  bodyLimit: number;
  durability: Durability;
  /** Bytes of inflated body chunks kept in memory (0: no cache). */
  chunkCacheBytes: number;
  compact: { schedule: string; olderThanMs: number } | undefined;
  prune: { schedule: string; policy: RetentionPolicy } | undefined;
}

interface Setting {
  flag: string;
  env: string;
  fallback: string | undefined;
  help: string;
}

export const SETTINGS: Setting[] = [
  { flag: "dir", env: "TRACETIER_DIR", fallback: "./tracetier-data", help: "the store's directory" },
  {
    flag: "host",
    env: "TRACETIER_HOST",
    fallback: "127.0.0.1",
    help: "address to listen on (not loopback: needs a token)",
  },
  { flag: "port", env: "TRACETIER_PORT", fallback: "4318", help: "port (4318 is OTLP/HTTP's)" },
  {
    flag: "journal",
    env: "TRACETIER_JOURNAL",
    fallback: undefined,
    help: `NDJSON journal to tail; repeatable (env: paths joined by "${delimiter}")`,
  },
  {
    flag: "token",
    env: "TRACETIER_TOKEN",
    fallback: undefined,
    help: "require Authorization: Bearer <token> (all but /healthz)",
  },
  {
    flag: "body-limit",
    env: "TRACETIER_BODY_LIMIT",
    fallback: "64MiB",
    help: "largest request body, before and after gzip",
  },
  { flag: "durability", env: "TRACETIER_DURABILITY", fallback: "sync", help: "sync | interval | none" },
  {
    flag: "chunk-cache",
    env: "TRACETIER_CHUNK_CACHE",
    fallback: "64MiB",
    help: "memory for inflated body chunks (0 turns the cache off)",
  },
  {
    flag: "compact-schedule",
    env: "TRACETIER_COMPACT_SCHEDULE",
    fallback: "*/15 * * * *",
    help: 'cron schedule of compaction ("off" to disable)',
  },
  {
    flag: "compact-older-than",
    env: "TRACETIER_COMPACT_OLDER_THAN",
    fallback: "24h",
    help: "compaction moves records older than this",
  },
  {
    flag: "prune-schedule",
    env: "TRACETIER_PRUNE_SCHEDULE",
    fallback: "0 * * * *",
    help: 'cron schedule of retention ("off" to disable)',
  },
  { flag: "max-age", env: "TRACETIER_MAX_AGE", fallback: "7d", help: "records older than this are deleted" },
  {
    flag: "max-body-age",
    env: "TRACETIER_MAX_BODY_AGE",
    fallback: undefined,
    help: "bodies unreferenced for this long are evicted",
  },
  {
    flag: "max-cold-bytes",
    env: "TRACETIER_MAX_COLD_BYTES",
    fallback: undefined,
    help: "cold tier cap; oldest partitions go first",
  },
  {
    flag: "max-body-bytes",
    env: "TRACETIER_MAX_BODY_BYTES",
    fallback: "256MiB",
    help: "stored body cap; least recently referenced go first",
  },
];

export type Flags = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function serveConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const get = (flag: string): string | undefined => {
    const s = SETTINGS.find((x) => x.flag === flag)!;
    const v = flags[flag];
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return String(v.at(-1));
    return env[s.env] ?? s.fallback;
  };
  const port = Number(get("port"));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidOptionError("port", `must be 0–65535, got "${get("port")}"`);
  const durability = get("durability") as Durability;
  if (!["sync", "interval", "none"].includes(durability))
    throw new InvalidOptionError("durability", 'must be "sync", "interval" or "none"');
  const flagJournals = flags.journal;
  const journals = Array.isArray(flagJournals)
    ? flagJournals.map(String)
    : typeof flagJournals === "string"
      ? [flagJournals]
      : (env.TRACETIER_JOURNAL ?? "").split(delimiter).filter((p) => p !== "");
  const optional = (flag: string, parse: (t: string, n: string) => number) => {
    const v = get(flag);
    return v === undefined ? undefined : parse(v, flag);
  };
  const policy: RetentionPolicy = {
    ...DEFAULT_RETENTION,
    maxAgeMs: optional("max-age", parseDuration),
    maxBodyAgeMs: optional("max-body-age", parseDuration),
    maxColdBytes: optional("max-cold-bytes", parseBytes),
    maxTotalBodyBytes: optional("max-body-bytes", parseBytes),
  };
  const compactSchedule = get("compact-schedule")!;
  const pruneSchedule = get("prune-schedule")!;
  return {
    dir: get("dir")!,
    host: get("host")!,
    port,
    journals,
    token: get("token") || undefined,
    bodyLimit: parseBytes(get("body-limit")!, "body-limit"),
    durability,
    chunkCacheBytes: parseBytes(get("chunk-cache")!, "chunk-cache"),
    compact:
      compactSchedule === "off"
        ? undefined
        : {
            schedule: compactSchedule,
            olderThanMs: parseDuration(get("compact-older-than")!, "compact-older-than"),
          },
    prune: pruneSchedule === "off" ? undefined : { schedule: pruneSchedule, policy: dropUndefined(policy) },
  };
}

function dropUndefined(p: RetentionPolicy): RetentionPolicy {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;
}
