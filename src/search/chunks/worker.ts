/**
 * The index thread's entry (runner.ts): runs each extraction it is sent (extract.ts) and transfers
 * the terms back. An error is answered for its job; the thread goes on with the next one.
 */
import { parentPort } from "node:worker_threads";
import { type ExtractJob, Extractor } from "./extract.js";
import { failureOf, type RunnerReply } from "./runner.js";

const port = parentPort;
if (port === null) throw new Error("worker.js runs as a worker thread (src/search/chunks/runner.ts)");
const extractor = new Extractor();

port.on("message", (job: ExtractJob) => {
  let reply: RunnerReply;
  try {
    const result = extractor.run(job);
    reply = { id: job.id, result };
    port.postMessage(reply, [
      result.docs.buffer as ArrayBuffer,
      result.counts.buffer as ArrayBuffer,
      result.terms.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    reply = { id: job.id, error: failureOf(err) };
    port.postMessage(reply);
  }
});
