/**
 * A child process for crash and lock tests, run as `node --import tsx test/support/child.ts <mode> …`.
 *   insert-loop <dir> <firstBatch> <workers>  insert batches forever, print "ack <batch>" as each resolves;
 *                                              WAL segments of 128 KiB, so roll-overs and checkpoints happen
 *   insert-n <dir> <n>                         insert n batches, then exit without close (the WAL stays)
 *   compact-loop <dir> <firstBatch>            insert a batch into an old day, print "ack <batch>",
 *                                              compact everything, print "compacted"; forever
 *   retention-loop <dir> <firstIter>           insert a batch, print "ack <i>"; prune on a clock 6 h further
 *                                              each time, print "pruned <i>"; gc, print "gc <i>"; forever
 *   torture <dir> <log> <firstBatch> <clock> <seed> <cap>
 *                                              the torture rounds' child (test/support/torture.ts): inserts
 *                                              batches while compacting, pruning and collecting on a moving
 *                                              clock; every step is appended to <log> (fsynced) as it starts
 *                                              and ends, so a parent that kills it knows what was acknowledged
 *   hold <dir>                                 open, print "open", stay until stdin closes
 *   open-close <dir>                           print "opening", open (which upgrades an older store), close
 *   try-open <dir>                             try to open, print the error code or "opened"
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { dictionaryTraining } from "../../src/bodies/dictionary.js";
import { openStore, type TraceStore } from "../../src/index.js";
import { Random } from "../../src/workload/random.js";
import {
  coldBatch,
  crashBatch,
  RETENTION_POLICY,
  RETENTION_START,
  RETENTION_STEP,
  retentionBatch,
  TORTURE_BODY_CAP,
  TORTURE_POLICY,
  tortureBase,
  tortureBatch,
} from "./crash-workload.js";

const [mode, dir, a, b] = process.argv.slice(2) as [string, string, string?, string?];

async function main(): Promise<void> {
  if (mode === "open-close") {
    process.stdout.write("opening\n");
    await (await openStore({ dir })).close();
    process.stdout.write("closed\n");
    return;
  }
  if (mode === "try-open") {
    try {
      const s = await openStore({ dir });
      process.stdout.write("opened\n");
      await s.close();
    } catch (err) {
      process.stdout.write(`${(err as { code?: string }).code}\n`);
    }
    return;
  }
  const small = mode === "insert-loop" || mode === "torture";
  // Learn the compression dictionary within the first batches, so that kills land before, during and
  // after its synced write, and replays apply chunks that name it.
  if (small) Object.assign(dictionaryTraining, { trainBytes: 2048, minSamples: 2 });
  const store = await openStore({ dir, walSegmentBytes: small ? 128 * 1024 : undefined });
  if (mode === "torture") return torture(store, process.argv.slice(4));
  if (mode === "hold") {
    process.stdout.write("open\n");
    process.stdin.resume();
    process.stdin.on("end", () => void store.close().then(() => process.exit(0)));
    return;
  }
  if (mode === "insert-n") {
    for (let i = 0; i < Number(a); i++) await store.insertRecords(crashBatch(i));
    process.exit(0); // no close: the WAL keeps its frames for the test to inspect
  }
  if (mode === "compact-loop") {
    process.stdout.write("ready\n");
    for (let b = Number(a); ; b++) {
      await store.insertRecords(coldBatch(b));
      process.stdout.write(`ack ${b}\n`);
      await store.compact({ now: Date.UTC(2027, 0, 1) });
      process.stdout.write("compacted\n");
    }
  }
  if (mode === "retention-loop") {
    process.stdout.write("ready\n");
    for (let i = Number(a); ; i++) {
      await store.insertRecords(retentionBatch(i));
      process.stdout.write(`ack ${i}\n`);
      await store.prune(RETENTION_POLICY, { now: RETENTION_START + i * RETENTION_STEP });
      process.stdout.write(`pruned ${i}\n`);
      await store.gc();
      process.stdout.write(`gc ${i}\n`);
    }
  }
  if (mode === "insert-loop") {
    let next = Number(a);
    const worker = async () => {
      for (;;) {
        const batch = next++;
        await store.insertRecords(crashBatch(batch));
        process.stdout.write(`ack ${batch}\n`);
      }
    };
    process.stdout.write("ready\n");
    await Promise.all(Array.from({ length: Number(b ?? 1) }, worker));
  }
}

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two loops at once, as a collector with scheduled maintenance runs them: one inserts batches, the
 * other compacts, prunes or collects bodies, moving the clock forward by up to 2 hours each time.
 * Each step's line is written and fsynced before the step starts ("insert", "compact", …) and after it
 * resolves ("ack", "compacted", …): what the log says was acknowledged, was.
 */
async function torture(store: TraceStore, [logPath, first, clock0, seed, cap]: string[]): Promise<void> {
  const fd = openSync(logPath!, "a");
  const log = (line: string) => {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
    process.stdout.write(`${line}\n`); // for a parent that kills at a chosen step
  };
  const rnd = new Random(Number(seed));
  const policy = cap === "1" ? { ...TORTURE_POLICY, maxTotalBodyBytes: TORTURE_BODY_CAP } : TORTURE_POLICY;
  let clock = Number(clock0);
  let next = Number(first);
  const ingest = async () => {
    for (;;) {
      const b = next++;
      const base = tortureBase(b, clock, rnd.int(0, 20));
      log(`insert ${b} ${base}`);
      await store.insertRecords(tortureBatch(b, base));
      log(`ack ${b}`);
      await sleep(rnd.int(5, 40));
    }
  };
  const maintain = async () => {
    for (;;) {
      clock += rnd.int(0, 2 * HOUR);
      const op = rnd.next();
      if (op < 0.45) {
        const olderThanMs = rnd.int(0, 3) * HOUR;
        log(`compact ${clock} ${olderThanMs}`);
        await store.compact({ now: clock, olderThanMs });
        log("compacted");
      } else if (op < 0.75) {
        log(`prune ${clock}`);
        await store.prune(policy, { now: clock });
        log("pruned");
      } else {
        log("gc");
        await store.gc();
        log("gced");
      }
      await sleep(rnd.int(0, 30));
    }
  };
  process.stdout.write("ready\n");
  try {
    await Promise.all([ingest(), maintain()]);
  } finally {
    closeSync(fd);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
