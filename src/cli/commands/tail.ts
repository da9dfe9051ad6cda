/**
 * `tracetier tail`: follows records as a running collector acknowledges them (`GET /v1/tail`, Server-
 * Sent Events), like `tail -f`. The cursor is the sequence number of the last event received: a dropped
 * connection is retried with backoff (serve.json read again each time: a restarted collector may have
 * another port) and resumed after it, so no record is lost or printed twice.
 */
import { TracetierError } from "../../base/errors.js";
import type { StoredRecord } from "../../types.js";
import { type Command, type CommandContext, EXIT, str } from "../command.js";
import { CollectorClient, type Params } from "../remote.js";
import { collectorLink, REMOTE_OPTIONS } from "../target.js";
import { line } from "./read.js";

const FLAGS: [flag: string, param: string][] = [
  ["turn", "turnId"],
  ["conversation", "conversationId"],
  ["kind", "kind"],
  ["level", "level"],
  ["extension", "extensionId"],
];

/** Backoff between reconnects: doubled after each failure up to the maximum, reset by a connection. */
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 5000;
/** Unreachable for this long: said once on stderr (tail goes on trying). */
const SAY_UNREACHABLE_MS = 10_000;
/** The collector's heartbeat when its `open` event does not say; a connection silent for 3 is dead. */
const DEFAULT_HEARTBEAT_MS = 15_000;
const IDLE_HEARTBEATS = 3;

export const tail: Command = {
  name: "tail",
  summary: "follow records as the running collector acknowledges them, like tail -f",
  help: `tracetier tail [--turn T] [--conversation C] [--kind K] [--level L] [--extension E]
               [--json] [--dir DIR | --url URL] [--token TOKEN]

Prints each record a running collector (tracetier serve) acknowledges from now on, as it is stored:
one line per record as tracetier query prints them, or with --json one JSON object per line (NDJSON,
the record as query --json gives it, plus its "seq"). The filters match fields exactly. The collector
is found through DIR/collector/serve.json, or --url; its token from --token or TRACETIER_TOKEN.

A dropped connection or a restarted collector is retried with backoff and resumed after the last
record received: nothing is lost or repeated. Records that can no longer be replayed (the collector
was down while they moved to the cold tier) are announced on stderr. Runs until Ctrl-C (exit 0);
--debug says each reconnect.

Examples:
  tracetier tail
  tracetier tail --kind log --level error
  tracetier tail --conversation conv-7 --json | jq -c '{seq, kind, name, msg}'
  tracetier tail --url http://collector.internal:4318 --token "$TRACETIER_TOKEN"
`,
  options: {
    ...Object.fromEntries(FLAGS.map(([f]) => [f, { type: "string" as const }])),
    ...REMOTE_OPTIONS,
  },
  positionals: [0, 0],
  async run(ctx) {
    const filter: Params = {};
    for (const [flag, param] of FLAGS) filter[param] = str(ctx.values, flag);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    process.stdout.once("error", onSignal); // a closed pipe (tail | head): nothing more to print to
    try {
      await follow(ctx, filter, stop.signal);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    return EXIT.ok;
  },
};

/** Connects, prints, reconnects, until `signal`; throws only what retrying cannot mend. */
async function follow(ctx: CommandContext, filter: Params, signal: AbortSignal): Promise<void> {
  let cursor: number | undefined; // undefined: from now (the collector's first event gives it)
  let delay = FIRST_DELAY_MS;
  let failingSince: number | undefined;
  let said = false;
  while (!signal.aborted) {
    const conn = new Watchdog(signal);
    try {
      const client = new CollectorClient(await collectorLink(ctx));
      const res = await client.request(
        "GET",
        "/v1/tail",
        { ...filter, after: cursor },
        undefined,
        conn.signal,
      );
      ctx.debug(
        `following ${client.link.url} (found through ${client.link.via}) after seq ${cursor ?? "now"}`,
      );
      let from = cursor; // from now: the open event's id
      for await (const event of serverEvents(res, conn.signal, () => conn.alive())) {
        // an event without data (an `id:` line) moves the cursor too: past records the filters left out
        if (event.id !== undefined) cursor = Number(event.id);
        from ??= cursor;
        // Back to a quick retry only once the stream makes progress: a collector that accepts and then
        // drops at once is a failure that goes on (its backoff grows, and is reported after a while).
        if (from !== undefined && cursor !== undefined && cursor > from) {
          delay = FIRST_DELAY_MS;
          failingSince = undefined;
          said = false;
        }
        if (event.event === "record") await print(ctx, event.data, conn, signal);
        else if (event.event === "gap") sayGap(event.data);
        else if (event.event === "open") conn.heartbeat(event.data);
      }
      if (conn.idle) throw new Error(`no bytes from the collector for ${conn.idleMs / 1000} s`);
      if (!signal.aborted) ctx.debug(`the collector ended the stream after seq ${cursor}: reconnecting`);
    } catch (err) {
      if (signal.aborted) return;
      const why = conn.idle
        ? `no bytes from the collector for ${conn.idleMs / 1000} s`
        : (err as Error).message;
      if (!conn.idle && !retriable(err)) throw err;
      failingSince ??= Date.now();
      ctx.debug(`${why}: reconnecting in ${delay} ms after seq ${cursor ?? "now"}`);
      if (!said && Date.now() - failingSince >= SAY_UNREACHABLE_MS) {
        said = true;
        const s = Math.round((Date.now() - failingSince) / 1000);
        process.stderr.write(
          refused(err)
            ? `tracetier: no collector reachable for ${s} s (${why}); still trying (Ctrl-C to stop)\n`
            : `tracetier: the collector keeps dropping the stream (for ${s} s; ${why}); still trying (Ctrl-C to stop)\n`,
        );
      }
    } finally {
      conn.stop();
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

/**
 * One connection's liveness: the collector sends a heartbeat every `heartbeatMs` (its `open` event says
 * how often; 15 s by default), so no byte for three of them means a dead connection (a half-open TCP
 * connection after a network change never errors by itself): it is aborted, and tail reconnects.
 */
class Watchdog {
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onStop = () => this.abort.abort();
  idleMs = IDLE_HEARTBEATS * DEFAULT_HEARTBEAT_MS;
  idle = false;

  constructor(private readonly outer: AbortSignal) {
    outer.addEventListener("abort", this.onStop, { once: true });
    this.alive();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Bytes arrived: the connection lives. */
  alive(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.idle = true;
      this.abort.abort();
    }, this.idleMs);
  }

  pause(): void {
    clearTimeout(this.timer);
  }

  /** The `open` event's data: its `heartbeatMs`, when the collector says it. */
  heartbeat(data: string): void {
    const ms = (JSON.parse(data) as { heartbeatMs?: unknown }).heartbeatMs;
    if (typeof ms === "number" && ms > 0) this.idleMs = IDLE_HEARTBEATS * ms;
    this.alive();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.outer.removeEventListener("abort", this.onStop);
  }
}

/**
 * No connection at all (refused, no such host, no serve.json): "no collector reachable". A connection
 * that was made and then cut (a collector closing a slow stream, a proxy) is not that.
 */
function refused(err: unknown): boolean {
  if (!(err instanceof TracetierError) || err.code !== "ERR_UNREACHABLE") return false;
  const cause = (err as { cause?: { cause?: { code?: string } } }).cause;
  if (cause === undefined) return true; // collectorLink: no serve.json, or a stale one
  return REFUSED.has(cause.cause?.code ?? "");
}

const REFUSED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Prints a record; a pipe that does not keep up is waited for, so that memory does not grow behind it. */
async function print(ctx: CommandContext, data: string, conn: Watchdog, signal: AbortSignal): Promise<void> {
  const record = JSON.parse(data) as StoredRecord & { seq: number };
  ctx.out(ctx.json ? JSON.stringify(record) : line(record));
  if (!process.stdout.writableNeedDrain) return;
  conn.pause(); // not reading meanwhile: the collector's silence is ours
  await drained(process.stdout, signal);
  conn.alive();
}

function drained(out: NodeJS.WriteStream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function sayGap(data: string): void {
  const gap = JSON.parse(data) as { after?: number; upTo?: number; missing?: number; reason?: string };
  const count = gap.missing === undefined ? "" : `${gap.missing} record${gap.missing === 1 ? "" : "s"} `;
  process.stderr.write(
    `tracetier: ${count}after seq ${gap.after} up to ${gap.upTo} cannot be replayed: ${gap.reason}\n`,
  );
}

/**
 * Worth another try: no answer, a cut stream, a collector shutting down (503) or a proxy's 5xx. A wrong
 * token, a refused host, a bad filter or an endpoint the collector lacks are not.
 */
function retriable(err: unknown): boolean {
  if (!(err instanceof TracetierError)) return true; // a cut stream: fetch's TypeError ("terminated")
  if (err.code === "ERR_UNREACHABLE" || err.code === "ERR_CLOSED") return true;
  const status = (err as { status?: number }).status;
  return err.code === "ERR_REMOTE" && status !== undefined && status >= 500;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

export interface ServerEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** A text/event-stream body's events as they arrive (the WHATWG format: fields, blank-line ends). */
export async function* serverEvents(
  res: Response,
  signal?: AbortSignal,
  onBytes?: () => void,
): AsyncGenerator<ServerEvent> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let pending = "";
  let id: string | undefined;
  let event = "";
  let data: string[] = [];
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    if (signal?.aborted) return;
    onBytes?.();
    pending += decoder.decode(chunk, { stream: true });
    let nl = pending.search(/\r\n|\r|\n/);
    while (nl >= 0) {
      if (nl === pending.length - 1 && pending[nl] === "\r") break; // maybe a CRLF cut in two: wait
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + (pending.startsWith("\r\n", nl) ? 2 : 1));
      nl = pending.search(/\r\n|\r|\n/);
      if (text === "") {
        if (data.length > 0 || id !== undefined)
          yield { id, event: event === "" ? "message" : event, data: data.join("\n") };
        id = undefined;
        event = "";
        data = [];
        continue;
      }
      if (text.startsWith(":")) continue; // a comment: the heartbeat
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      const value = colon < 0 ? "" : text.slice(colon + (text[colon + 1] === " " ? 2 : 1));
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  }
}
