/** `tracetier ingest`: bulk-load records through the engine, in batches, with progress and a summary. */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { InvalidOptionError, InvalidRecordError, IoError, TracetierError } from "../../base/errors.js";
import { type NdjsonCursor, ndjsonLines } from "../../base/ndjson.js";
import { mapLogs, mapTraces } from "../../collector/otlp/map.js";
import type { LogsRequest, TraceRequest } from "../../collector/otlp/types.js";
import { type Prepared, prepareOne } from "../../records/prepare.js";
import { insertPrepared, type TraceStore } from "../../store.js";
import type { InsertResult, TraceRecord } from "../../types.js";
import { type Command, EXIT, str, withStore } from "../command.js";
import { progressBar } from "../progress.js";
import { unpackPrepared } from "./ingest-pack.js";
import type { ReaderBatch, ReaderMessage, ReaderOptions, ReaderRequest } from "./ingest-worker.js";

const BATCH = 2000;
const SHOWN_REJECTS = 20;
const MAX_IN_FLIGHT = 2;
/** Bytes a file is read in: a record a line is tens of KB, and each read is a trip to the thread pool. */
const READ_CHUNK = 1 << 20;

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
    const file =
      source === "-"
        ? undefined
        : await stat(source).catch((err: unknown) => {
            throw new IoError(`reading ${source}`, err);
          });
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
    const bar = progressBar(!ctx.quiet && !ctx.json, file?.size);
    const started = performance.now();
    try {
      await withStore(ctx.dir, async (store) => {
        const sink = new Sink(store, summary, () => bar.update(summary.bytes, summary.records));
        // Only a regular file can be handed to the reader thread by offset (not a pipe, not <(zcat …))
        if (format === "ndjson" && file?.isFile()) await readNdjsonFile(source, sink, summary);
        else if (format === "ndjson") await readNdjson(source, sink, summary);
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

/**
 * Collects records with where they came from, and stores them a batch at a time. Two batches may be
 * in flight: parsing the next overlaps the WAL fsync of the last (the write path stages them in order).
 */
class Sink {
  private batch: { record: unknown; line: number }[] = [];
  /** Records the reader thread validated and prepared (never mixed with `batch` in one insert). */
  private prepared: Prepared[] = [];
  private readonly inflight: Promise<void>[] = [];
  constructor(
    private readonly store: TraceStore,
    private readonly summary: Summary,
    private readonly onFlush: () => void,
  ) {}

  async add(record: unknown, line: number): Promise<void> {
    if (this.prepared.length > 0) await this.send();
    this.batch.push({ record, line });
    if (this.batch.length >= BATCH) await this.send();
  }

  /** Prepared records: stored after everything added before them, as records are. */
  async addPrepared(prepared: Prepared[]): Promise<void> {
    if (this.batch.length > 0) await this.send();
    for (const p of prepared) this.prepared.push(p);
    if (this.prepared.length >= BATCH) await this.send();
  }

  reject(line: number, error: string): void {
    this.summary.rejected++;
    if (this.summary.rejects.length < SHOWN_REJECTS) this.summary.rejects.push({ line, error });
  }

  /** Stores what is left and waits for every batch in flight. */
  async flush(): Promise<void> {
    await this.send();
    await Promise.all(this.inflight.splice(0));
  }

  private async send(): Promise<void> {
    const batch = this.batch;
    const prepared = this.prepared;
    this.batch = [];
    this.prepared = [];
    if (batch.length === 0 && prepared.length === 0) return;
    if (this.inflight.length >= MAX_IN_FLIGHT) await this.inflight.shift();
    const stored = batch.length > 0 ? this.storeBatch(batch) : this.storePrepared(prepared);
    // Awaited later (here or in flush); if an earlier one fails first, this one's failure is not unhandled
    stored.catch(() => {});
    this.inflight.push(stored);
  }

  /** One batch; if a record fails validation, the batch is split so that only the bad ones are skipped. */
  private async storeBatch(batch: { record: unknown; line: number }[]): Promise<void> {
    let good = batch;
    try {
      await this.insert(batch.map((b) => b.record));
    } catch (err) {
      if (!(err instanceof InvalidRecordError)) throw err;
      // Judged one by one as the reader thread judges its lines (prepareOne), so a line gets the same
      // verdict on either path; what passes is stored prepared, not validated a second time
      const prepared: Prepared[] = [];
      good = [];
      for (const b of batch) {
        const p = prepareOne(b.record);
        if ("error" in p) this.reject(b.line, p.error);
        else {
          prepared.push(p);
          good.push(b);
        }
      }
      if (prepared.length > 0) this.count(await insertPrepared(this.store, prepared));
    }
    this.stored(good.length);
  }

  private async storePrepared(prepared: Prepared[]): Promise<void> {
    this.count(await insertPrepared(this.store, prepared));
    this.stored(prepared.length);
  }

  private async insert(records: unknown[]): Promise<void> {
    if (records.length === 0) return;
    this.count(await this.store.insertRecords(records as TraceRecord[]));
  }

  private count(r: InsertResult): void {
    this.summary.inserted += r.inserted;
    this.summary.duplicates += r.duplicates;
  }

  private stored(records: number): void {
    this.summary.records += records;
    this.onFlush();
  }
}

/**
 * An NDJSON file, read, parsed, validated and prepared on a worker thread (ingest-worker.ts) while the
 * store works here. A worker takes a while to start (run from the TypeScript sources it loads tsx
 * first: about a second, a third of the benchmark's ingest, with the store idle), so this thread parses
 * the first lines itself until the worker says it is ready, then hands it the rest of the file from the
 * line it reached. A worker that fails before that changes nothing: this thread reads the whole file.
 */
async function readNdjsonFile(path: string, sink: Sink, summary: Summary): Promise<void> {
  // Messages of a quarter of a batch: the first comes soon after the hand-over, while the main thread
  // still has the batches in flight to finish; two batches' worth read ahead.
  const reader = new ReaderThread(
    startReader({ path, batch: BATCH / 4, ahead: 2 * 4, chunk: READ_CHUNK }),
    path,
  );
  try {
    const at: NdjsonCursor = { line: 0, offset: 0 };
    const forced = forcedHandOver();
    let handOver = forced === 0 && (await reader.whenReady());
    if (!handOver) {
      const input = createReadStream(path, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>;
      for await (const l of ndjsonLines(input, undefined, at)) {
        if ("error" in l) sink.reject(l.line, l.error);
        else await sink.add(l.value, l.line);
        summary.bytes = at.offset;
        handOver = forced === undefined ? reader.ready : at.line >= forced && (await reader.whenReady());
        if (handOver) break;
      }
    }
    if (handOver) await reader.readFrom(at, sink, summary);
  } finally {
    await reader.worker.terminate();
  }
}

/**
 * Tests only: `TRACETIER_INGEST_HANDOVER_LINE=n` hands the file to the reader thread after line n
 * (0: all of it), waiting for the thread to be ready, instead of whenever it happens to be.
 */
function forcedHandOver(): number | undefined {
  const v = process.env.TRACETIER_INGEST_HANDOVER_LINE;
  return v === undefined || v === "" ? undefined : Number(v);
}

/** The reader thread's messages: whether it is ready, its batches in order, and its failure. */
class ReaderThread {
  ready = false;
  private failure: { error: unknown } | undefined;
  /** Its last batch is taken: an exit after that is the end, not a failure. */
  private finished = false;
  private settle: (ready: boolean) => void = () => {};
  private readonly readiness: Promise<boolean>;
  private onBatch: (b: ReaderBatch) => void = () => {};
  private onFailure: (err: unknown) => void = () => {};

  constructor(
    readonly worker: Worker,
    path: string,
  ) {
    this.readiness = new Promise((resolve) => {
      this.settle = resolve;
    });
    worker.on("message", (m: ReaderMessage) => {
      if (m !== "ready") return this.onBatch(m);
      this.ready = this.failure === undefined;
      this.settle(this.ready);
    });
    worker.on("error", (cause) => {
      this.fail(cause instanceof TracetierError ? cause : new IoError(`reading ${path}`, cause));
    });
    // A thread that ends without its last batch and without an error (killed, out of memory) failed too
    worker.on("exit", (code) => {
      if (!this.finished)
        this.fail(new IoError(`reading ${path}`, new Error(`the reader thread exited with code ${code}`)));
    });
  }

  private fail(err: TracetierError): void {
    this.ready = false;
    this.failure ??= { error: err };
    this.settle(false);
    this.onFailure(this.failure.error);
  }

  /** True once the thread is ready; false if it failed first. */
  whenReady(): Promise<boolean> {
    return this.readiness;
  }

  /** Has the thread read the file from `at` on, and stores its batches in order. */
  readFrom(at: NdjsonCursor, sink: Sink, summary: Summary): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure.error);
      let chain = Promise.resolve();
      this.onFailure = reject;
      this.onBatch = (b) => {
        chain = chain
          .then(async () => {
            summary.bytes += b.bytes;
            for (const bad of b.bad) sink.reject(bad.line, bad.error);
            await sink.addPrepared(unpackPrepared(b.packed));
            if (b.done) {
              this.finished = true;
              resolve();
            } else this.worker.postMessage("more" satisfies ReaderRequest);
          })
          .catch(reject);
      };
      this.worker.postMessage(at satisfies ReaderRequest);
    });
  }
}

/**
 * The reader thread. Built, it is ingest-worker.js; run from source under tsx (tests, the benchmark),
 * Node 20's workers do not inherit tsx's loader, so the worker registers tsx itself first.
 */
function startReader(workerData: ReaderOptions): Worker {
  if (!import.meta.url.endsWith(".ts"))
    return new Worker(new URL("./ingest-worker.js", import.meta.url), { workerData });
  const tsx = import.meta.resolve("tsx/esm/api");
  const script = new URL("./ingest-worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(script)}, ${JSON.stringify(import.meta.url)}));`;
  return new Worker(code, { eval: true, workerData });
}

/** NDJSON from stdin, parsed here. */
async function readNdjson(source: string, sink: Sink, summary: Summary): Promise<void> {
  const input = (source === "-" ? process.stdin : createReadStream(source)) as AsyncIterable<Buffer>;
  for await (const l of ndjsonLines(input, (n) => {
    summary.bytes += n;
  })) {
    if ("error" in l) sink.reject(l.line, l.error);
    else await sink.add(l.value, l.line);
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
