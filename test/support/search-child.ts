/**
 * The child process of test/crash-search.test.ts, run as
 * `node --import tsx test/support/search-child.ts <mode> <dir> <firstBatch>` (see spawn.ts's startChild).
 * Batches are test/support/search-corpus.ts's `searchBatch`; every line is printed once its step resolved:
 *   ingest <dir> <first>   insert batches forever from two writers, print "ack <b>"
 *   compact <dir> <first>  insert a batch into one of five October days, print "ack <b>"; compact
 *                          everything (small files pile up in those hours: merges), print "compacted <b>"
 *   prune <dir> <first>    insert batch i four hours after batch i - 1, print "ack <i>" ; compact it, print
 *                          "compacted <i>"; prune (records: 1 day, bodies: 12 h) on a clock that follows,
 *                          print "pruned <i>"; gc, print "gc <i>"
 */
import { openStore } from "../../src/index.js";
import {
  SEARCH_CHUNKING,
  SEARCH_CRASH_POLICY,
  SEARCH_CRASH_T0,
  searchBatch,
  searchBatchBase,
} from "./search-corpus.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;

const [mode, dir, first] = process.argv.slice(2) as [string, string, string];

async function main(): Promise<void> {
  // Small WAL segments: roll-overs and checkpoints happen between kills.
  const store = await openStore({ dir, chunking: SEARCH_CHUNKING, walSegmentBytes: 128 * 1024 });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say("ready");
  if (mode === "ingest") {
    let next = Number(first);
    const writer = async () => {
      for (;;) {
        const b = next++;
        await store.insertRecords(searchBatch(b, searchBatchBase(mode, b)));
        say(`ack ${b}`);
      }
    };
    await Promise.all([writer(), writer()]);
  }
  for (let b = Number(first); ; b++) {
    await store.insertRecords(searchBatch(b, searchBatchBase(mode, b)));
    say(`ack ${b}`);
    const now = mode === "compact" ? SEARCH_CRASH_T0 + 10 * DAY : searchBatchBase(mode, b) + HOUR;
    await store.compact({ now, olderThanMs: 0 });
    say(`compacted ${b}`);
    if (mode !== "prune") continue;
    await store.prune(SEARCH_CRASH_POLICY, { now });
    say(`pruned ${b}`);
    await store.gc();
    say(`gc ${b}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
