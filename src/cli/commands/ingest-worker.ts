/**
 * The NDJSON reader of `tracetier ingest`, on its own thread: reading, JSON.parse, validation and the
 * per-record work of an insert (ids, record encoding, body bytes and hashes: src/records/prepare.ts)
 * run beside the store's work on the main thread, which gets the records prepared (ingest-pack.ts). It
 * says when it is ready, and the main thread (which parses the first lines itself meanwhile) answers
 * with where to start. Batches then go out by credit: at most `ahead` ahead of what the main thread has
 * taken, so memory stays bounded.
 */
import { createReadStream } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { type NdjsonCursor, ndjsonLines } from "../../base/ndjson.js";
import { type Prepared, prepareOne } from "../../records/prepare.js";
import { type PackedRecords, packPrepared } from "./ingest-pack.js";

export interface ReaderBatch {
  packed: PackedRecords;
  bad: { line: number; error: string }[];
  bytes: number;
  done: boolean;
}

/** What the reader posts: `ready` once, when it has started, then batches. */
export type ReaderMessage = "ready" | ReaderBatch;

/** What the main thread posts: where to start (once), then "more" for each batch it has taken. */
export type ReaderRequest = NdjsonCursor | "more";

export interface ReaderOptions {
  path: string;
  /** Records a message holds at most. */
  batch: number;
  /** Messages the reader may post before the main thread has taken the first. */
  ahead: number;
  /** Bytes the file is read in. */
  chunk: number;
}

const { path, batch, ahead, chunk } = workerData as ReaderOptions;
const port = parentPort!;
let credit = ahead;
let wake: (() => void) | undefined;
let begin: ((at: NdjsonCursor) => void) | undefined;
port.on("message", (m: ReaderRequest) => {
  if (m === "more") credit++;
  else begin?.(m);
  wake?.();
});

let prepared: Prepared[] = [];
let bad: { line: number; error: string }[] = [];
let bytes = 0;

async function send(done: boolean): Promise<void> {
  while (credit === 0) await new Promise<void>((r) => (wake = r));
  credit--;
  const packed = packPrepared(prepared);
  port.postMessage({ packed, bad, bytes, done } satisfies ReaderBatch, [packed.bytes]);
  prepared = [];
  bad = [];
  bytes = 0;
}

/** Validates and prepares one parsed line, as insertRecords would; a bad record is that line's error. */
function take(value: unknown, line: number): void {
  const p = prepareOne(value);
  if ("error" in p) bad.push({ line, error: p.error });
  else prepared.push(p);
}

async function main(): Promise<void> {
  const at = await new Promise<NdjsonCursor>((resolve) => {
    begin = resolve;
    port.postMessage("ready" satisfies ReaderMessage);
  });
  const input = createReadStream(path, { highWaterMark: chunk, start: at.offset }) as AsyncIterable<Buffer>;
  const onBytes = (n: number) => {
    bytes += n;
  };
  for await (const l of ndjsonLines(input, onBytes, at)) {
    if ("error" in l) bad.push({ line: l.line, error: l.error });
    else take(l.value, l.line);
    // Bad lines count too: a file of nothing but bad lines must not pile them all up here
    if (prepared.length + bad.length >= batch) await send(false);
  }
  await send(true);
}

void main();
