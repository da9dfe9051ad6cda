/**
 * The NDJSON reader of `tracetier ingest`, on its own thread: reading and JSON.parse of the lines run
 * beside the store's work on the main thread (parsing was a quarter of a file ingest). Batches go out
 * by credit: at most two ahead of what the main thread has taken, so memory stays bounded.
 */
import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { ndjsonLines } from "../../base/ndjson.js";

export interface ReaderBatch {
  records: unknown[];
  lines: number[];
  bad: { line: number; error: string }[];
  bytes: number;
  done: boolean;
}

const { path, batch } = workerData as { path: string; batch: number };
const port = parentPort!;
let credit = 2;
let wake: (() => void) | undefined;
port.on("message", () => {
  credit++;
  wake?.();
});

let out: ReaderBatch = { records: [], lines: [], bad: [], bytes: 0, done: false };
async function send(done: boolean): Promise<void> {
  while (credit === 0) await new Promise<void>((r) => (wake = r));
  credit--;
  out.done = done;
  port.postMessage(out);
  out = { records: [], lines: [], bad: [], bytes: 0, done: false };
}

async function main(): Promise<void> {
  const input = createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  for await (const l of ndjsonLines(input, (n) => {
    out.bytes += n;
  })) {
    if ("error" in l) out.bad.push({ line: l.line, error: l.error });
    else {
      out.records.push(l.value);
      out.lines.push(l.line);
    }
    if (out.records.length >= batch) await send(false);
  }
  await send(true);
}

void main();
