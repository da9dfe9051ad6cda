/**
 * The collector in `npm run bench`: `tracetier serve` in a child process, this process as the client.
 *   - NDJSON over HTTP against in-process insertRecords, same records, batches of 500, one at a time;
 *   - OTLP/HTTP protobuf: the workload's spans as ExportTraceServiceRequests of 500 spans, with the
 *     LLM bodies as gen_ai.input/output.messages; spans/s through the whole path.
 * Request bodies are built before the clock starts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { messages } from "../src/collector/otlp/schema.js";
import { openStore, type TraceRecord } from "../src/index.js";
import { fmt, scratch, timed } from "./stats.js";

const BATCH = 500;

export interface CollectorFigures {
  inProcess: number;
  http: number;
  otlpSpans: number;
  spans: number;
  /** `tracetier ingest` of the workload as an NDJSON file: its own rate, and counting process start. */
  cliIngest: number;
  cliIngestWall: number;
}

export async function collectorBench(records: TraceRecord[]): Promise<CollectorFigures> {
  const store = await openStore({ dir: scratch("inproc") });
  const inProcSecs = await timed(async () => {
    for (let i = 0; i < records.length; i += BATCH) await store.insertRecords(records.slice(i, i + BATCH));
  });
  await store.close();

  const bodies: string[] = [];
  for (let i = 0; i < records.length; i += BATCH) {
    bodies.push(
      records
        .slice(i, i + BATCH)
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
  }
  const otlp = otlpRequests(records);
  const server = await startServer();
  let httpSecs = 0;
  let otlpSecs = 0;
  try {
    httpSecs = await timed(async () => {
      for (const body of bodies) await post(`${server.url}/v1/records`, body, "application/x-ndjson");
    });
    const server2 = await startServer();
    try {
      otlpSecs = await timed(async () => {
        for (const body of otlp.requests)
          await post(`${server2.url}/v1/traces`, body, "application/x-protobuf");
      });
    } finally {
      await server2.stop();
    }
  } finally {
    await server.stop();
  }
  // Once the servers are gone, as the in-process run had the machine to itself: a server's LevelDB may
  // still be compacting the 180 MB it took, beside the command being measured.
  const cli = await cliIngest(records);
  return {
    inProcess: records.length / inProcSecs,
    http: records.length / httpSecs,
    otlpSpans: otlp.spans / otlpSecs,
    spans: otlp.spans,
    cliIngest: records.length / cli.seconds,
    cliIngestWall: records.length / cli.wall,
  };
}

/** `tracetier ingest` on an NDJSON file of the records, in a child process. */
async function cliIngest(records: TraceRecord[]): Promise<{ seconds: number; wall: number }> {
  const file = join(scratch("ingest-file"), "workload.ndjson");
  await writeFile(file, `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  let out = "";
  const wall = await timed(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", main, "ingest", file, "--dir", scratch("ingest"), "--json", "--quiet"],
          {
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.once("exit", (code) =>
          code === 0 ? resolve() : reject(new Error(`ingest exited with ${code}`)),
        );
      }),
  );
  const summary = JSON.parse(out) as { seconds: number; inserted: number };
  if (summary.inserted !== records.length)
    throw new Error(`ingest stored ${summary.inserted} of ${records.length}`);
  return { seconds: summary.seconds, wall };
}

export function collectorLines(f: CollectorFigures): string[] {
  return [
    "",
    "Collector: `tracetier serve` in a child process, the benchmark as its client, the same records in batches of 500.",
    "",
    "| metric | tracetier | in-process | ratio | goal |",
    "|---|---:|---:|---:|---|",
    `| NDJSON over HTTP (records/s) | ${fmt(f.http)} | ${fmt(f.inProcess)} | ${fmt((100 * f.http) / f.inProcess)}% | ≥ 50% |`,
    `| OTLP/HTTP protobuf, ${fmt(f.spans)} spans in requests of 500 (spans/s; 2 records each) | ${fmt(f.otlpSpans)} | | | reported |`,
    `| \`tracetier ingest\` of the workload as an NDJSON file (records/s, the command's own clock) | ${fmt(f.cliIngest)} | ${fmt(f.inProcess)} | ${fmt((100 * f.cliIngest) / f.inProcess)}% | ≥ 90% |`,
    `| the same, wall clock with process start (tsx) | ${fmt(f.cliIngestWall)} | ${fmt(f.inProcess)} | ${fmt((100 * f.cliIngestWall) / f.inProcess)}% | |`,
  ];
}

async function post(url: string, body: string | Uint8Array, type: string): Promise<void> {
  const res = await fetch(url, { method: "POST", body, headers: { "content-type": type } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
}

/** The workload's spans (span-open + span-close pairs) as OTLP protobuf requests of BATCH spans. */
function otlpRequests(records: TraceRecord[]): { requests: Uint8Array[]; spans: number } {
  const opens = new Map<string, TraceRecord & { kind: "span-open" }>();
  const spans: Record<string, unknown>[] = [];
  for (const r of records) {
    if (r.kind === "span-open") opens.set(`${r.turnId}/${r.spanId}`, r);
    if (r.kind !== "span-close") continue;
    const open = opens.get(`${r.turnId}/${r.spanId}`);
    if (!open) continue;
    const attributes = Object.entries(open.attributes ?? {}).map(([key, v]) => ({ key, value: anyValue(v) }));
    if (open.body !== undefined)
      attributes.push({ key: "gen_ai.input.messages", value: { stringValue: open.body } });
    if (r.body !== undefined)
      attributes.push({ key: "gen_ai.output.messages", value: { stringValue: r.body } });
    spans.push({
      traceId: hexBytes(r.turnId ?? "", 16),
      spanId: hexBytes(r.spanId, 8),
      name: r.name,
      kind: 3,
      startTimeUnixNano: String(BigInt(open.timestamp) * 1_000_000n),
      endTimeUnixNano: String(BigInt(r.timestamp) * 1_000_000n),
      attributes,
      status: { code: r.status === "error" ? 2 : 1 },
    });
  }
  const requests: Uint8Array[] = [];
  for (let i = 0; i < spans.length; i += BATCH) {
    const req = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "bench-agent" } }] },
          scopeSpans: [{ spans: spans.slice(i, i + BATCH) }],
        },
      ],
    };
    requests.push(messages.traceRequest.encode(messages.traceRequest.fromObject(req)).finish());
  }
  return { requests, spans: spans.length };
}

function anyValue(v: unknown): Record<string, unknown> {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return Number.isInteger(v) ? { intValue: v } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  return { stringValue: JSON.stringify(v) };
}

/** An id of the workload as OTLP bytes of the given length (hashed, so any string works). */
function hexBytes(id: string, bytes: number): Buffer {
  const h = Buffer.alloc(bytes);
  Buffer.from(id).forEach((b, i) => {
    h[i % bytes] = (h[i % bytes]! * 31 + b) & 0xff;
  });
  if (h.every((b) => b === 0)) h[0] = 1;
  return h;
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const args = [
    "--import",
    "tsx",
    main,
    "serve",
    "--port",
    "0",
    "--dir",
    scratch("serve"),
    "--compact-schedule",
    "off",
    "--prune-schedule",
    "off",
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "ignore"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
