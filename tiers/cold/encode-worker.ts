/**
 * The encoder thread's entry (tiers/cold/writer.ts): encodes each file it is sent and transfers the
 * bytes back. An error is answered for its file; the thread goes on with the next one.
 */
import { parentPort } from "node:worker_threads";
import { TracetierError } from "../../src/errors.js";
import { type EncodeReply, type EncodeRequest, encodeValues } from "./writer.js";

const port = parentPort;
if (port === null) throw new Error("encode-worker.js runs as a worker thread (tiers/cold/writer.ts)");

port.on("message", ({ id, batch }: EncodeRequest) => {
  let reply: EncodeReply;
  try {
    const file = encodeValues(batch);
    reply = { id, file };
    port.postMessage(reply, [file.bytes.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = err instanceof TracetierError ? err.code : undefined;
    const valueIndex = (err as { valueIndex?: number }).valueIndex;
    reply = { id, error: { message: e.message, code, stack: e.stack, valueIndex } };
    port.postMessage(reply);
  }
});
