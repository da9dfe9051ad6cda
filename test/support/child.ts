/**
 * A child process for crash and lock tests, run as `node --import tsx test/support/child.ts <mode> …`.
 *   insert-loop <dir> <firstBatch> <workers>  insert batches forever, print "ack <batch>" as each resolves;
 *                                              WAL segments of 128 KiB, so roll-overs and checkpoints happen
 *   insert-n <dir> <n>                         insert n batches, then exit without close (the WAL stays)
 *   compact-loop <dir> <firstBatch>            insert a batch into an old day, print "ack <batch>",
 *                                              compact everything, print "compacted"; forever
 *   retention-loop <dir> <firstIter>           insert a batch, print "ack <i>"; prune on a clock 6 h further
 *                                              each time, print "pruned <i>"; gc, print "gc <i>"; forever
 *   hold <dir>                                 open, print "open", stay until stdin closes
 *   try-open <dir>                             try to open, print the error code or "opened"
 */
import { openStore } from "../../src/index.js";
import {
  coldBatch,
  crashBatch,
  RETENTION_POLICY,
  RETENTION_START,
  RETENTION_STEP,
  retentionBatch,
} from "./crash-workload.js";

const [mode, dir, a, b] = process.argv.slice(2) as [string, string, string?, string?];

async function main(): Promise<void> {
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
  const store = await openStore({ dir, walSegmentBytes: mode === "insert-loop" ? 128 * 1024 : undefined });
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

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
