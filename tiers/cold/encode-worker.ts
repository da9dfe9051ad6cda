/**
 * The encoder thread's entry (tiers/cold/writer.ts): encodes each file it is sent and transfers the
 * bytes back (with the file's search sidecar, built from the same records). An error is answered for its file; the thread goes on with the next one.
 */
import { parentPort } from "node:worker_threads";
import { type EncodeReply, type EncodeRequest, encodeValues, failureOf } from "./writer.js";

const port = parentPort;
if (port === null) throw new Error("encode-worker.js runs as a worker thread (tiers/cold/writer.ts)");

port.on("message", ({ id, batch, index }: EncodeRequest) => {
  let reply: EncodeReply;
  try {
    const file = encodeValues(batch, index);
    reply = { id, file };
    const transfer = [file.bytes.buffer as ArrayBuffer];
    if (file.index && file.index.buffer !== file.bytes.buffer)
      transfer.push(file.index.buffer as ArrayBuffer);
    port.postMessage(reply, transfer);
  } catch (err) {
    reply = { id, error: failureOf(err) };
    port.postMessage(reply);
  }
});
