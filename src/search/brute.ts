/**
 * Search by brute force: every record in range, every text matched (src/search/match.ts). The oracle of
 * the search tests and the bench's baseline; also where the search options are validated and hits are
 * built, for src/search/search.ts to reuse.
 */
import { InvalidOptionError } from "../base/errors.js";
import type { TraceStore } from "../store.js";
import type { Query, SearchHit, SearchOptions, SearchResult, StoredRecord } from "../types.js";
import { matchRecord, type RecordMatch, type SearchableRecord } from "./match.js";
import { parseQuery, type SearchQuery } from "./query.js";

export const DEFAULT_SEARCH_LIMIT = 50;
export const MAX_SEARCH_LIMIT = 1000;

/** Search options checked, with the defaults filled in. */
export type CheckedSearchOptions = SearchOptions & Required<Pick<SearchOptions, "limit" | "order">>;

const STRING_OPTIONS = ["turnId", "conversationId", "extensionId", "kind"] as const;

/** Validates `store.search`'s options: `InvalidOptionError` naming the option, else the options with defaults. */
export function checkSearchOptions(opts: SearchOptions | undefined = {}): CheckedSearchOptions {
  if (opts === null || typeof opts !== "object") throw new InvalidOptionError("opts", "must be an object");
  const out: CheckedSearchOptions = { limit: DEFAULT_SEARCH_LIMIT, order: "desc" };
  for (const key of ["from", "to"] as const) {
    const v: unknown = opts[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new InvalidOptionError(key, "must be a finite number (ms since the epoch)");
    }
    out[key] = v;
  }
  for (const key of STRING_OPTIONS) {
    const v: unknown = opts[key];
    if (v === undefined) continue;
    if (typeof v !== "string") throw new InvalidOptionError(key, "must be a string");
    out[key] = v;
  }
  const limit: unknown = opts.limit;
  if (limit !== undefined) {
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
      throw new InvalidOptionError("limit", `must be an integer from 1 to ${MAX_SEARCH_LIMIT}`);
    }
    out.limit = limit;
  }
  const order: unknown = opts.order;
  if (order !== undefined) {
    if (order !== "asc" && order !== "desc") throw new InvalidOptionError("order", 'must be "asc" or "desc"');
    out.order = order;
  }
  return out;
}

/** The texts a stored record offers to search (an evicted body offers none). */
export function searchableOf(r: StoredRecord): SearchableRecord {
  const s: SearchableRecord = {};
  if (r.kind === "log") s.msg = r.msg;
  else s.name = r.name;
  if (r.attributes !== undefined) s.attributes = r.attributes;
  if (r.body !== undefined && r.bodyEvicted !== true) s.body = r.body;
  return s;
}

/** The hit for a matched record. */
export function hitOf(r: StoredRecord, m: RecordMatch): SearchHit {
  const hit: SearchHit = {
    recordId: r.id,
    turnId: r.turnId ?? "",
    timestamp: r.timestamp,
    name: r.kind === "log" ? "" : r.name,
    kind: r.kind,
    where: m.where,
    snippet: m.snippet,
  };
  if (r.conversationId !== undefined) hit.conversationId = r.conversationId;
  if (r.spanId !== undefined) hit.spanId = r.spanId;
  return hit;
}

/** Whether the record passes the options' filters (time range, turn, conversation, extension, kind). */
export function passesFilters(
  r: Pick<StoredRecord, "timestamp" | "turnId" | "conversationId" | "extensionId" | "kind">,
  o: CheckedSearchOptions,
): boolean {
  return (
    (o.from === undefined || r.timestamp >= o.from) &&
    (o.to === undefined || r.timestamp < o.to) &&
    (o.turnId === undefined || r.turnId === o.turnId) &&
    (o.conversationId === undefined || r.conversationId === o.conversationId) &&
    (o.extensionId === undefined || r.extensionId === o.extensionId) &&
    (o.kind === undefined || r.kind === o.kind)
  );
}

function queryOf(q: string | SearchQuery): SearchQuery {
  return typeof q === "string" ? parseQuery(q) : q;
}

/**
 * Searches the records by matching each one. They are taken to be in store order ((timestamp, seq)
 * ascending, as `store.query` returns them); hits come by timestamp in `order`, ties in store order
 * (reversed for `desc`).
 */
export async function bruteSearch(
  records: readonly StoredRecord[] | AsyncIterable<StoredRecord> | Iterable<StoredRecord>,
  q: string | SearchQuery,
  opts?: SearchOptions,
): Promise<SearchResult> {
  const query = queryOf(q);
  const o = checkSearchOptions(opts);
  const list: StoredRecord[] = [];
  for await (const r of records) if (passesFilters(r, o)) list.push(r);
  // Stable: ties keep store order.
  const sorted = list.map((r, i) => ({ r, i })).sort((a, b) => a.r.timestamp - b.r.timestamp || a.i - b.i);
  if (o.order === "desc") sorted.reverse();
  const acc = new HitCollector(query, o.limit);
  for (const { r } of sorted) if (!acc.offer(r)) break;
  return acc.result();
}

/** Gathers hits up to the limit, and one match more to know the result is truncated. */
class HitCollector {
  private readonly hits: SearchHit[] = [];
  private truncated = false;
  constructor(
    private readonly query: SearchQuery,
    private readonly limit: number,
  ) {}

  /** Matches the record; false once the result is complete (limit reached and one more match seen). */
  offer(r: StoredRecord): boolean {
    const m = matchRecord(this.query, searchableOf(r));
    if (m === undefined) return true;
    if (this.hits.length === this.limit) {
      this.truncated = true;
      return false;
    }
    this.hits.push(hitOf(r, m));
    return true;
  }

  result(): SearchResult {
    return { hits: this.hits, truncated: this.truncated };
  }
}

/** Body bytes read per `store.query` call of `bruteSearchStore` (bounds its memory). */
const WINDOW_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Searches the store by brute force: every record the filters select, read with its body through
 * `store.query`, in windows of whole timestamps of about 64 MiB of bodies (sizes read first, without
 * chunks), so memory stays bounded and the scan stops once the limit is passed.
 */
export async function bruteSearchStore(
  store: TraceStore,
  q: string,
  opts?: SearchOptions,
  windowBytes = WINDOW_BODY_BYTES,
): Promise<SearchResult> {
  const query = parseQuery(q);
  const o = checkSearchOptions(opts);
  const filters: Query = { order: o.order };
  for (const key of ["from", "to", "turnId", "conversationId", "extensionId", "kind"] as const) {
    if (o[key] !== undefined) (filters as Record<string, unknown>)[key] = o[key];
  }
  const sized = await store.query({ ...filters, bodies: "sizes" });
  const acc = new HitCollector(query, o.limit);
  for (const [lo, hi] of windows(sized, windowBytes)) {
    const records = await store.query({ ...filters, from: lo, to: hi + 1, bodies: true });
    for (const r of records) if (!acc.offer(r)) return acc.result();
  }
  return acc.result();
}

/**
 * Timestamp ranges [lo, hi] (inclusive) covering the records, in their order, each holding about
 * `windowBytes` of bodies and never splitting a timestamp (a window query must return whole ties).
 */
function windows(records: readonly StoredRecord[], windowBytes: number): [number, number][] {
  const out: [number, number][] = [];
  let bytes = 0;
  let first: number | undefined;
  let last = 0;
  for (const r of records) {
    if (first !== undefined && bytes >= windowBytes && r.timestamp !== last) {
      out.push([Math.min(first, last), Math.max(first, last)]);
      first = undefined;
      bytes = 0;
    }
    first ??= r.timestamp;
    last = r.timestamp;
    bytes += r.bodyBytes ?? 0;
  }
  if (first !== undefined) out.push([Math.min(first, last), Math.max(first, last)]);
  return out;
}
