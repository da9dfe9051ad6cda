/**
 * The index thread's entry (runner.ts): answers each request with its core (core.ts), in order. An
 * error is answered for its request; the thread goes on with the next one.
 */
import { parentPort } from "node:worker_threads";
import { type CoreReply, type CoreRequest, IndexCore } from "./core.js";

const port = parentPort;
if (port === null) throw new Error("worker.js runs as a worker thread (src/search/chunks/runner.ts)");
const core = new IndexCore();

port.on("message", (req: CoreRequest) => {
  let reply: CoreReply;
  try {
    reply = { id: req.id, value: core.handle(req) };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true }); // the runner sends requests here from now on (runner.ts, handOff)
