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
  /**
   * Runs that hold or held the lock and are not yet logged, oldest first. Normally one; two for a
   * moment as the lock passes on: the next run starts before the one before it is logged (finished()).
   */
  private readonly holding: RunningJob[] = [];

  /** The run that took the lock last (the one holding it). */
  get running(): RunningJob | undefined {
    return this.holding.at(-1);
  }

  /** A run holds the lock; `ended` with what this returns says it let go of it. */
  started(job: RunJob, trigger: RunTrigger, at = Date.now()): RunningJob {
    const run = { job, trigger, startedAt: at };
    this.holding.push(run);
    return run;
  }

  /** `run` let go of the lock (told as it ends, or as its end is reported: a run's token either way). */
  ended(run: RunningJob): void {
    const i = this.holding.indexOf(run);
    if (i >= 0) this.holding.splice(i, 1);
  }

  /** A run's record, once it let go of the lock (`ended`). */
  finished(run: RunRecord): void {
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
