/**
 * `GET /v1/tail`: records as they are acknowledged, as Server-Sent Events (`tracetier tail`, docs/tail.md).
 *
 *   id: <seq>\nevent: record\ndata: <the record as query() returns it, plus "seq">\n\n
 *   event: gap\ndata: {"after", "upTo", "missing", "ranges", ...}\n\n   (records that cannot be replayed)
 *   : ping\n\n                                                          (every 15 s)
 *
 * The cursor is the sequence number (`after`, or the `Last-Event-ID` header a reconnecting client
 * sends): a stream replays what was acknowledged after it, then follows, each record once and in
 * sequence order. Replays come from a ring of recent records (bounded by count and bytes), and when a
 * cursor is older than the ring (the collector restarted), from a scan of the hot tier; what neither
 * holds any more is announced by a `gap` event, never skipped silently.
 *
 * Invariants: the hub is told of each batch synchronously from the write path (followRecords), before
 * its callers are answered; a stream is registered, and the ring copied, in one synchronous step, so a
 * record is either in the copy or told to the stream later, never both and never neither; while a
 * stream replays from the hot tier its live records wait in its queue. A stream sends a record only if
 * its seq is above the last one it sent (the copies may overlap only at their edges).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge } from "prom-client";
import { decodeRecordValue, type HotRecord } from "../../tiers/hot/values.js";
import { ClosedError, InvalidOptionError } from "../base/errors.js";
import { type Following, followRecords, hotRecordsSince, type TraceStore } from "../store.js";
import type { StoredRecord } from "../types.js";
import type { AppliedRecord } from "../write/path.js";
import type { CollectorMetrics } from "./metrics.js";

export interface TailLimits {
  /** Recent records kept for replays after a reconnect. */
  ringRecords: number;
  /** Bytes of recent records kept (their stored, msgpack form, plus ENTRY_OVERHEAD each). */
  ringBytes: number;
  /** Bytes a stream may have queued (unsent) before it is closed: the client resumes by its cursor. */
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

/**
 * What a kept record costs beyond its value's bytes (its object and its Uint8Array's backing store; the
 * hot tier measured about 250 bytes a Buffer): counted in `ringBytes`, so that many small records do not
 * hold several times the bound.
 */
const ENTRY_OVERHEAD = 256;

/** A replay's text is written in pieces of about this many characters. */
const SEND_CHUNK = 256 * 1024;

/** The `gap` event's ranges are listed up to this many (the count covers them all). */
const MAX_GAP_RANGES = 100;

interface Filter {
  turnId?: string;
  conversationId?: string;
  kind?: string;
  level?: string;
  extensionId?: string;
}

const FILTER_PARAMS = ["turnId", "conversationId", "kind", "level", "extensionId"] as const;
const KINDS = new Set(["log", "span-open", "span-close"]);
const LEVELS = new Set(["debug", "info", "warn", "error"]);

/** A record ready to send: decoded once per batch, serialized once for every stream. */
interface Ready {
  seq: number;
  record: StoredRecord;
  data: string;
}

export class TailHub {
  private readonly ring: Ring;
  private readonly streams = new Set<TailStream>();
  private readonly following: Following;
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  /** The highest sequence number told so far: the cursor "now". */
  private lastSeq: number;
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
      for (const s of this.streams) s.write(": ping\n\n");
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

  /** From the write path (synchronously, in seq order): into the ring, then to every stream. */
  private told(records: readonly AppliedRecord[]): void {
    if (records.length === 0) return;
    this.lastSeq = records[records.length - 1]!.seq;
    this.ring.push(records);
    if (this.streams.size === 0) return;
    const ready = records.map(toReady);
    for (const s of this.streams) s.live(ready);
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
    const stream = new TailStream(res, filter, this.limits.streamBytes, (reason) => {
      this.dropped?.inc({ reason });
    });
    this.streams.add(stream);
    try {
      this.start(stream, after);
      await ended;
    } finally {
      this.streams.delete(stream);
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
    stream.write(`retry: 1000\nid: ${from}\nevent: open\ndata: ${JSON.stringify({ after: from })}\n\n`);
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
      stream.follow(from, this.ring.after(from).map(toReady));
      return;
    }
    // Older than the ring: the ring's copy now (it may drop records while the hot tier is read), live
    // records queued meanwhile, then the hot tier's records in (after, floor].
    const copy = this.ring.after(floor);
    stream.follow(from, undefined, true);
    this.replayHot(stream, from, floor, copy).catch(() => stream.end()); // the client retries by its cursor
  }

  private async replayHot(
    stream: TailStream,
    after: number,
    upTo: number,
    copy: AppliedRecord[],
  ): Promise<void> {
    const hot = await hotRecordsSince(this.store, after, upTo, this.limits.hotReplayRecords);
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
    stream.replayed([...hot.records.map(hotReady), ...copy.map(toReady)]);
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

/** One client's stream: its filter, the last seq it sent, and its queue while it replays. */
class TailStream {
  private sent = 0;
  /** Live records held while the stream replays from the hot tier (undefined once it follows). */
  private queued: Ready[] | undefined;
  private queuedBytes = 0;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly filter: Filter,
    private readonly maxBytes: number,
    private readonly onDrop: (reason: string) => void,
  ) {}

  /** Follows from `after`: `first` sent now; with `hold`, live records wait for `replayed`. */
  follow(after: number, first: Ready[] = [], hold = false): void {
    this.sent = after;
    this.send(first);
    if (hold) this.queued = [];
  }

  /** The replay from the hot tier is done: it, then what was queued meanwhile, then live. */
  replayed(records: Ready[]): void {
    const queued = this.queued ?? [];
    this.queued = undefined;
    this.send(records);
    this.send(queued);
  }

  live(records: Ready[]): void {
    if (this.done) return;
    if (this.queued === undefined) {
      this.send(records);
      return;
    }
    for (const r of records) {
      this.queued.push(r);
      this.queuedBytes += r.data.length;
    }
    if (this.queuedBytes > this.maxBytes) this.drop();
  }

  gap(detail: Record<string, unknown>): void {
    this.write(`event: gap\ndata: ${JSON.stringify(detail)}\n\n`);
  }

  /** One write per call (a batch's records in one chunk: a write per record cost more than the rest). */
  private send(records: readonly Ready[]): void {
    let text = "";
    for (const r of records) {
      if (r.seq <= this.sent || !matches(r.record, this.filter)) continue;
      this.sent = r.seq;
      text += `id: ${r.seq}\nevent: record\ndata: ${r.data}\n\n`;
      if (text.length >= SEND_CHUNK) {
        this.write(text);
        text = "";
      }
    }
    if (text !== "") this.write(text);
  }

  write(text: string): void {
    if (this.done) return;
    this.res.write(text);
    // A client that does not read: its unsent bytes would grow without bound. Closed, it resumes by
    // its cursor (from the ring, or the hot tier) once it reads again.
    if (this.res.writableLength > this.maxBytes) this.drop();
  }

  private drop(): void {
    this.onDrop("slow");
    this.done = true;
    this.queued = undefined;
    this.res.destroy();
  }

  /**
   * Ends the stream. The response is then finished for the server (it need not wait for a client that
   * does not read what is queued: the close cuts the connection once every response is finished).
   */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.queued = undefined;
    this.res.end();
  }

  finish(): void {
    this.done = true;
    this.queued = undefined;
  }
}

/**
 * Recent records in seq order, bounded by count and bytes: every record acknowledged with a seq above
 * `floor` is here (the oldest leave first, raising the floor).
 */
class Ring {
  private items: AppliedRecord[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly limits: TailLimits,
    public floor: number,
  ) {}

  push(records: readonly AppliedRecord[]): void {
    for (const r of records) {
      this.items.push(r);
      this.bytes += r.value.length + ENTRY_OVERHEAD;
    }
    while (
      this.items.length - this.head > this.limits.ringRecords ||
      (this.bytes > this.limits.ringBytes && this.items.length - this.head > 0)
    ) {
      const old = this.items[this.head++]!;
      this.bytes -= old.value.length + ENTRY_OVERHEAD;
      this.floor = old.seq;
    }
    // compacted now and then, so that a shift is never paid per record
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** The records with a seq above `seq`, oldest first (a copy). */
  after(seq: number): AppliedRecord[] {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.items.slice(lo);
  }
}

function toReady(r: AppliedRecord): Ready {
  return hotReady(decodeRecordValue(r.value));
}

/** What `query({ bodies: false })` returns for the record (reader.ts `hydrate`), with its seq. */
function hotReady(r: HotRecord): Ready {
  const record = { ...r.record, id: r.id } as StoredRecord;
  return { seq: r.seq, record, data: JSON.stringify({ ...record, seq: r.seq }) };
}

function matches(r: StoredRecord, f: Filter): boolean {
  const fields = r as unknown as Record<string, unknown>;
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

/** `after`, else the `Last-Event-ID` header (an EventSource's reconnect), else undefined: from now. */
function parseCursor(p: URLSearchParams, lastEventId: string | string[] | undefined): number | undefined {
  if (p.has("after")) return seqParam(p.get("after")!, "after");
  if (typeof lastEventId === "string" && lastEventId !== "") return seqParam(lastEventId, "Last-Event-ID");
  return undefined;
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
