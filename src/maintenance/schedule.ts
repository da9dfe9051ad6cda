/**
 * Scheduled maintenance inside the host process: compaction and retention on cron schedules
 * (node-cron). Runs never overlap: node-cron skips a tick while the same job still runs, and the two
 * jobs share the store's maintenance lock, so one waits for the other. A failing run is reported and the
 * schedule goes on; stopping waits for a run in progress.
 */
import cron, { type ScheduledTask } from "node-cron";
import { InvalidOptionError } from "../base/errors.js";
import type { GcOptions, PruneOptions, PruneResult, RetentionPolicy } from "../retention/policy.js";
import type { CompactResult } from "./compaction.js";

type RunHooks = Pick<GcOptions, "onStart" | "onEnd">;

export interface MaintenanceSchedule {
  compact?: { schedule: string; olderThanMs?: number };
  prune?: { schedule: string; policy: RetentionPolicy };
}

export type MaintenanceJob = "compact" | "prune";

export interface MaintenanceRun {
  job: MaintenanceJob;
  /** When the run was due (its cron tick). */
  startedAt: number;
  /**
   * When it held the maintenance lock and began its work: later than `startedAt` when it waited for
   * another job (a manual compaction, a prune) to finish.
   */
  lockedAt: number;
  finishedAt: number;
  /** The run's summary, when it succeeded. */
  result?: CompactResult | PruneResult;
  error?: Error;
}

export interface MaintenanceOptions {
  /** Called after every run, failed or not. Without it a failed run becomes a process warning. */
  onRun?: (run: MaintenanceRun) => void;
  /** Called as a run starts (after it got the maintenance lock's queue, before it holds the lock). */
  onStart?: (job: MaintenanceJob) => void;
  /** Called when a run holds the maintenance lock and begins its work (see `MaintenanceRun.lockedAt`). */
  onLocked?: (job: MaintenanceJob) => void;
  /** The clock that gives compaction and prune their `now`. Default `Date.now`. */
  clock?: () => number;
  /** The time zone cron expressions are read in. Default the process's. */
  timezone?: string;
}

export interface MaintenanceJobs {
  /** Stops the schedules and waits for a run in progress. */
  stop(): Promise<void>;
}

/** What the jobs drive: the store's own maintenance calls. */
export interface MaintenanceTarget {
  compact(opts: { olderThanMs?: number; now?: number } & RunHooks): Promise<CompactResult>;
  prune(policy: RetentionPolicy, opts: PruneOptions): Promise<PruneResult>;
}

export function scheduleMaintenance(
  target: MaintenanceTarget,
  schedule: MaintenanceSchedule,
  options: MaintenanceOptions = {},
): MaintenanceJobs {
  const clock = options.clock ?? Date.now;
  type Work = (now: number, hooks: RunHooks) => Promise<CompactResult | PruneResult>;
  const jobs: [MaintenanceJob, string, Work][] = [];
  if (schedule.compact) {
    const { olderThanMs } = schedule.compact;
    jobs.push([
      "compact",
      schedule.compact.schedule,
      (now, hooks) => target.compact({ olderThanMs, now, ...hooks }),
    ]);
  }
  if (schedule.prune) {
    const { policy } = schedule.prune;
    jobs.push(["prune", schedule.prune.schedule, (now, hooks) => target.prune(policy, { now, ...hooks })]);
  }
  for (const [job, expr] of jobs) {
    if (typeof expr !== "string" || !cron.validate(expr)) {
      throw new InvalidOptionError(`${job}.schedule`, `is not a cron expression: ${String(expr)}`);
    }
  }
  let stopped = false;
  const running = new Set<Promise<void>>();
  const runOnce = async (job: MaintenanceJob, work: Work) => {
    if (stopped) return;
    const startedAt = clock();
    options.onStart?.(job);
    const run: MaintenanceRun = { job, startedAt, lockedAt: startedAt, finishedAt: startedAt };
    const locked = () => {
      run.lockedAt = clock();
      try {
        options.onLocked?.(job);
      } catch (err) {
        process.emitWarning(`tracetier maintenance callback threw: ${String(err)}`, "MaintenanceWarning");
      }
    };
    // finishedAt is taken as the run ends, before the lock passes on: the next run starts after it. A
    // run refused before it held the lock (a closed store) never ends that way: it ends when refused.
    let endedAt: number | undefined;
    const ended = () => {
      endedAt = clock();
    };
    try {
      run.result = await work(startedAt, { onStart: locked, onEnd: ended });
    } catch (err) {
      run.error = err instanceof Error ? err : new Error(String(err));
    }
    run.finishedAt = endedAt ?? clock();
    report(run, options.onRun);
  };
  const tasks: ScheduledTask[] = jobs.map(([job, expr, work]) =>
    cron.schedule(
      expr,
      () => {
        const p = runOnce(job, work);
        running.add(p);
        return p.finally(() => running.delete(p));
      },
      { name: `tracetier-${job}`, noOverlap: true, timezone: options.timezone },
    ),
  );
  return {
    async stop() {
      stopped = true;
      for (const t of tasks) await t.destroy();
      await Promise.allSettled([...running]);
    },
  };
}

/** A reporting callback that throws must not take the host down or stop the schedule. */
function report(run: MaintenanceRun, onRun: ((run: MaintenanceRun) => void) | undefined): void {
  try {
    if (onRun) onRun(run);
    else if (run.error)
      process.emitWarning(`tracetier ${run.job} failed: ${run.error.message}`, "MaintenanceWarning");
  } catch (err) {
    process.emitWarning(`tracetier maintenance callback threw: ${String(err)}`, "MaintenanceWarning");
  }
}
