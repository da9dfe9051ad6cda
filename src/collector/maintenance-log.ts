/**
 * The collector's maintenance runs, scheduled or asked for through the admin API: the one holding the
 * maintenance lock now, and the last 100 (GET /v1/admin/maintenance). The lock is the store's; this
 * only tells an operator what waits on what, and shows afterwards that runs never overlapped.
 */

export type RunJob = "compact" | "prune" | "gc" | "verify";
export type RunTrigger = "schedule" | "admin";

export interface RunRecord {
  job: RunJob;
  trigger: RunTrigger;
  /** When it was due or asked for (ms since the epoch). */
  queuedAt: number;
  /** When it held the maintenance lock and began. */
  startedAt: number;
  finishedAt: number;
  outcome: "ok" | "failed";
  /** The failure's code and message. */
  error?: string;
}

export interface RunningJob {
  job: RunJob;
  trigger: RunTrigger;
  startedAt: number;
}

const KEPT = 100;

export class MaintenanceLog {
  private readonly recent: RunRecord[] = [];
  private current: RunningJob | undefined;

  get running(): RunningJob | undefined {
    return this.current;
  }

  started(job: RunJob, trigger: RunTrigger, at = Date.now()): void {
    this.current = { job, trigger, startedAt: at };
  }

  finished(run: RunRecord): void {
    if (this.current?.job === run.job && this.current.trigger === run.trigger) this.current = undefined;
    this.recent.push(run);
    if (this.recent.length > KEPT) this.recent.shift();
  }

  /** Newest last. */
  runs(): RunRecord[] {
    return [...this.recent];
  }
}

/** "compact (scheduled)": what a waiting admin call is told it waits for. */
export function describeRun(r: RunningJob): string {
  return `${r.job} (${r.trigger === "schedule" ? "scheduled" : "asked for through the admin API"})`;
}
