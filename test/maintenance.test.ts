import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MaintenanceJob, MaintenanceRun, TraceStore } from "../src/index.js";
import { log, tempStore } from "./support/fixtures.js";

const MINUTE = 60_000;
const START = Date.UTC(2026, 10, 22, 10, 0, 30);

/** Advances the fake clock a minute at a time, letting real I/O (LevelDB, files) finish in between. */
async function advanceMinutes(n: number, settle: () => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i++) {
    await vi.advanceTimersByTimeAsync(MINUTE);
    await settle();
  }
}

describe("scheduled maintenance", () => {
  let store: TraceStore;
  let runs: MaintenanceRun[];
  let events: string[];

  beforeEach(async () => {
    ({ store } = await tempStore());
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"],
      now: START,
    });
    runs = [];
    events = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Waits (in real time: only timers and Date are fake) until every run that started has reported. */
  const settle = async () => {
    const until = performance.now() + 10_000;
    while (events.filter((e) => e.startsWith("start")).length > runs.length && performance.now() < until) {
      await new Promise((r) => setImmediate(r));
    }
  };
  const options = {
    onStart: (job: MaintenanceJob) => events.push(`start ${job}`),
    onRun: (run: MaintenanceRun) => {
      events.push(`end ${run.job}`);
      runs.push(run);
    },
  };

  it("runs compaction and prune on their cron schedules, with the clock as their now", async () => {
    await store.insertRecords([log("old", START - 3 * 86_400_000), log("recent", START - MINUTE)]);
    const jobs = store.startMaintenance(
      {
        compact: { schedule: "*/2 * * * *", olderThanMs: 86_400_000 },
        prune: { schedule: "*/5 * * * *", policy: {} },
      },
      options,
    );
    await advanceMinutes(10, settle);
    await jobs.stop();
    expect(runs.filter((r) => r.job === "compact").length).toBe(5);
    expect(runs.filter((r) => r.job === "prune").length).toBe(2);
    expect(runs.every((r) => r.error === undefined)).toBe(true);
    const first = runs.find((r) => r.job === "compact")!;
    expect(first.result).toMatchObject({ recordsMoved: 1 });
    expect(first.startedAt).toBe(START + 90_000); // 10:02:00, the first */2 minute
    expect((await store.stats()).coldRecords).toBe(1);
  });

  it("never overlaps one run with another, of the same job or the other", async () => {
    // Enough records that a compaction spans several ticks of the fake clock while files are written.
    const records = Array.from({ length: 3000 }, (_, i) =>
      log(`r${i}`, START - 2 * 86_400_000 + i * 1000, { turnId: `t${i % 50}` }),
    );
    await store.insertRecords(records);
    // Count the jobs' work in progress at once, inside the store (white-box).
    const internals = store as unknown as Record<
      "compactor" | "pruner",
      Record<string, (...a: unknown[]) => Promise<unknown>>
    >;
    let active = 0;
    let most = 0;
    for (const [owner, method] of [
      ["compactor", "compact"],
      ["pruner", "prune"],
    ] as const) {
      const target = internals[owner];
      const original = target[method]!.bind(target);
      target[method] = async (...args: unknown[]) => {
        most = Math.max(most, ++active);
        try {
          return await original(...args);
        } finally {
          active--;
        }
      };
    }
    const jobs = store.startMaintenance(
      {
        compact: { schedule: "* * * * *", olderThanMs: 0 },
        prune: { schedule: "* * * * *", policy: { maxAgeMs: 7 * 86_400_000 } },
      },
      options,
    );
    // Both jobs fire at the same instant every minute, so every minute they contend for the lock.
    await advanceMinutes(6, settle);
    await jobs.stop();
    expect(runs.filter((r) => r.job === "compact").length).toBe(6);
    expect(runs.filter((r) => r.job === "prune").length).toBe(6);
    expect(runs.every((r) => r.error === undefined)).toBe(true);
    expect(most).toBe(1);
  });

  it("reports a failing run with its error and keeps the schedule going", async () => {
    const jobs = store.startMaintenance(
      { prune: { schedule: "* * * * *", policy: { maxAgeMs: -5 } } },
      options,
    );
    await advanceMinutes(3, settle);
    await jobs.stop();
    expect(runs.length).toBe(3);
    for (const r of runs) expect(r.error).toMatchObject({ code: "ERR_INVALID_OPTION" });
  });

  it("survives a reporting callback that throws", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    let calls = 0;
    const jobs = store.startMaintenance(
      { compact: { schedule: "* * * * *" } },
      {
        onStart: options.onStart,
        onRun: (run) => {
          options.onRun(run);
          calls++;
          throw new Error("callback bug");
        },
      },
    );
    await advanceMinutes(2, settle);
    await jobs.stop();
    await new Promise((r) => setImmediate(r));
    process.off("warning", onWarning);
    expect(calls).toBe(2);
    expect(warnings.filter((w) => w.includes("callback bug"))).toHaveLength(2);
  });

  it("stops on close() and lets a run in progress finish first", async () => {
    const records = Array.from({ length: 2000 }, (_, i) => log(`c${i}`, START - 2 * 86_400_000 + i));
    await store.insertRecords(records);
    store.startMaintenance({ compact: { schedule: "* * * * *", olderThanMs: 0 } }, options);
    await vi.advanceTimersByTimeAsync(MINUTE); // a run starts
    expect(events).toEqual(["start compact"]);
    await store.close(); // waits for it
    expect(events).toEqual(["start compact", "end compact"]);
    expect(runs[0]!.result).toMatchObject({ recordsMoved: 2000 });
    await vi.advanceTimersByTimeAsync(5 * MINUTE);
    expect(runs.length).toBe(1);
  });

  it("refuses a schedule that is not a cron expression", () => {
    expect(() => store.startMaintenance({ compact: { schedule: "every minute" } })).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION" }),
    );
  });
});
