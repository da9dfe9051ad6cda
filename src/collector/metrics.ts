/**
 * The collector's own metrics, in Prometheus text format at `GET /metrics` (prom-client, one registry
 * per collector). Counters move with the traffic; the store's figures are read when scraped.
 */
import { join } from "node:path";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { diskBytes } from "../base/disk-usage.js";
import type { MaintenanceRun } from "../maintenance/schedule.js";
import type { TraceStore } from "../store.js";
import { MaintenanceLog, type RunningJob, type RunRecord } from "./maintenance-log.js";

export type Source = "records" | "otlp_traces" | "otlp_logs" | "journal";

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly ingested: Counter<"source">;
  readonly ingestedBytes: Counter<"source">;
  readonly duplicates: Counter<"source">;
  readonly rejects: Counter<"reason">;
  readonly requests: Counter<"route" | "status">;
  readonly requestSeconds: Histogram<"route">;
  readonly maintenanceRuns: Counter<"job" | "outcome">;
  readonly maintenanceSeconds: Histogram<"job">;
  readonly journalLag: Gauge<"journal">;
  /** The runs themselves, scheduled and admin (GET /v1/admin/maintenance). */
  readonly maintenance = new MaintenanceLog();

  constructor(store: TraceStore, dir: string) {
    const registers = [this.registry];
    this.ingested = new Counter({
      name: "tracetier_ingested_records_total",
      help: "Records stored, by source.",
      labelNames: ["source"],
      registers,
    });
    this.ingestedBytes = new Counter({
      name: "tracetier_ingested_bytes_total",
      help: "Request or journal bytes taken in (before decompression), by source.",
      labelNames: ["source"],
      registers,
    });
    this.duplicates = new Counter({
      name: "tracetier_duplicate_records_total",
      help: "Records already stored, by source.",
      labelNames: ["source"],
      registers,
    });
    this.rejects = new Counter({
      name: "tracetier_rejects_total",
      help: "Requests, records, spans or lines refused, by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.requests = new Counter({
      name: "tracetier_http_requests_total",
      help: "HTTP requests, by route and status.",
      labelNames: ["route", "status"],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "tracetier_http_request_duration_seconds",
      help: "HTTP request durations, by route.",
      labelNames: ["route"],
      registers,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    });
    this.maintenanceRuns = new Counter({
      name: "tracetier_maintenance_runs_total",
      help: "Maintenance runs (scheduled, or asked for through the admin API), by job and outcome.",
      labelNames: ["job", "outcome"],
      registers,
    });
    this.maintenanceSeconds = new Histogram({
      name: "tracetier_maintenance_duration_seconds",
      help: "Maintenance run durations (from holding the maintenance lock to the end), by job.",
      labelNames: ["job"],
      registers,
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300],
    });
    this.journalLag = new Gauge({
      name: "tracetier_journal_lag_bytes",
      help: "Bytes of a journal not yet stored.",
      labelNames: ["journal"],
      registers,
    });
    this.storeGauges(store, dir, registers);
    processMemoryGauge(registers);
  }

  /** The exposition text: the store is read once, then every metric is rendered. */
  async scrape(): Promise<string> {
    await this.readStore();
    return this.registry.metrics();
  }

  private readStore: () => Promise<void> = async () => {};

  /** Gauges set from the store's figures, read at each scrape. */
  private storeGauges(store: TraceStore, dir: string, registers: Registry[]): void {
    let last: Awaited<ReturnType<TraceStore["stats"]>> | undefined;
    let hotBytes = 0;
    this.readStore = async () => {
      last = await store.stats();
      hotBytes = await diskBytes(join(dir, "hot"));
    };
    const gauge = (name: string, help: string, labelNames: string[], set: (g: Gauge) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          if (last) set(this);
        },
      });
    gauge("tracetier_records", "Records stored, by tier.", ["tier"], (g) => {
      g.set({ tier: "hot" }, last!.hotRecords);
      g.set({ tier: "cold" }, last!.coldRecords);
    });
    gauge(
      "tracetier_tier_bytes",
      "Bytes on disk, by tier (hot: LevelDB with bodies; cold: Parquet; wal).",
      ["tier"],
      (g) => {
        g.set({ tier: "hot" }, hotBytes);
        g.set({ tier: "cold" }, last!.coldBytes);
        g.set({ tier: "wal" }, last!.walBytes);
      },
    );
    gauge("tracetier_cold_partitions", "Cold date partitions.", [], (g) => g.set(last!.coldPartitions));
    gauge("tracetier_bodies", "Distinct bodies stored.", [], (g) => g.set(last!.bodies));
    gauge("tracetier_body_bytes_stored", "Bytes the body store holds (compressed, deduplicated).", [], (g) =>
      g.set(last!.bodyBytesStored),
    );
    gauge("tracetier_wal_fsyncs", "WAL fsyncs since the store opened.", [], (g) => g.set(last!.walSyncs));
    gauge("tracetier_wal_fsync_seconds", "Time spent in WAL fsyncs since the store opened.", [], (g) =>
      g.set(last!.walSyncMs / 1000),
    );
  }

  /** Scheduled runs holding the maintenance lock, by job (a job's runs never overlap: noOverlap). */
  private readonly scheduled = new Map<string, RunningJob>();

  /** A scheduled run holds the maintenance lock (MaintenanceOptions.onLocked). */
  scheduledStarted(job: MaintenanceRun["job"]): void {
    this.scheduled.set(job, this.maintenance.started(job, "schedule"));
  }

  /** A scheduled run, as the schedule reports it once it ended. */
  recordRun(run: MaintenanceRun): void {
    const held = this.scheduled.get(run.job);
    if (held) this.maintenance.ended(held);
    this.scheduled.delete(run.job);
    this.recordRunOf({
      job: run.job,
      trigger: "schedule",
      queuedAt: run.startedAt,
      startedAt: run.lockedAt,
      finishedAt: run.finishedAt,
      outcome: run.error ? "failed" : "ok",
      ...(run.error ? { error: run.error.message } : {}),
    });
  }

  recordRunOf(run: RunRecord): void {
    this.maintenanceRuns.inc({ job: run.job, outcome: run.outcome });
    this.maintenanceSeconds.observe({ job: run.job }, (run.finishedAt - run.startedAt) / 1000);
    this.maintenance.finished(run);
  }
}

/**
 * The process's memory by category (`process.memoryUsage()`), read at each scrape: what grows, the JS
 * heap, Buffers and other memory outside it (external, arrayBuffers), or only the resident set (native
 * allocations: LevelDB, zlib, the allocator's own arenas), is what tells a leak's kind apart.
 */
function processMemoryGauge(registers: Registry[]): void {
  new Gauge({
    name: "tracetier_process_memory_bytes",
    help: "Process memory by kind (rss, heapTotal, heapUsed, external, arrayBuffers), as process.memoryUsage() reports it.",
    labelNames: ["kind"],
    registers,
    collect() {
      for (const [kind, bytes] of Object.entries(process.memoryUsage())) this.set({ kind }, bytes);
    },
  });
}
