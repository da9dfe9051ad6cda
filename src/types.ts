/** A scalar attribute value. Numbers must be finite (they travel through JSON in the cold tier). */
export type Scalar = string | number | boolean | null;

/** The seed's flat attribute map, widened with arrays of scalars as OTLP has them. */
export type Attributes = Record<string, Scalar | Scalar[]>;

/**
 * A link from a span to another span; keys beyond the named ones are kept as given (any JSON value,
 * nested at most 64 arrays/objects deep).
 */
export interface SpanLink {
  spanId: string;
  turnId?: string;
  reason?: string;
  [extra: string]: unknown;
}

export type LogLevel = "debug" | "info" | "warn" | "error";
export type SpanStatus = "ok" | "error";

interface Common {
  /** Milliseconds since the epoch, an integer in the years 0000 to 9999 (docs/format.md). */
  timestamp: number;
  extensionId: string;
  conversationId?: string;
  turnId?: string;
  attributes?: Attributes;
  /** A verbatim payload (an LLM request or response), stored content-addressed and chunked. */
  body?: string;
}

export interface LogRecord extends Common {
  kind: "log";
  level: LogLevel;
  msg: string;
  spanId?: string;
  parentSpanId?: string;
}

export interface SpanOpenRecord extends Common {
  kind: "span-open";
  spanId: string;
  name: string;
  parentSpanId?: string;
  links?: SpanLink[];
}

export interface SpanCloseRecord extends Common {
  kind: "span-close";
  spanId: string;
  name: string;
  durationMs: number;
  status: SpanStatus;
  parentSpanId?: string;
  links?: SpanLink[];
}

export type TraceRecord = LogRecord | SpanOpenRecord | SpanCloseRecord;
export type RecordKind = TraceRecord["kind"];

/** A record as read back: the record as given, plus its id (and, once retention evicts it, no body). */
export type StoredRecord = TraceRecord & {
  id: string;
  bodyEvicted?: true;
  /** With `bodies: "sizes"`: the UTF-8 size of the record's body (evicted or not), which is not returned. */
  bodyBytes?: number;
};

export interface InsertResult {
  inserted: number;
  duplicates: number;
}

export interface TurnOptions {
  /**
   * Return bodies (default true). `false` gives thin records and does no body I/O at all; `"sizes"`
   * gives thin records with each body's size (`bodyBytes`, and `bodyEvicted`), read without its chunks.
   */
  bodies?: boolean | "sizes";
}

export interface Query {
  /** Inclusive lower bound on `timestamp`. */
  from?: number;
  /** Exclusive upper bound on `timestamp`. */
  to?: number;
  turnId?: string;
  conversationId?: string;
  kind?: string;
  extensionId?: string;
  name?: string;
  level?: string;
  status?: string;
  /** At most this many records; no limit means every match. */
  limit?: number;
  /** By (timestamp, seq) ascending (default) or descending. */
  order?: "asc" | "desc";
  /** As in `TurnOptions`: bodies (default), `false` for none, `"sizes"` for each body's size only. */
  bodies?: boolean | "sizes";
}

/** `store.search`'s options (README "Search", docs/search.md). */
export interface SearchOptions {
  /** Inclusive lower bound on `timestamp`. */
  from?: number;
  /** Exclusive upper bound on `timestamp`. */
  to?: number;
  turnId?: string;
  conversationId?: string;
  extensionId?: string;
  kind?: string;
  /** At most this many hits: default 50, at most 1,000. */
  limit?: number;
  /** By (timestamp, seq): newest first (`desc`, the default) or oldest first. */
  order?: "asc" | "desc";
}

/** Where a hit's first match is: the body, a log's message, a span's name or an attribute value. */
export type SearchWhere = "body" | "msg" | "name" | "attributes";

export interface SearchHit {
  recordId: string;
  /** The record's turn ("" for a record without one). */
  turnId: string;
  conversationId?: string;
  timestamp: number;
  /** The span's name; a log's is "". */
  name: string;
  /** The span's id, or the span a log was written in (when it names one). */
  spanId?: string;
  kind: string;
  where: SearchWhere;
  /** Text around the first match (at most about 200 characters), `…` where it was cut. */
  snippet: string;
}

export interface SearchResult {
  hits: SearchHit[];
  /** More records match than `limit`. */
  truncated: boolean;
}

export interface StoreStats {
  hotRecords: number;
  coldRecords: number;
  coldPartitions: number;
  /** Distinct bodies (not chunks). */
  bodies: number;
  /** Bytes the body store really holds for them (chunks, inline bodies and body manifests). */
  bodyBytesStored: number;
  /** Their UTF-8 bytes. */
  bodyBytesOriginal: number;
  /** Bytes of WAL segments on disk. */
  walBytes: number;
  /** Bytes of the cold tier's Parquet files (as written). */
  coldBytes: number;
  /**
   * Memory held by the cold tier's lookup filters: every file's turn filter, and the record-id filters
   * of the files read lately (those are bounded: 32 MiB).
   */
  coldFilterBytes: number;
  /** WAL fsyncs since the store opened, and the time they took in all (ms). */
  walSyncs: number;
  walSyncMs: number;
}

export type Durability = "sync" | "interval" | "none";

export interface StoreOptions {
  /** The store's directory; created if missing. */
  dir: string;
  /**
   * - `sync` (default): every acknowledged batch is fsynced; concurrent callers share fsyncs.
   * - `interval`: fsync every `syncIntervalMs`; a power loss may lose that window.
   * - `none`: the OS decides; a power loss may lose anything not yet written back.
   */
  durability?: Durability;
  /** Fsync period under `durability: "interval"`, in ms. Default 100. */
  syncIntervalMs?: number;
  /** A WAL segment rolls over past this size. Default 32 MiB. */
  walSegmentBytes?: number;
  /** Bytes of decoded body chunks (as text) kept in memory for reads. Default 64 MiB; 0 turns the cache off. */
  chunkCacheBytes?: number;
  /** Content-defined chunking parameters for bodies (defaults in docs/decisions.md). */
  chunking?: Readonly<Partial<ChunkingOptions>>;
}

export interface ChunkingOptions {
  /** Bodies of at most this many UTF-8 bytes are stored whole, uncompressed. Default 1024. */
  inlineMax: number;
  minSize: number;
  avgSize: number;
  maxSize: number;
}

/** Which turns `turns()` lists (GET /v1/turns); every filter is optional. */
export interface TurnsQuery {
  /** Turns that started at or after this time (ms since the epoch). */
  from?: number;
  /** Turns that started before this time (exclusive). */
  to?: number;
  extensionId?: string;
  conversationId?: string;
  /** Only turns with an error span or an error log. */
  errors?: boolean;
  /** Only turns with an LLM call to this model (`gen_ai.request.model` or `gen_ai.response.model`). */
  model?: string;
  /** Turns per page: default 50, at most 1,000. */
  limit?: number;
  /** By start time: newest first (`desc`, the default) or oldest first. */
  order?: "asc" | "desc";
  /** The `nextCursor` of the previous page: the page after it. */
  cursor?: string;
}

/** One turn, summed over every record it has in both tiers. */
export interface TurnSummary {
  turnId: string;
  extensionId: string;
  conversationId?: string;
  /** The root span's name (a span with no parent in the turn), when there is one. */
  name?: string;
  /** The first and last record's timestamps (ms). */
  start: number;
  end: number;
  /** The root span's duration when it closed; otherwise `end - start`. */
  durationMs: number;
  records: number;
  /** Distinct span ids. */
  spans: number;
  logs: number;
  /** Spans closed with status `error`, and logs at level `error`. */
  errors: number;
  /** Models named by `gen_ai.request.model` / `gen_ai.response.model`, sorted. */
  models: string[];
  /** Sums of `gen_ai.usage.input_tokens` (or `prompt_tokens`) and `output_tokens` (or `completion_tokens`). */
  inputTokens: number;
  outputTokens: number;
}

export interface TurnsPage {
  turns: TurnSummary[];
  /** Present when more turns match: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

/** Token usage by day (UTC) and model (GET /v1/usage). */
export interface UsageQuery {
  from?: number;
  to?: number;
  extensionId?: string;
}

export interface UsageRow {
  /** YYYY-MM-DD, UTC. */
  date: string;
  model: string;
  /** LLM calls: spans (turn and span id) whose records name the model or carry tokens, dated by their start. */
  calls: number;
  inputTokens: number;
  outputTokens: number;
}

export interface UsageReport {
  /** By date, then model. */
  rows: UsageRow[];
}

/** One message of an LLM request, as the request diff shows it. */
export interface DiffMessage {
  /** Its position in its request's `messages`. */
  index: number;
  role: string;
  /** The message as the request had it (text, or content parts, tool calls, tool results). */
  message: unknown;
}

/** What an LLM request changed since the previous request in its conversation (GET /v1/records/:id/diff). */
export interface RequestDiff {
  recordId: string;
  /**
   * The previous request in the conversation with a stored body; absent when none was found (the
   * first request, or none in the conversation's 64 newest turns). `evicted`: the nearest earlier
   * request of the same name lost its body to retention, so there is nothing to compare.
   */
  previous?: { recordId: string; turnId?: string; timestamp: number; evicted?: true };
  /** `messages`: both bodies are LLM requests and are compared by message; `text`: compared as text. */
  format: "messages" | "text";
  added: DiffMessage[];
  removed: DiffMessage[];
  edited: Array<{ before: DiffMessage; after: DiffMessage }>;
  /** Messages the two requests share unchanged. */
  unchanged: number;
  /** Top-level fields other than `messages` whose values differ (`model`, `system`, `tools`, …). */
  changedFields: string[];
  /** Text format only: the common prefix and suffix lengths (UTF-16 units) and the new middle. */
  text?: { prefix: number; suffix: number; inserted: string; deleted: string };
}
