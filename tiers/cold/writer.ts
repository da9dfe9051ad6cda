/**
 * Cold files encoded off the main thread. Compaction hands a file's hot record values (undecoded, as
 * LevelDB returned them, packed into one transferable buffer) to a worker thread, which decodes them,
 * maps and sorts the rows and runs the one Parquet encoding (`encodeColdFile`), and transfers the
 * file's bytes back. The main thread meanwhile reads and decodes the next file's records and writes
 * the previous file: on two cores the encoder, not the scan, sets the pace.
 *
 * The worker only computes: every file operation stays on the main thread, behind the fs seam, with
 * compaction's commit order unchanged. A worker that throws, exits or cannot start fails every file it
 * holds with a coded error (ERR_IO, naming the file; a record the worker cannot decode keeps its
 * ERR_CORRUPT_STORE) instead of leaving compaction waiting.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CorruptStoreError, IoError, TracetierError } from "../../src/base/errors.js";
import { decodeRecordValue, type HotRecord } from "../hot/values.js";
import type { TierRecord } from "../record.js";
import { type EncodedColdFile, encodeColdFile } from "./parquet.js";
import { compareRows, toRow } from "./schema.js";
import { buildSidecar, type SidecarSource, sidecarSettings } from "./sidecar.js";

/** A file's record values back to back in `data`; value `i` ends at `ends[i]`. */
export interface ValueBatch {
  data: Uint8Array;
  ends: Uint32Array;
}

/** Packs record values into one fresh buffer (its own ArrayBuffer, so it can be transferred). */
export function packValues(values: readonly Uint8Array[]): ValueBatch {
  let total = 0;
  for (const v of values) total += v.length;
  const data = new Uint8Array(total);
  const ends = new Uint32Array(values.length);
  let at = 0;
  values.forEach((v, i) => {
    data.set(v, at);
    at += v.length;
    ends[i] = at;
  });
  return { data, ends };
}

/**
 * A cold file from its record values: decoded, mapped to rows, sorted, encoded (pure), with its search
 * sidecar when `index`. With it, what the move's hot-tier step needs that the records' keys do not
 * hold: each record's id and conversation, in the order of the values.
 */
export function encodeValues(batch: ValueBatch, index = true): EncodedFile {
  const n = batch.ends.length;
  const records = new Array<HotRecord>(n);
  const ids = new Array<string>(n);
  const conversationIds = new Array<string | null>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const end = batch.ends[i]!;
    let r: HotRecord;
    try {
      r = decodeRecordValue(batch.data.subarray(at, end));
    } catch (err) {
      throw Object.assign(err as Error, { valueIndex: i });
    }
    records[i] = r;
    ids[i] = r.id;
    conversationIds[i] = r.record.conversationId ?? null;
    at = end;
  }
  return { ...encodeRecords(records, index), ids, conversationIds };
}

/**
 * A cold file from its records (any order): rows sorted (compareRows), encoded, and the sidecar built
 * from the same records in the file's row order (their attributes as objects: no JSON to parse back).
 */
export function encodeRecords(records: readonly TierRecord[], index = true): EncodedColdFile {
  const rows = records.map(toRow);
  const order = rows.map((_, i) => i).sort((a, b) => compareRows(rows[a]!, rows[b]!));
  const file = encodeColdFile(order.map((i) => rows[i]!));
  if (!index) return file;
  return { ...file, index: buildSidecar(order.map((i) => sourceOfRecord(records[i]!))) };
}

function sourceOfRecord(r: TierRecord): SidecarSource {
  const rec = r.record as { msg?: unknown; name?: unknown; attributes?: unknown };
  return { msg: rec.msg, name: rec.name, attributes: rec.attributes, bodyHash: r.bodyHash };
}

/** An encoded file (with its turn filter), and its records' ids and conversations in the order given. */
export interface EncodedFile extends EncodedColdFile {
  ids: string[];
  conversationIds: (string | null)[];
}

/** What the worker is sent: one file to encode. */
export interface EncodeRequest {
  id: number;
  batch: ValueBatch;
  /** Whether to build the file's search sidecar (sidecarSettings.build, read on the calling thread). */
  index: boolean;
}

/** What the worker answers: the file's bytes, or what went wrong (a TracetierError keeps its code). */
export type EncodeReply = { id: number; file: EncodedFile } | { id: number; error: WorkerFailure };

/** An error as the worker reports it; `valueIndex` is the value it could not decode, if it was one. */
export interface WorkerFailure {
  message: string;
  code?: string;
  stack?: string;
  valueIndex?: number;
}

/**
 * Files of at most this many records are encoded on the calling thread: starting a thread (and, from
 * the TypeScript sources, its loader) costs more than encoding them, and most compactions of a
 * collector that runs every few minutes move a few hundred records.
 */
export const INLINE_ROWS = 2048;

/**
 * For tests only: sees each encoder worker as it starts (to end it under a compaction); `inlineRows`
 * overrides INLINE_ROWS (0: every file goes to the thread).
 */
export const encoderTestHooks: { onWorker?: (worker: Worker) => void; inlineRows?: number } = {};

interface Waiter {
  what: string;
  valueName: (index: number) => string;
  resolve: (file: EncodedFile) => void;
  reject: (err: TracetierError) => void;
}

/**
 * One worker thread that encodes files in the order they are given. Started at the first file; `close`
 * ends it. Once it has failed, every file given to it fails with that error.
 */
export class ColdEncoder {
  private worker: Worker | undefined;
  private failed: TracetierError | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiter>();

  /**
   * The file holding these record values; `what` names it and `valueName` a value, for errors (a value
   * that does not decode is ERR_CORRUPT_STORE naming it).
   */
  encode(batch: ValueBatch, what: string, valueName: (index: number) => string): Promise<EncodedFile> {
    if (batch.ends.length <= (encoderTestHooks.inlineRows ?? INLINE_ROWS) && !this.failed)
      return encodeHere(batch, { what, valueName });
    const index = sidecarSettings.build;
    return new Promise<EncodedFile>((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      const worker = this.start(what);
      if (worker === undefined) return reject(this.failed);
      const id = this.nextId++;
      this.waiting.set(id, { what, valueName, resolve, reject });
      const request: EncodeRequest = { id, batch, index };
      try {
        worker.postMessage(request, [batch.data.buffer as ArrayBuffer, batch.ends.buffer as ArrayBuffer]);
      } catch (err) {
        this.waiting.delete(id);
        reject(new IoError(`handing cold file ${what} to the encoder thread`, err));
      }
    });
  }

  /** Ends the worker (files still waiting fail: their compaction has already failed). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new IoError("encoding cold files", new Error("the encoder was closed")));
    await worker?.terminate();
  }

  private start(what: string): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const worker = spawnEncoder();
      worker.on("message", (reply: EncodeReply) => this.settle(reply));
      worker.on("error", (err) => this.fail(workerError(err)));
      worker.on("messageerror", (err) => this.fail(workerError(err)));
      worker.on("exit", (code) =>
        this.fail(workerError(new Error(`the encoder thread exited (code ${code})`))),
      );
      this.worker = worker;
      encoderTestHooks.onWorker?.(worker);
      return worker;
    } catch (err) {
      this.fail(new IoError(`starting the encoder thread for cold file ${what}`, err));
      return undefined;
    }
  }

  private settle(reply: EncodeReply): void {
    const waiter = this.waiting.get(reply.id);
    if (waiter === undefined) return;
    this.waiting.delete(reply.id);
    if ("file" in reply) waiter.resolve(reply.file);
    else waiter.reject(replyError(reply.error, waiter));
  }

  /** Fails every file waiting, and every later one; the worker is not used again. */
  private fail(err: TracetierError): void {
    this.failed ??= err;
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiters) w.reject(err);
  }
}

/** A small file, encoded here; its errors coded as the thread's replies are (replyError). */
async function encodeHere(
  batch: ValueBatch,
  names: Pick<Waiter, "what" | "valueName">,
): Promise<EncodedFile> {
  try {
    return encodeValues(batch, sidecarSettings.build);
  } catch (err) {
    throw replyError(failureOf(err), names);
  }
}

/** An error as the worker thread reports it (encode-worker.ts). */
export function failureOf(err: unknown): WorkerFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = err instanceof TracetierError ? err.code : undefined;
  return {
    message: e.message,
    code,
    stack: e.stack,
    valueIndex: (err as { valueIndex?: number }).valueIndex,
  };
}

/** A failed worker: ERR_IO, with what the worker reported as the cause. */
function workerError(cause: unknown): TracetierError {
  return new IoError("encoding cold files in the encoder thread", cause);
}

/** An error the worker reported for one file: its code kept when it had one, otherwise ERR_IO. */
function replyError(e: WorkerFailure, waiter: Pick<Waiter, "what" | "valueName">): TracetierError {
  const cause = Object.assign(new Error(e.message), { stack: e.stack });
  if (e.code === "ERR_CORRUPT_STORE") {
    const where = e.valueIndex === undefined ? `cold file ${waiter.what}` : waiter.valueName(e.valueIndex);
    return new CorruptStoreError(`${where}: ${e.message}`, { cause });
  }
  return new IoError(`encoding cold file ${waiter.what}`, cause);
}

/**
 * The worker runs `encode-worker.js` next to this module. Built (dist/), that is compiled JavaScript;
 * from the TypeScript sources (tests, benchmarks, under tsx or vitest) the worker registers tsx's
 * loader first: a worker does not inherit its parent's module hooks.
 */
function spawnEncoder(): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(fromSource ? "./encode-worker.ts" : "./encode-worker.js", import.meta.url);
  // no flags of the parent's (`--input-type` of a `node -e` script fails a worker's start)
  if (!fromSource) return new Worker(entry, { execArgv: [] });
  // tsx's ESM API (its package exports it as "tsx/esm/api" for `import`; require() resolves the CJS one)
  const tsxDir = dirname(createRequire(import.meta.url).resolve("tsx/package.json"));
  const tsx = pathToFileURL(join(tsxDir, "dist/esm/api/index.mjs")).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, execArgv: [] });
}
