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
import { IoError, TracetierError } from "../../src/errors.js";
import { decodeRecordValue } from "../hot/values.js";
import { encodeColdFile } from "./parquet.js";
import { compareRows, toRow } from "./schema.js";

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

/** A cold file's bytes from its record values: decoded, mapped to rows, sorted, encoded (pure). */
export function encodeValues(batch: ValueBatch): Uint8Array {
  const rows = new Array(batch.ends.length);
  let at = 0;
  batch.ends.forEach((end, i) => {
    rows[i] = toRow(decodeRecordValue(batch.data.subarray(at, end)));
    at = end;
  });
  return encodeColdFile(rows.sort(compareRows));
}

/** What the worker is sent: one file to encode. */
export interface EncodeRequest {
  id: number;
  batch: ValueBatch;
}

/** What the worker answers: the file's bytes, or what went wrong (a TracetierError keeps its code). */
export type EncodeReply =
  | { id: number; bytes: Uint8Array }
  | { id: number; error: { message: string; code?: string; stack?: string } };

/** For tests only: sees each encoder worker as it starts (to end it under a compaction). */
export const encoderTestHooks: { onWorker?: (worker: Worker) => void } = {};

interface Waiter {
  what: string;
  resolve: (bytes: Uint8Array) => void;
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

  /** The bytes of the file `what` (its name, for errors) holding these record values. */
  encode(batch: ValueBatch, what: string): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      const worker = this.start(what);
      if (worker === undefined) return reject(this.failed);
      const id = this.nextId++;
      this.waiting.set(id, { what, resolve, reject });
      const request: EncodeRequest = { id, batch };
      worker.postMessage(request, [batch.data.buffer as ArrayBuffer, batch.ends.buffer as ArrayBuffer]);
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
    if ("bytes" in reply) waiter.resolve(reply.bytes);
    else waiter.reject(replyError(reply.error, waiter.what));
  }

  /** Fails every file waiting, and every later one; the worker is not used again. */
  private fail(err: TracetierError): void {
    this.failed ??= err;
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiters) w.reject(err);
  }
}

/** A failed worker: ERR_IO, with what the worker reported as the cause. */
function workerError(cause: unknown): TracetierError {
  return new IoError("encoding cold files in the encoder thread", cause);
}

/** An error the worker reported for one file: its code kept when it had one, otherwise ERR_IO. */
function replyError(e: { message: string; code?: string; stack?: string }, what: string): TracetierError {
  const cause = Object.assign(new Error(e.message), { stack: e.stack });
  if (e.code === "ERR_CORRUPT_STORE")
    return new TracetierError("ERR_CORRUPT_STORE", `encoding cold file ${what}: ${e.message}`, { cause });
  return new IoError(`encoding cold file ${what}`, cause);
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
