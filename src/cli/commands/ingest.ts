/** `tracetier ingest`: bulk-load records through the engine, in batches, with progress and a summary. */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { mapLogs, mapTraces } from "../../collector/otlp/map.js";
import type { LogsRequest, TraceRequest } from "../../collector/otlp/types.js";
import { InvalidOptionError, InvalidRecordError } from "../../errors.js";
import { validateRecords } from "../../records/validate.js";
import type { TraceStore } from "../../store.js";
import type { TraceRecord } from "../../types.js";
import { type Command, EXIT, str, withStore } from "../command.js";
import { progressBar } from "../progress.js";

const BATCH = 2000;
const SHOWN_REJECTS = 20;

interface Summary {
  source: string;
  format: string;
  records: number;
  inserted: number;
  duplicates: number;
  rejected: number;
  /** The first rejected lines (or records, or OTLP items), with why. */
  rejects: { line: number; error: string }[];
  bytes: number;
  seconds: number;
}

export const ingest: Command = {
  name: "ingest",
  summary: "bulk-load records from an NDJSON, JSON or OTLP/JSON file, or stdin",
  help: `tracetier ingest <file|-> [--format ndjson|json|otlp-json] [--dir DIR] [--quiet] [--json]

Loads records into the store through the engine, in batches of ${BATCH}. NDJSON (the default; one record
a line, as journals hold them), a JSON array of records, or an OTLP/JSON export (traces or logs). A bad
line is skipped and reported with its line number; the rest are stored. Records already stored count as
duplicates. A progress bar (records/s, bytes) shows on a terminal unless --quiet.

Exit codes: 0 all stored, 3 some lines rejected (the rest stored), 1 failure, 2 bad usage.

Examples:
  tracetier ingest journal.ndjson
  zcat old.ndjson.gz | tracetier ingest - --json
  tracetier ingest export.json --format otlp-json
`,
  options: { format: { type: "string" } },
  positionals: [1, 1],
  async run(ctx) {
    const source = ctx.positionals[0]!;
    const format = str(ctx.values, "format") ?? (source.endsWith(".json") ? "json" : "ndjson");
    if (!["ndjson", "json", "otlp-json"].includes(format)) {
      throw new InvalidOptionError("format", `must be ndjson, json or otlp-json, got "${format}"`);
    }
    const total = source === "-" ? undefined : (await stat(source)).size;
    const summary: Summary = {
      source,
      format,
      records: 0,
      inserted: 0,
      duplicates: 0,
      rejected: 0,
      rejects: [],
      bytes: 0,
      seconds: 0,
    };
    const bar = progressBar(!ctx.quiet && !ctx.json, total);
    const started = performance.now();
    try {
      await withStore(ctx.dir, async (store) => {
        const sink = new Sink(store, summary, () => bar.update(summary.bytes, summary.records));
        if (format === "ndjson") await readNdjson(source, sink, summary);
        else await readWhole(source, format, sink, summary);
        await sink.flush();
      });
    } finally {
      bar.stop();
    }
    summary.seconds = (performance.now() - started) / 1000;
    if (ctx.json) ctx.print(summary);
    else printSummary(ctx.out, summary);
    return summary.rejected > 0 ? EXIT.problems : EXIT.ok;
  },
};

/** Collects records with where they came from, and stores them a batch at a time. */
class Sink {
  private batch: { record: unknown; line: number }[] = [];
  constructor(
    private readonly store: TraceStore,
    private readonly summary: Summary,
    private readonly onFlush: () => void,
  ) {}

  async add(record: unknown, line: number): Promise<void> {
    this.batch.push({ record, line });
    if (this.batch.length >= BATCH) await this.flush();
  }

  reject(line: number, error: string): void {
    this.summary.rejected++;
    if (this.summary.rejects.length < SHOWN_REJECTS) this.summary.rejects.push({ line, error });
  }

  /** Stores the batch; if a record fails validation, the batch is split so that only bad ones are skipped. */
  async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    let good = batch;
    try {
      await this.insert(batch.map((b) => b.record));
    } catch (err) {
      if (!(err instanceof InvalidRecordError)) throw err;
      good = [];
      for (const b of batch) {
        try {
          validateRecords([b.record]);
          good.push(b);
        } catch (e) {
          this.reject(b.line, (e as Error).message.replace(/^record 0: /, ""));
        }
      }
      await this.insert(good.map((b) => b.record));
    }
    this.summary.records += good.length;
    this.onFlush();
  }

  private async insert(records: unknown[]): Promise<void> {
    if (records.length === 0) return;
    const r = await this.store.insertRecords(records as TraceRecord[]);
    this.summary.inserted += r.inserted;
    this.summary.duplicates += r.duplicates;
  }
}

async function readNdjson(source: string, sink: Sink, summary: Summary): Promise<void> {
  const input = source === "-" ? process.stdin : createReadStream(source);
  input.on("data", (chunk: Buffer | string) => {
    summary.bytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
  });
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (err) {
      sink.reject(line, `not JSON: ${(err as Error).message}`);
      continue;
    }
    await sink.add(record, line);
  }
}

/** A JSON array of records, or an OTLP/JSON export; "line" in reports is then the item's position. */
async function readWhole(source: string, format: string, sink: Sink, summary: Summary): Promise<void> {
  const text = source === "-" ? await readStdin() : await readFile(source, "utf8");
  summary.bytes = Buffer.byteLength(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidOptionError(source, `is not JSON: ${(err as Error).message}`);
  }
  if (format === "json") {
    const items = Array.isArray(value) ? value : [value];
    for (let i = 0; i < items.length; i++) await sink.add(items[i], i + 1);
    return;
  }
  const v = value as TraceRequest & LogsRequest;
  if (!v.resourceSpans && !v.resourceLogs)
    throw new InvalidOptionError(source, "is not an OTLP/JSON export (no resourceSpans or resourceLogs)");
  for (const mapped of [mapTraces(v), mapLogs(v)]) {
    for (let i = 0; i < mapped.rejected; i++)
      sink.reject(0, mapped.firstError ?? "an OTLP item could not be mapped");
    for (const r of mapped.records) await sink.add(r, 0);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function printSummary(out: (l?: string) => void, s: Summary): void {
  const rate = Math.round(s.records / Math.max(s.seconds, 0.001));
  out(
    `${s.source}: ${s.inserted} inserted, ${s.duplicates} duplicates, ${s.rejected} rejected (${s.format}, ${(s.bytes / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(2)} s, ${rate} records/s)`,
  );
  for (const r of s.rejects) out(`  ${r.line > 0 ? `line ${r.line}` : "item"}: ${r.error}`);
  if (s.rejected > s.rejects.length) out(`  … and ${s.rejected - s.rejects.length} more`);
}
