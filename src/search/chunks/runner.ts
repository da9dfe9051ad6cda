/**
 * Where extractions run (extract.ts): in one worker thread, in the order given, or on the main thread
 * (`inline`, and after the thread failed: indexing never stops, or the WAL would be held back).
 * Measured (docs/decisions.md): the thread keeps ingest at about its rate without the index, the main
 * thread costs a quarter to a third of it.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { TracetierError } from "../../base/errors.js";
import { type ExtractJob, Extractor, type ExtractResult } from "./extract.js";

export interface WorkerFailure {
  message: string;
  code?: string;
  stack?: string;
}

export type RunnerReply = { id: number; result: ExtractResult } | { id: number; error: WorkerFailure };

export function failureOf(err: unknown): WorkerFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  return { message: e.message, code: err instanceof TracetierError ? err.code : undefined, stack: e.stack };
}

interface Waiter {
  job: ExtractJob;
  resolve: (r: ExtractResult) => void;
}

export class Runner {
  private worker: Worker | undefined;
  private readonly local = new Extractor();
  private readonly waiting = new Map<number, Waiter>();
  private threadFailed = false;

  constructor(private readonly threaded: boolean) {}

  run(job: ExtractJob): Promise<ExtractResult> {
    this.local.learn(job.dicts); // should the thread fail, its jobs run here with what it was sent
    const worker = this.threaded && !this.threadFailed ? this.start() : undefined;
    if (!worker) return Promise.resolve(this.local.run(job));
    return new Promise<ExtractResult>((resolve) => {
      this.waiting.set(job.id, { job, resolve });
      worker.ref(); // a job in the thread keeps the process alive until its answer (unref'd when idle)
      try {
        worker.postMessage(job);
      } catch {
        this.failThread();
      }
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.threadFailed = true;
    await worker?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const worker = spawnIndexer();
      worker.on("message", (reply: RunnerReply) => this.settle(reply));
      worker.on("error", () => this.failThread());
      worker.on("messageerror", () => this.failThread());
      worker.on("exit", () => this.failThread());
      worker.unref();
      this.worker = worker;
      return worker;
    } catch {
      this.threadFailed = true;
      return undefined;
    }
  }

  private settle(reply: RunnerReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker?.unref();
    // a job the thread failed runs here (the extractor skips damaged items, so this is a thread fault)
    w.resolve("result" in reply ? reply.result : this.local.run(w.job));
  }

  /** The thread is gone: what it held runs here, in order, and so does everything after. */
  private failThread(): void {
    if (this.threadFailed && this.waiting.size === 0) return;
    this.threadFailed = true;
    const pending = [...this.waiting.values()].sort((a, b) => a.job.id - b.job.id);
    this.waiting.clear();
    for (const w of pending) w.resolve(this.local.run(w.job));
    const worker = this.worker;
    this.worker = undefined;
    worker?.terminate().catch(() => {});
  }
}

/** As tiers/cold/writer.ts starts its encoder: compiled JavaScript, or the sources under tsx. */
function spawnIndexer(): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(fromSource ? "./worker.ts" : "./worker.js", import.meta.url);
  if (!fromSource) return new Worker(entry, { execArgv: [] });
  const tsxDir = dirname(createRequire(import.meta.url).resolve("tsx/package.json"));
  const tsx = pathToFileURL(join(tsxDir, "dist/esm/api/index.mjs")).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, execArgv: [] });
}
