/**
 * The NDJSON reader of `tracetier ingest`, on its own thread: reading and JSON.parse of the lines run
 * beside the store's work on the main thread (parsing was a quarter of a file ingest). Batches go out
 * by credit: at most two ahead of what the main thread has taken, so memory stays bounded.
 */
import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

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
  let rest: Buffer = Buffer.alloc(0);
  let line = 0;
  const take = async (bytes: Buffer) => {
    line++;
    const text = bytes.toString("utf8");
    if (text.trim() === "") return;
    try {
      out.records.push(JSON.parse(text));
      out.lines.push(line);
    } catch (err) {
      out.bad.push({ line, error: `not JSON: ${(err as Error).message}` });
    }
    if (out.records.length >= batch) await send(false);
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    out.bytes += chunk.length;
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, at)) {
      await take(buf.subarray(at, nl > at && buf[nl - 1] === 0x0d ? nl - 1 : nl));
      at = nl + 1;
    }
    rest = buf.subarray(at);
  }
  if (rest.length > 0) await take(rest);
  await send(true);
}

void main();
