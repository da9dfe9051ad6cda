/**
 * `GET /v1/tail`: records as they are acknowledged, as Server-Sent Events (`tracetier tail`, docs/operate.md).
 *
 *   id: <seq>\nevent: open\ndata: {"after": <seq>, "heartbeatMs"}\n\n              (first)
 *   id: <seq>\nevent: record\ndata: <the record as query() returns it, plus "seq">\n\n
 *   id: <seq>\n\n                 (the cursor past records the stream's filter left out)
 *   event: gap\ndata: {"after", "upTo", "missing", "ranges", ...}\n\n   (records that cannot be replayed)
 *   : ping\n\n                                        (every 15 s; with an id: line as above)
 *
 * The cursor is the sequence number (the `Last-Event-ID` header a reconnecting client sends, else
 * `after`): a stream replays what was acknowledged after it, then follows, each
 * record once and in sequence order. Replays come from a ring of recent records (bounded by count and bytes), and when a
 * cursor is older than the ring (the collector restarted), from a scan of the hot tier; what neither
 * holds any more is announced by a `gap` event, never skipped silently.
 *
 * Invariants: the hub is told of each batch synchronously from the write path (followRecords), before
 * its callers are answered, and only keeps it there (no decoding: that is paid when a stream sends a
 * record, once for every stream); a stream is registered, and the ring copied, in one synchronous step,
 * so a record is either in the copy or told to the stream later, never both and never neither. A
 * stream sends from its own queue (the replays, then live batches, in seq order) in pieces, waiting for
 * the socket to drain between them; while it replays from the hot tier its live records wait behind
 * the replay. A stream passes a record only if its seq is above the last one it passed (the copies may
 * overlap only at their edges), and its cursor moves past the records its filter leaves out too: an
 * `id:` line without data (after such a batch, at most once a second, and on the heartbeat) carries it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { Counter, Gauge } from "prom-client";
import { ClosedError, InvalidOptionError } from "../base/errors.js";
import { LEVELS } from "../records/validate.js";
import { type Following, followRecords, hotRecordsSince, type TraceStore } from "../store.js";
import type { AppliedRecord } from "../write/path.js";
import type { CollectorMetrics } from "./metrics.js";
import { type Entry, FILTER_PARAMS, type Filter, type Ready, Ring, readyOf } from "./tail-ring.js";

export interface TailLimits {
  /** Recent records kept for replays after a reconnect. */
  ringRecords: number;
  /**
   * Bytes of recent records kept (their stored, msgpack form, plus ENTRY_OVERHEAD each, plus their
   * JSON text once a stream has sent them).
   */
  ringBytes: number;
  /**
   * Bytes of live records a stream may have waiting (unsent because its client reads slower than they
   * come) before it is closed: the client resumes by its cursor. A replay, or one batch that arrives
   * while the stream is caught up, is not counted: the server made that burst, not a slow client.
   */
  streamBytes: number;
  /** Records a replay from the hot tier sends at most (the newest; a gap names the rest). */
  hotReplayRecords: number;
  heartbeatMs: number;
}

export const TAIL_DEFAULTS: TailLimits = {
  ringRecords: 100_000,
  ringBytes: 64 * 1024 * 1024,
  streamBytes: 16 * 1024 * 1024,
  hotReplayRecords: 100_000,
  heartbeatMs: 15_000,
};

/** A stream writes pieces of about this many characters, waiting for the socket to drain between them. */
const SEND_CHUNK = 256 * 1024;

/**
 * Records a piece looks at most (decoded, matched, maybe serialized) before the stream yields to the
 * event loop: a replay of 100 000 filtered-out records must not hold ingestion up for its whole length.
 */
const PIECE_RECORDS = 1024;

/** A filtered stream's `id:` line for records it left out is sent at most this often (and on heartbeats). */
const ID_EVERY_MS = 1000;

/** The `gap` event's ranges are listed up to this many (the count covers them all). */
const MAX_GAP_RANGES = 100;

const KINDS = new Set(["log", "span-open", "span-close"]);

export class TailHub {
  private readonly ring: Ring;
  private readonly streams = new Set<TailStream>();
  private readonly following: Following;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  /** The highest sequence number told so far: the cursor "now". */
  private lastSeq: number;
  /** Hot-tier replays run one at a time (each is a scan of the hot tier): the next waits for this one. */
  private filling: Promise<void> = Promise.resolve();
  readonly limits: TailLimits;
  private readonly dropped: Counter<"reason"> | undefined;

  constructor(
    private readonly store: TraceStore,
    metrics?: CollectorMetrics,
    limits: Partial<TailLimits> = {},
  ) {
    this.limits = { ...TAIL_DEFAULTS, ...limits };
    this.following = followRecords(store, (records) => this.told(records));
    this.lastSeq = this.following.upTo;
    this.ring = new Ring(this.limits, this.lastSeq);
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) s.ping();
    }, this.limits.heartbeatMs);
    this.heartbeat.unref();
    if (metrics) this.dropped = this.register(metrics);
  }

  private register(metrics: CollectorMetrics): Counter<"reason"> {
    const streams = this.streams;
    new Gauge({
      name: "tracetier_tail_streams",
      help: "Open GET /v1/tail streams.",
      registers: [metrics.registry],
      collect() {
        this.set(streams.size);
      },
    });
    return new Counter({
      name: "tracetier_tail_streams_closed_total",
      help: "GET /v1/tail streams the collector closed, by reason (slow: over its queued bytes; shutdown).",
      labelNames: ["reason"],
      registers: [metrics.registry],
    });
  }

  /**
   * From the write path (synchronously, in seq order, before the batch's callers are answered): kept in
   * the ring and queued on every stream, nothing more. Decoding waits for a stream to send the record.
   */
  private told(records: readonly AppliedRecord[]): void {
    if (records.length === 0) return;
    this.lastSeq = records[records.length - 1]!.seq;
    const entries = this.ring.push(records);
    for (const s of this.streams) s.live(entries);
  }

  /** Answers one `GET /v1/tail`: resolves when the stream ends (the client left, or the collector closes). */
  async serve(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (this.closed) throw new ClosedError();
    const filter = parseFilter(params);
    const after = parseCursor(params, req.headers["last-event-id"]);
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no", // nginx: do not buffer the stream
      "x-content-type-options": "nosniff",
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const ended = new Promise<void>((resolve) => res.once("close", resolve));
    const held = Math.max(this.limits.streamBytes, this.limits.ringBytes);
    const stream = new TailStream(res, filter, this.limits.streamBytes, held, (reason) => {
      this.dropped?.inc({ reason });
    });
    this.streams.add(stream);
    this.ring.keepText = this.streams.size > 1;
    try {
      this.start(stream, after);
      await ended;
    } finally {
      this.streams.delete(stream);
      this.ring.keepText = this.streams.size > 1;
      stream.finish();
    }
  }

  /**
   * Begins a registered stream: from now, from the ring, or from the hot tier and then the ring. Its
   * first event, `open`, carries the cursor it starts after as its id, so that a client that drops
   * before any record still resumes from there (not from a later "now").
   */
  private start(stream: TailStream, after: number | undefined): void {
    const now = this.lastSeq;
    const from = after === undefined || after > now ? now : after;
    stream.open(from, this.limits.heartbeatMs);
    if (after !== undefined && after > now) {
      // a cursor from another store (or one restored from an older copy): it would wait forever
      stream.gap({
        after,
        upTo: now,
        reason: `the cursor is ahead of this store's last record (${now}): another store, or a restored one; following from ${now}`,
      });
    }
    const floor = this.ring.floor;
    if (from >= floor) {
      stream.follow(this.ring.after(from));
      return;
    }
    // Older than the ring: the ring's copy now (it may drop records while the hot tier is read), live
    // records queued behind it, and the hot tier's records in (after, floor] put in front once read.
    stream.follow(this.ring.after(floor), true);
    const run = this.filling.then(() => this.replayHot(stream, from, floor));
    this.filling = run.catch(() => {});
    run.catch(() => stream.end()); // the client retries by its cursor
  }

  private async replayHot(stream: TailStream, after: number, upTo: number): Promise<void> {
    if (stream.closed) return;
    const hot = await hotRecordsSince(this.store, after, upTo, this.limits.hotReplayRecords, stream.signal);
    if (hot.missing.length > 0) {
      const count = hot.missing.reduce((n, [a, b]) => n + b - a + 1, 0);
      stream.gap({
        after,
        upTo,
        missing: count,
        ranges: hot.missing.slice(0, MAX_GAP_RANGES),
        reason: hot.truncated
          ? `more than ${this.limits.hotReplayRecords} records since the cursor: the oldest are not replayed`
          : "records since the cursor are no longer in the hot tier (moved to the cold tier, pruned, or never stored): tracetier query finds those still stored",
      });
    }
    stream.replayed(hot.records);
  }

  /** Ends every stream (the server then closes; clients reconnect elsewhere) and stops following. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.following.stop();
    for (const s of this.streams) {
      this.dropped?.inc({ reason: "shutdown" });
      s.end();
    }
  }

  get size(): number {
    return this.streams.size;
  }
}

/** Records waiting in a stream's queue: a replay's, or a live batch's (`live`: counted as backlog). */
interface Part {
  entries: readonly Entry[];
  next: number;
  live: boolean;
}

/**
 * One client's stream: its filter, its cursor, and its queue. The queue holds references (a ring's
 * records are shared by every stream); a piece is encoded only when it is about to be written.
 */
class TailStream {
  /** The highest seq this stream has passed, sent or left out by its filter: its cursor. */
  private seen = 0;
  /** The highest seq written in an `id:` field (the client's Last-Event-ID). */
  private idSent = 0;
  private idAt = 0;
  private readonly queue: Part[] = [];
  /** Bytes of live records waiting in the queue: what the client is behind by. */
  private liveBytes = 0;
  /** While the hot tier is read: the queue waits for its records to go in front. */
  private holding = false;
  /** Bytes of live records queued while holding (replay for this client, not backlog). */
  private heldBytes = 0;
  private pumping = false;
  private kicked = false;
  private done = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly res: ServerResponse,
    private readonly filter: Filter,
    private readonly maxBytes: number,
    private readonly maxHeldBytes: number,
    private readonly onDrop: (reason: string) => void,
  ) {}

  /** Aborted once the stream ends: a hot-tier scan for it stops. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get closed(): boolean {
    return this.done;
  }

  /** The first event: the cursor, and how often heartbeats come (a client's liveness check). */
  open(after: number, heartbeatMs: number): void {
    this.seen = after;
    this.idSent = after;
    const data = JSON.stringify({ after, heartbeatMs });
    this.write(`retry: 1000\nid: ${after}\nevent: open\ndata: ${data}\n\n`);
  }

  /** Follows: `first` (the ring's copy) is sent first; with `hold`, nothing is sent until `replayed`. */
  follow(first: readonly Entry[], hold = false): void {
    this.holding = hold;
    if (first.length > 0) this.queue.push({ entries: first, next: 0, live: false });
    this.kick();
  }

  /** The replay from the hot tier is read: it goes in front of the queue (ring copy, then live). */
  replayed(records: readonly Entry[]): void {
    if (this.done) return;
    this.holding = false;
    this.heldBytes = 0;
    if (records.length > 0) this.queue.unshift({ entries: records, next: 0, live: false });
    this.kick();
  }

  /**
   * A live batch. A client already more than `maxBytes` behind is closed (it resumes by its cursor once
   * it reads again); one caught up takes any batch, which then goes out in pieces.
   */
  live(entries: readonly Entry[]): void {
    if (this.done) return;
    if (this.holding) {
      // The hot tier is being read for this stream: the client has not been sent anything it could be
      // slow to take, so what arrives meanwhile is replay, not backlog. Bounded anyway (a scan of a
      // large hot tier under heavy ingest), by the ring's own byte bound.
      for (const e of entries) this.heldBytes += e.value.length;
      if (this.heldBytes > this.maxHeldBytes) {
        this.drop();
        return;
      }
      this.queue.push({ entries, next: 0, live: false });
      return;
    }
    if (this.liveBytes > this.maxBytes) {
      this.drop();
      return;
    }
    for (const e of entries) this.liveBytes += e.value.length;
    this.queue.push({ entries, next: 0, live: true });
    this.kick();
  }

  gap(detail: Record<string, unknown>): void {
    this.write(`event: gap\ndata: ${JSON.stringify(detail)}\n\n`);
  }

  /** The heartbeat; when idle, it carries the cursor past records the filter left out. */
  ping(): void {
    if (this.idle() && this.seen > this.idSent) this.writeId(": ping\n");
    else this.write(": ping\n\n");
  }

  private idle(): boolean {
    return !this.pumping && !this.holding && this.queue.length === 0;
  }

  /**
   * Starts the pump on the next turn of the event loop, not now: `live` runs inside the write path,
   * whose callers are answered before any record is decoded or written.
   */
  private kick(): void {
    if (this.kicked || this.pumping || this.holding || this.done) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      // a failure here is the stream's alone (the client resumes by its cursor), never the process's
      this.pump().catch(() => this.end());
    });
  }

  /** Sends the queue piece by piece: each piece written whole, the next once the socket drained. */
  private async pump(): Promise<void> {
    if (this.pumping || this.holding || this.done) return;
    this.pumping = true;
    try {
      while (!this.done && !this.holding && this.queue.length > 0) {
        const text = this.piece();
        if (text !== "" && !this.res.write(text)) await this.drained();
        else if (this.queue.length > 0) await yieldToLoop(); // many records: let the write path in
      }
    } finally {
      this.pumping = false;
    }
    if (!this.done && this.idle() && this.seen > this.idSent && Date.now() - this.idAt >= ID_EVERY_MS)
      this.writeId("");
  }

  /** The next piece of the queue as text: up to SEND_CHUNK characters, or PIECE_RECORDS records. */
  private piece(): string {
    let text = "";
    let looked = 0;
    while (this.queue.length > 0 && text.length < SEND_CHUNK && looked < PIECE_RECORDS) {
      const part = this.queue[0]!;
      const e = part.entries[part.next++];
      if (e === undefined) {
        this.queue.shift();
        continue;
      }
      if (part.live) this.liveBytes -= e.value.length;
      if (e.seq <= this.seen) continue;
      looked++;
      this.seen = e.seq;
      let r: Ready;
      try {
        r = readyOf(e);
      } catch (err) {
        // A stored value that does not decode (damage: verify reports it) is passed over as a gap, so
        // the stream goes on, and the cursor past it (a reconnect would stop at it again).
        text += `event: gap\ndata: ${JSON.stringify(corrupt(e.seq, err))}\n\n`;
        continue;
      }
      if (!matches(r.fields, this.filter)) continue;
      this.idSent = e.seq;
      text += `id: ${e.seq}\nevent: record\ndata: ${r.data}\n\n`;
    }
    return text;
  }

  private writeId(prefix: string): void {
    this.idSent = this.seen;
    this.idAt = Date.now();
    this.write(`${prefix}id: ${this.seen}\n\n`);
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const go = () => {
        this.res.off("drain", go);
        this.res.off("close", go);
        resolve();
      };
      this.res.on("drain", go);
      this.res.on("close", go);
    });
  }

  private write(text: string): void {
    if (!this.done) this.res.write(text);
  }

  private drop(): void {
    this.onDrop("slow");
    this.finish();
    this.res.destroy();
  }

  /**
   * Ends the stream, its cursor first (records its filter left out since the last id). The response is
   * then finished for the server (it need not wait for a client that does not read what is queued: the
   * close cuts the connection once every response is finished).
   */
  end(): void {
    if (this.done) return;
    if (this.seen > this.idSent) this.writeId("");
    this.finish();
    this.res.end();
  }

  finish(): void {
    this.done = true;
    this.queue.length = 0;
    this.liveBytes = 0;
    this.abort.abort();
  }
}

/** The gap event for a record whose stored value does not decode. */
function corrupt(seq: number, err: unknown): Record<string, unknown> {
  const code = (err as { code?: string }).code ?? "ERR_CORRUPT_STORE";
  return {
    after: seq - 1,
    upTo: seq,
    missing: 1,
    ranges: [[seq, seq]],
    reason: `the record's stored value cannot be decoded (${code}): tracetier verify reports the damage`,
  };
}

function matches(fields: Filter, f: Filter): boolean {
  for (const k of FILTER_PARAMS) if (f[k] !== undefined && fields[k] !== f[k]) return false;
  return true;
}

function parseFilter(p: URLSearchParams): Filter {
  const f: Filter = {};
  for (const k of FILTER_PARAMS) {
    const v = p.get(k);
    if (v === null) continue;
    if (v === "") throw new InvalidOptionError(k, "must not be empty");
    f[k] = v;
  }
  if (f.kind !== undefined && !KINDS.has(f.kind))
    throw new InvalidOptionError("kind", `must be log, span-open or span-close, got "${f.kind}"`);
  if (f.level !== undefined && !LEVELS.has(f.level))
    throw new InvalidOptionError("level", `must be debug, info, warn or error, got "${f.level}"`);
  return f;
}

/**
 * The larger of `after` and the `Last-Event-ID` header, else undefined: from now. An EventSource
 * reconnects to the same URL (its `after` unchanged) with the header set to the last id it saw, which
 * is then the newer cursor; taking the larger never repeats a record.
 */
function parseCursor(p: URLSearchParams, lastEventId: string | string[] | undefined): number | undefined {
  const after = p.has("after") ? seqParam(p.get("after")!, "after") : undefined;
  const header =
    typeof lastEventId === "string" && lastEventId !== ""
      ? seqParam(lastEventId, "Last-Event-ID")
      : undefined;
  // An EventSource reconnects to the URL it was given (its `after` unchanged) with the id it last saw:
  // the header is the newer cursor. It wins even when lower (a store restored from an older copy, whose
  // seqs run again from below `after`: the header is what the client really has).
  return header ?? after;
}

function seqParam(v: string, name: string): number {
  const n = Number(v);
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(n))
    throw new InvalidOptionError(
      name,
      `must be a sequence number (a whole number, 0 or more), got "${v.slice(0, 40)}"`,
    );
  return n;
}
