/**
 * Where the index's work runs (core.ts): in one worker thread, requests answered in the order sent, or
 * on the main thread (`inline`, and from the moment the thread fails: indexing never stops, or the WAL
 * would be held back). The thread holds the tail; so that a failed thread loses nothing, the jobs it has
 * run since its last seal are kept here, and replayed into the main thread's core if it fails.
 * Measured (docs/decisions.md): the thread keeps ingest near its rate without the index; the main
 * thread would cost a quarter to a third of it.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Dictionary } from "../../bodies/codec.js";
import { type CoreReply, type CoreRequest, type CoreValue, IndexCore } from "./core.js";
import type { ExtractJob } from "./extract.js";
import type { EncodedSegment } from "./segment.js";

/** Requests without their id (the runner numbers them). */
type Ask =
  | { kind: "job"; job: ExtractJob }
  | { kind: "lookup"; term: number }
  | { kind: "seal" }
  | { kind: "merge"; parts: EncodedSegment[]; live: Uint8Array };

interface Waiter {
  req: CoreRequest;
  resolve: (v: CoreValue) => void;
  reject: (err: Error) => void;
}

export class Runner {
  private worker: Worker | undefined;
  private threadFailed: boolean;
  /**
   * The thread has loaded its modules (it says so first). Until then requests run here, so that a
   * first flush or search never waits for the thread's start; at the hand-off the thread is sent the
   * jobs since the last seal, so that it holds the same tail.
   */
  private ready = false;
  private local = new IndexCore();
  private nextId = 0;
  private readonly waiting = new Map<number, Waiter>();
  /** Jobs the thread answered since the last seal it answered: its tail, replayed here if it fails. */
  private unsealed: ExtractJob[] = [];
  /**
   * Jobs sent while the thread starts: they wait for it (an ingest right after an open would otherwise
   * index its first batches here, and hand them to the thread again: under tsx the start takes long
   * enough for that to cost a short ingest a tenth of its rate). A lookup, seal or merge that needs the
   * tail before the thread is up runs them here first (`hurry`), so nothing waits for the start.
   */
  private queued: { job: ExtractJob; resolve: (v: CoreValue) => void; reject: (err: Error) => void }[] = [];

  constructor(threaded: boolean) {
    this.threadFailed = !threaded;
    // Started now, not at the first job: a thread takes a few hundred ms to load its modules, and the
    // first flush (which a sealed WAL segment may be waiting on) would wait for that.
    if (threaded) this.start();
  }

  /** Whether requests go to the thread now (it is up and has not failed). */
  get threaded(): boolean {
    return this.ready && !this.threadFailed;
  }

  /** Indexes a job into the tail; resolves with the bytes of text indexed. */
  job(job: ExtractJob): Promise<number> {
    return this.ask({ kind: "job", job }) as Promise<number>;
  }

  /** The tail's docs of `term` (8 bytes each), after every job sent before. */
  lookup(term: number): Promise<Uint8Array> {
    return this.ask({ kind: "lookup", term }) as Promise<Uint8Array>;
  }

  /** The tail (every job sent before) as an encoded segment, and a new empty tail. */
  seal(): Promise<EncodedSegment | undefined> {
    return this.ask({ kind: "seal" }) as Promise<EncodedSegment | undefined>;
  }

  merge(parts: EncodedSegment[], live: Uint8Array): Promise<EncodedSegment | undefined> {
    return this.ask({ kind: "merge", parts, live }) as Promise<EncodedSegment | undefined>;
  }

  /** Runs here the jobs waiting for the thread's start (a search must not wait for it). */
  hurry(): void {
    if (this.ready || this.queued.length === 0) return;
    const queued = this.queued;
    this.queued = [];
    if (this.waiting.size === 0) this.worker?.unref();
    for (const q of queued) {
      try {
        const value = this.local.handle({ kind: "job", id: -1, job: q.job });
        if (this.worker && !this.threadFailed) this.unsealed.push(q.job); // for the hand-off
        q.resolve(value);
      } catch (err) {
        q.reject(err as Error);
      }
    }
  }

  private ask(a: Ask): Promise<CoreValue> {
    const req = { ...a, id: this.nextId++ } as CoreRequest;
    const worker = this.threadFailed ? undefined : this.start();
    if (worker && !this.ready && req.kind === "job") {
      worker.ref(); // a job waiting for the thread keeps the process alive until the thread takes it
      return new Promise((resolve, reject) => this.queued.push({ job: req.job, resolve, reject }));
    }
    if (!worker || !this.ready) {
      this.hurry();
      try {
        const value = this.local.handle(req);
        if (worker && req.kind === "job") this.unsealed.push(req.job); // for the hand-off
        if (worker && req.kind === "seal") this.unsealed = [];
        return Promise.resolve(value);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (req.kind === "job") this.local.learn(req.job); // its dictionaries, should the thread fail later
    return new Promise<CoreValue>((resolve, reject) => {
      this.waiting.set(req.id, { req, resolve, reject });
      worker.ref(); // a request in the thread keeps the process alive until its answer (unref'd when idle)
      try {
        worker.postMessage(req);
      } catch {
        this.failThread();
      }
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failThread();
    await worker?.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker) return this.worker;
    try {
      const worker = spawnIndexer();
      worker.on("message", (reply: CoreReply | { ready: true }) => {
        if ("ready" in reply) this.handOff(worker);
        else this.settle(reply);
      });
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

  /** The thread is up: it takes the tail (the jobs since the last seal) and every later request. */
  private handOff(worker: Worker): void {
    if (this.threadFailed || this.worker !== worker) return;
    try {
      // Every dictionary the jobs run here learned: jobs send each once, and a seal here may have
      // emptied `unsealed` (the jobs that brought them), so without this the thread could never
      // inflate a chunk compressed with one (its words would be lost for good).
      worker.postMessage({
        kind: "job",
        id: -1,
        job: dictionariesJob(this.local.dictionaries()),
      } satisfies CoreRequest);
      // negative ids: answers nobody waits for (settle ignores them); the jobs stay in `unsealed`
      this.unsealed.forEach((job, i) => {
        worker.postMessage({ kind: "job", id: -2 - i, job } satisfies CoreRequest);
      });
    } catch {
      this.failThread();
      return;
    }
    this.local.handle({ kind: "seal", id: -1 }); // its tail is the thread's now (dictionaries stay)
    this.ready = true;
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) this.ask({ kind: "job", job: q.job }).then(q.resolve, q.reject);
  }

  private settle(reply: CoreReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (w.req.kind === "job") this.unsealed.push(w.req.job);
    if (w.req.kind === "seal") this.unsealed = [];
    if ("error" in reply) w.reject(new Error(reply.error));
    else w.resolve(reply.value);
  }

  /**
   * The thread is gone: the main thread's core takes its place. It first runs again the jobs the thread
   * answered since its last seal (so it holds the same tail), then answers what the thread had not, in
   * order; every later request runs here.
   */
  private failThread(): void {
    if (this.threadFailed) return;
    this.threadFailed = true;
    // (before the hand-off the tail is here already)
    if (this.ready) for (const job of this.unsealed) this.local.handle({ kind: "job", id: -1, job });
    this.unsealed = [];
    this.hurry(); // jobs that waited for the start (before it: the tail is here already)
    const pending = [...this.waiting.values()].sort((a, b) => a.req.id - b.req.id);
    this.waiting.clear();
    for (const w of pending) {
      try {
        w.resolve(this.local.handle(w.req));
      } catch (err) {
        w.reject(err as Error);
      }
    }
    const worker = this.worker;
    this.worker = undefined;
    worker?.terminate().catch(() => {});
  }
}

/** A job that only teaches dictionaries: no item, no cut. */
function dictionariesJob(dicts: Dictionary[]): ExtractJob {
  const none = new Uint32Array(0);
  return {
    id: -1,
    dicts,
    items: [],
    whole: none,
    wholeDocs: new Uint8Array(0),
    cuts: none,
    cutDocs: new Uint8Array(0),
  };
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
