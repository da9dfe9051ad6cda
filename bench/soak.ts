/**
 * The soak (`npm run soak -- --minutes 30`; not in CI): is the collector's memory flat over hours?
 *
 * `tracetier serve` (built, from dist/, as `npm start` runs it) in a child process on a scratch
 * directory, with compaction and prune every minute and retention caps small enough that the disk
 * reaches its bound within the run. This process drives it: HTTP ingest at a steady rate (default 2
 * requests/s; each request is one LLM call's records: its 64–270 kB request body, growing through a
 * conversation, the response and the logs around them) and reads of recent turns with their bodies
 * (GET /v1/turns/<id>). Every 10 s it samples the server's RSS (/proc/<pid>/status: VmRSS, and its
 * anonymous and file-backed parts), what of it is glibc malloc's heaps (/proc/<pid>/smaps), its
 * process.memoryUsage() categories (/metrics) and the data directory's disk usage.
 *
 * The verdict: RSS over the last half of the run within ±10% of its mean (max and min against the
 * mean), and the disk within the caps plus a slack. The samples go to <dir>/soak-samples.json, the
 * server's log to <dir>/server.log.
 *
 * Flags: --minutes N (default 30), --rate R (ingest requests/s, default 2), --read-rate R (turn
 * reads/s, default 1), --dir D (scratch directory, default a new one under the temp dir; kept),
 * --no-cache (the server's chunk cache off), --malloc-arena-max N (MALLOC_ARENA_MAX for the server;
 * any MALLOC_* variable of this process's environment reaches it too), --max-body-bytes M and
 * --max-cold-bytes M (retention caps in MiB, default 4 and 1), --interval S (sampling period, default
 * 10), --tsx (run the server from the sources), --snapshot (heap snapshots of the server at the middle
 * and the end, via SIGUSR2, into the data directory).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { diskBytes } from "../src/base/disk-usage.js";
import type { TraceRecord } from "../src/types.js";
import { generateTurns } from "../src/workload/generator.js";

const MiB = 1024 * 1024;
/** What the disk may hold past the caps: the hot tier's records, the WAL, LevelDB's compaction lag. */
const DISK_SLACK = 96 * MiB;

interface Sample {
  t: number;
  rssMB: number;
  /** RSS in anonymous memory (the JS heap, malloc, large Buffers) and in mapped files (code, LevelDB tables). */
  anonMB: number;
  fileMB: number;
  /** Resident in glibc malloc's heaps: the main arena ([heap]) and the threads' 64 MiB arenas. */
  mallocMB: number;
  heapUsedMB?: number;
  heapTotalMB?: number;
  externalMB?: number;
  arrayBuffersMB?: number;
  diskMB: number;
  sent: number;
  reads: number;
  compactions: number;
  prunes: number;
}

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "2" },
    "read-rate": { type: "string", default: "1" },
    dir: { type: "string" },
    "no-cache": { type: "boolean", default: false },
    "malloc-arena-max": { type: "string" },
    interval: { type: "string", default: "10" },
    tsx: { type: "boolean", default: false },
    snapshot: { type: "boolean", default: false },
    "max-body-bytes": { type: "string", default: "4" },
    "max-cold-bytes": { type: "string", default: "1" },
  },
});

const minutes = Number(flags.minutes);
const rate = Number(flags.rate);
const readRate = Number(flags["read-rate"]);
const intervalMs = Number(flags.interval) * 1000;
/**
 * Retention caps (MiB; --max-body-bytes, --max-cold-bytes): small, so that the disk reaches its bound
 * within a short run and every prune evicts and collects. At 2 requests/s the body store grows by about
 * 0.65 MB a minute (deduplicated and compressed: 150 MB of bodies are stored in 4.6 MB) and the cold
 * tier by about 20 kB (the bodies stay in the hot tier), so the 4 MiB body cap is reached in about 6
 * minutes; the age cap alone would not bound the disk within an hour (cold files go by whole hours).
 */
const CAPS = {
  maxAge: "4m",
  maxBodyBytes: Number(flags["max-body-bytes"]) * MiB,
  maxColdBytes: Number(flags["max-cold-bytes"]) * MiB,
};
const root = flags.dir ?? mkdtempSync(join(tmpdir(), "tracetier-soak-"));
mkdirSync(root, { recursive: true });
const dataDir = join(root, "data");

/**
 * The workload's LLM calls as requests, endless: conversations of many turns with a 270 kB context
 * cap, each request one call's span-open (its request body) and what follows it up to the next call.
 * Turns whose requests are still under 64 kB (a conversation's start) are skipped.
 */
function* requests(): Generator<{ records: TraceRecord[]; turnId: string }> {
  for (let seed = 1; ; seed++) {
    for (const turn of generateTurns({
      seed,
      conversations: 50,
      turnsPerConversation: 60,
      maxRequestBytes: 270_000,
    })) {
      const biggest = Math.max(0, ...turn.map((r) => (r.body ? r.body.length : 0)));
      if (biggest < 64_000) continue;
      let current: TraceRecord[] = [];
      for (const r of turn) {
        if (r.kind === "span-open" && r.body !== undefined && current.some((c) => c.body !== undefined)) {
          yield { records: current, turnId: r.turnId! };
          current = [];
        }
        current.push(r);
      }
      if (current.length > 0) yield { records: current, turnId: turn[0]!.turnId! };
    }
  }
}

/** Records stamped with the wall clock (in their order), so that compaction and retention see them age. */
function ndjson(records: TraceRecord[]): string {
  const now = Date.now();
  return records.map((r, i) => JSON.stringify({ ...r, timestamp: now + i })).join("\n");
}

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const fromSource = flags.tsx;
  const main = fileURLToPath(
    new URL(`../${fromSource ? "" : "dist/"}src/cli/main.${fromSource ? "ts" : "js"}`, import.meta.url),
  );
  const nodeArgs = [
    ...(fromSource ? ["--import", "tsx"] : []),
    ...(flags.snapshot ? ["--heapsnapshot-signal=SIGUSR2"] : []),
  ];
  const args = [
    ...nodeArgs,
    main,
    "serve",
    "--port",
    "0",
    "--dir",
    dataDir,
    "--compact-schedule",
    "* * * * *",
    "--compact-older-than",
    "1m",
    "--prune-schedule",
    "* * * * *",
    "--max-age",
    CAPS.maxAge,
    "--max-body-bytes",
    String(CAPS.maxBodyBytes),
    "--max-cold-bytes",
    String(CAPS.maxColdBytes),
    ...(flags["no-cache"] ? ["--chunk-cache", "0"] : []),
  ];
  const env = { ...process.env };
  if (flags["malloc-arena-max"] !== undefined) env.MALLOC_ARENA_MAX = flags["malloc-arena-max"];
  allocatorEnv = Object.fromEntries(
    Object.entries(env).filter(
      ([k]) => k.startsWith("MALLOC_") || k === "GLIBC_TUNABLES" || k === "LD_PRELOAD",
    ),
  );
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env, cwd: dataDir });
  // The server must not outlive the soak, whatever ends it (a failure, ^C, a kill of this process)
  process.once("exit", () => child.kill("SIGKILL"));
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.once(sig, () => {
      child.kill("SIGTERM");
      process.exit(130);
    });
  const log: string[] = [];
  const serverLog = createWriteStream(join(root, "server.log"));
  child.stderr!.pipe(serverLog);
  child.stderr!.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) if (line) log.push(line);
    if (log.length > 200) log.splice(0, log.length - 200);
  });
  child.once("exit", (code, sig) => {
    if (!stopping) {
      process.stderr.write(`${log.slice(-20).join("\n")}\nserver exited early (${code ?? sig})\n`);
      process.exit(1);
    }
  });
  return new Promise((resolve) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
  });
}

let stopping = false;
/** The allocator settings the server runs with (MALLOC_*, GLIBC_TUNABLES, LD_PRELOAD), for the record. */
let allocatorEnv: Record<string, string | undefined> = {};

/** VmRSS, RssAnon and RssFile of the process (MB). */
function rss(pid: number): { rssMB: number; anonMB: number; fileMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = (field: string) => {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return m ? Number(m[1]) / 1024 : Number.NaN;
  };
  return { rssMB: kB("VmRSS"), anonMB: kB("RssAnon"), fileMB: kB("RssFile") };
}

/**
 * Resident bytes in glibc malloc's heaps (MB), from /proc/<pid>/smaps: the main arena is the [heap]
 * mapping; a thread arena is an anonymous 64 MiB reservation (a read-write part, then the rest
 * PROT_NONE). What is left of the anonymous memory is V8's heap pages and large mmapped blocks.
 */
function mallocMB(pid: number): number {
  const maps: { start: bigint; end: bigint; perm: string; name: string; rss: number }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m)
      maps.push({
        start: BigInt(`0x${m[1]}`),
        end: BigInt(`0x${m[2]}`),
        perm: m[3]!,
        name: m[4]!.trim(),
        rss: 0,
      });
    else if (line.startsWith("Rss:") && maps.length > 0) maps.at(-1)!.rss = Number(line.split(/\s+/)[1]);
  }
  const ARENA = 64n << 20n;
  let kB = 0;
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const arena =
      m.name === "" &&
      m.perm === "rw-p" &&
      (m.end - m.start === ARENA ||
        (next !== undefined && next.perm === "---p" && next.start === m.end && next.end - m.start === ARENA));
    if (m.name === "[heap]" || arena) kB += m.rss;
  });
  return kB / 1024;
}

/** process.memoryUsage() by kind and the maintenance run counts, from the server's /metrics. */
async function scrape(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = { compactions: 0, prunes: 0 };
  for (const m of text.matchAll(/^tracetier_process_memory_bytes\{kind="(\w+)"\} (\S+)$/gm))
    out[m[1]!] = Number(m[2]) / MiB;
  for (const m of text.matchAll(/^tracetier_maintenance_runs_total\{job="(\w+)",outcome="ok"\} (\S+)$/gm))
    out[m[1] === "compact" ? "compactions" : "prunes"] = Number(m[2]);
  for (const m of text.matchAll(/^tracetier_maintenance_runs_total\{job="(\w+)",outcome="failed"\} (\S+)$/gm))
    out.failed = (out.failed ?? 0) + Number(m[2]);
  return out;
}

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const { child, url } = await startServer();
  const pid = child.pid!;
  const started = Date.now();
  const end = started + minutes * 60_000;
  process.stdout.write(
    `soak: ${minutes} min, ${rate} ingest req/s, ${readRate} reads/s, server pid ${pid} at ${url}, data in ${dataDir}` +
      `${flags["no-cache"] ? ", chunk cache off" : ""}${Object.entries(allocatorEnv)
        .map(([k, v]) => `, ${k}=${v}`)
        .join("")}\n`,
  );

  const gen = requests();
  const recentTurns: { id: string; at: number }[] = [];
  let sent = 0;
  let reads = 0;
  let errors = 0;
  let sentBytes = 0;
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  // Ingest at a steady rate: one request every 1/rate s, not waiting for the previous (up to 8 open).
  const ingest = setInterval(() => {
    if (inflight.size >= 8) return;
    const { records, turnId } = gen.next().value!;
    const body = ndjson(records);
    sentBytes += body.length;
    track(
      fetch(`${url}/v1/records`, {
        method: "POST",
        body,
        headers: { "content-type": "application/x-ndjson" },
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status !== 200) errors++;
          else {
            sent++;
            if (recentTurns.at(-1)?.id !== turnId) recentTurns.push({ id: turnId, at: Date.now() });
          }
        })
        .catch(() => {
          errors++;
        }),
    );
  }, 1000 / rate);

  // Reads: a recent turn (sent in the last 3 minutes: hot, or just compacted), bodies included.
  const reader =
    readRate > 0
      ? setInterval(() => {
          const cutoff = Date.now() - 180_000;
          while (recentTurns.length > 0 && recentTurns[0]!.at < cutoff) recentTurns.shift();
          if (recentTurns.length === 0 || inflight.size >= 8) return;
          const turn = recentTurns[Math.floor(Math.random() * recentTurns.length)]!;
          track(
            fetch(`${url}/v1/turns/${turn.id}`)
              .then(async (res) => {
                await res.arrayBuffer();
                if (res.status !== 200) errors++;
                else reads++;
              })
              .catch(() => {
                errors++;
              }),
          );
        }, 1000 / readRate)
      : undefined;

  const samples: Sample[] = [];
  let failed = 0;
  const sample = async () => {
    const m = await scrape(url).catch(() => ({}) as Record<string, number>);
    failed = m.failed ?? failed;
    const s: Sample = {
      t: Math.round((Date.now() - started) / 1000),
      ...rss(pid),
      mallocMB: mallocMB(pid),
      heapUsedMB: m.heapUsed,
      heapTotalMB: m.heapTotal,
      externalMB: m.external,
      arrayBuffersMB: m.arrayBuffers,
      diskMB: (await diskBytes(dataDir).catch(() => Number.NaN)) / MiB,
      sent,
      reads,
      compactions: m.compactions ?? 0,
      prunes: m.prunes ?? 0,
    };
    samples.push(s);
    process.stdout.write(`${row(s)}\n`);
  };
  process.stdout.write(`${HEADER}\n`);
  await sample();
  let snapshotted = false;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, end - Date.now())));
    await sample();
    if (flags.snapshot && !snapshotted && Date.now() - started > (end - started) / 2) {
      snapshotted = true;
      child.kill("SIGUSR2");
    }
  }
  clearInterval(ingest);
  if (reader) clearInterval(reader);
  await Promise.allSettled([...inflight]);
  if (flags.snapshot) {
    child.kill("SIGUSR2");
    await new Promise((r) => setTimeout(r, 15_000));
  }
  stopping = true;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });

  const out = join(root, "soak-samples.json");
  const verdict = judge(samples);
  writeFileSync(
    out,
    JSON.stringify(
      {
        minutes,
        rate,
        readRate,
        noCache: flags["no-cache"],
        allocatorEnv,
        caps: CAPS,
        sent,
        reads,
        errors,
        failedMaintenance: failed,
        sentMB: sentBytes / MiB,
        verdict,
        samples,
      },
      null,
      1,
    ),
  );
  process.stdout.write(
    `\n${sent} ingest requests (${(sentBytes / MiB).toFixed(0)} MiB of NDJSON), ${reads} turn reads, ${errors} errors, ${failed} failed maintenance runs\n` +
      `RSS over the last half: mean ${verdict.rssMean.toFixed(1)} MB, max ${pct(verdict.rssMaxDev)}, min ${pct(verdict.rssMinDev)} of the mean (goal ±10%): ${verdict.rssFlat ? "FLAT" : "NOT FLAT"}\n` +
      `RSS trend: the last quarter's mean ${pct(verdict.quarterTrend)} against the third quarter's\n` +
      `RSS first → last: ${samples[0]!.rssMB.toFixed(0)} → ${samples.at(-1)!.rssMB.toFixed(0)} MB; peak ${Math.max(...samples.map((s) => s.rssMB)).toFixed(0)} MB\n` +
      `disk: max ${verdict.diskMax.toFixed(0)} MB over the last half, bound ${verdict.diskBound.toFixed(0)} MB (body cap + cold cap + ${DISK_SLACK / MiB} MiB slack): ${verdict.diskBounded ? "BOUNDED" : "OVER"}\n` +
      `samples: ${out}\n`,
  );
}

const HEADER =
  "  time |  RSS MB |  anon |  file | malloc | heapUsed | heapTotal | external | arrayBuf | disk MB |  sent | reads | compactions | prunes";

function row(s: Sample): string {
  const n = (v: number | undefined, w: number) => (v === undefined ? "-" : v.toFixed(1)).padStart(w);
  const mmss = `${Math.floor(s.t / 60)}:${String(s.t % 60).padStart(2, "0")}`;
  return `${mmss.padStart(6)} | ${n(s.rssMB, 7)} | ${n(s.anonMB, 5)} | ${n(s.fileMB, 5)} | ${n(s.mallocMB, 6)} | ${n(s.heapUsedMB, 8)} | ${n(s.heapTotalMB, 9)} | ${n(s.externalMB, 8)} | ${n(s.arrayBuffersMB, 8)} | ${n(s.diskMB, 7)} | ${String(s.sent).padStart(5)} | ${String(s.reads).padStart(5)} | ${String(s.compactions).padStart(11)} | ${String(s.prunes).padStart(6)}`;
}

function pct(x: number): string {
  return `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`;
}

export function judge(samples: Sample[]) {
  const half = samples.slice(Math.floor(samples.length / 2));
  const rss = half.map((s) => s.rssMB);
  const rssMean = rss.reduce((a, b) => a + b, 0) / rss.length;
  const rssMaxDev = Math.max(...rss) / rssMean - 1;
  const rssMinDev = Math.min(...rss) / rssMean - 1;
  // Growth and dips look alike to max/min: a GC that gives pages back is a dip, a leak is a rising mean.
  const mean = (xs: Sample[]) => xs.reduce((a, s) => a + s.rssMB, 0) / xs.length;
  const q = Math.floor(samples.length / 4);
  const quarterTrend = mean(samples.slice(3 * q)) / mean(samples.slice(2 * q, 3 * q)) - 1;
  const diskMax = Math.max(...half.map((s) => s.diskMB));
  const diskBound = (CAPS.maxBodyBytes + CAPS.maxColdBytes + DISK_SLACK) / MiB;
  return {
    rssMean,
    rssMaxDev,
    rssMinDev,
    rssFlat: rssMaxDev <= 0.1 && rssMinDev >= -0.1,
    quarterTrend,
    diskMax,
    diskBound,
    diskBounded: diskMax <= diskBound,
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
