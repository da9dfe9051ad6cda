/**
 * The collector as a whole: the store, its scheduled maintenance, the HTTP server and the journal
 * tailers, started in that order and stopped in the reverse one. Shutdown: stop accepting and let
 * requests in flight finish, drain every journal once more, then close the store (which stops the
 * maintenance jobs and waits for a running one).
 */
import { join, resolve } from "node:path";
import type { MaintenanceRun } from "../maintenance/schedule.js";
import { openStore, type TraceStore, warmSearch, warmTurns } from "../store.js";
import type { ServeConfig } from "./config.js";
import { JournalTailer } from "./journal.js";
import { CollectorMetrics } from "./metrics.js";
import { publishServeFile, removeServeFile } from "./serve-file.js";
import { type Collector, startCollector } from "./server.js";

export interface RunningCollector {
  readonly url: string;
  readonly dir: string;
  readonly store: TraceStore;
  readonly journals: JournalTailer[];
  shutdown(): Promise<void>;
}

export async function runCollector(
  config: ServeConfig,
  log: (line: string) => void,
): Promise<RunningCollector> {
  const dir = resolve(config.dir);
  const store = await openStore({
    dir,
    durability: config.durability,
    chunkCacheBytes: config.chunkCacheBytes,
  });
  const metrics = new CollectorMetrics(store, dir);
  let server: Collector | undefined;
  const journals: JournalTailer[] = [];
  try {
    const onRun = (run: MaintenanceRun) => {
      metrics.recordRun(run);
      const ms = run.finishedAt - run.startedAt;
      if (run.error) log(`maintenance: ${run.job} failed after ${ms} ms: ${run.error.message}`);
      else log(`maintenance: ${run.job} done in ${ms} ms: ${JSON.stringify(run.result)}`);
    };
    const onLocked = (job: MaintenanceRun["job"]) => metrics.scheduledStarted(job);
    store.startMaintenance({ compact: config.compact, prune: config.prune }, { onRun, onLocked });
    server = await startCollector({
      store,
      dir,
      host: config.host,
      port: config.port,
      token: config.token,
      bodyLimit: config.bodyLimit,
      metrics,
      log,
    });
    // The turns list's per-file summaries, computed in the background: the first request then finds them.
    const warming = Date.now();
    warmTurns(store).then(
      () => log(`turns list: summaries ready in ${Date.now() - warming} ms`),
      (err: Error & { code?: string }) => {
        // closed during the warm-up: nothing went wrong
        if (err.code !== "ERR_CLOSED") log(`turns list: summaries not computed at start: ${err.message}`);
      },
    );
    warmSearch(store).then(
      () => log(`search: hot records indexed in ${Date.now() - warming} ms`),
      (err: Error & { code?: string }) => {
        if (err.code !== "ERR_CLOSED") log(`search: hot records not indexed at start: ${err.message}`);
      },
    );
    for (const path of config.journals) {
      const t = await JournalTailer.open({ path, store, stateDir: join(dir, "collector"), metrics, log });
      t.start();
      journals.push(t);
    }
    // Last: the command line may use the collector as soon as it finds this file.
    await publishServeFile(dir, {
      url: server.url,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      token: config.token !== undefined,
    }).catch((err: Error) =>
      log(`serve.json not written (the command line will not find this collector): ${err.message}`),
    );
  } catch (err) {
    await server?.close();
    await store.close();
    throw err;
  }
  const running = server;
  let stopping: Promise<void> | undefined;
  return {
    url: running.url,
    dir,
    store,
    journals,
    shutdown: () => {
      stopping ??= (async () => {
        // First: a command that finds no file and a held lock says the store is busy, rather than
        // send requests to a collector that is closing.
        await removeServeFile(dir).catch((err: Error) => log(`serve.json not removed: ${err.message}`));
        await running.close();
        for (const j of journals)
          await j
            .stop()
            .catch((err) => log(`journal ${j.path}: final drain failed: ${(err as Error).message}`));
        await store.close();
      })();
      return stopping;
    },
  };
}
