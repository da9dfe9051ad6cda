/**
 * `store.search`: the query plan over both tiers. The indexes only propose candidates (they may hold
 * false ones: hashed terms, chunks shared by bodies, records that moved tier); every candidate is read
 * and verified against its texts (match.ts), so the answer is exact whatever the indexes say, as long as
 * they never miss a record (which the model tests check against a brute-force scan).
 *
 * Plan:
 * 1. Of the query's positive words that an index can look up, the *driver* is the one with the fewest
 *    postings. A word may be in a record's body (the chunk index: chunks → bodies → records) or in its
 *    other texts (the hot records' in-memory index, the cold files' sidecars).
 * 2. If there is a driver and it is not too common, the candidates are the records it names; else
 *    (every word common, or too long to be indexed, or an index still being built) every record in the
 *    range is a candidate: a scan.
 * 3. Candidates are read and verified in the requested order, the hot tier's and each cold file's side by
 *    side, and the search stops once `limit` + 1 hits are in hand and nothing unread can sort before them.
 *    A common word thus costs a few pages of the newest records, not the whole range.
 */
import type { ColdFile } from "../../tiers/cold/manifest.js";
import { timeKey } from "../../tiers/hot/keys.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { decodeRecordValue, type HotRecord } from "../../tiers/hot/values.js";
import type { Reader } from "../read/reader.js";
import type { SearchHit, SearchOptions, SearchResult } from "../types.js";
import {
  type CheckedSearchOptions,
  checkSearchOptions,
  hitOf,
  passesFilters,
  searchableOf,
} from "./brute.js";
import type { HotKey, HotRecordIndex } from "./hot-records.js";
import { matchRecord } from "./match.js";
import { parseQuery, type QueryTerm, type SearchQuery } from "./query.js";
import { MAX_TOKEN_UNITS, termOf } from "./text.js";

/** The body side of the index (src/search/chunks/: each stored chunk once, chunks → bodies). */
export interface BodyIndex {
  /** False while the index is being built (an upgraded store): body words are then found by a scan. */
  readonly complete: boolean;
  /** Resolves once every batch applied before the call is searchable. */
  caughtUp(): Promise<void>;
  /** Docs (8-byte hash prefixes of chunks or inline bodies) whose text may hold `term`; never misses. */
  docsOf(term: number): Promise<Buffer[]>;
  /** The bodies (8-byte hash prefixes) holding any of these docs. */
  bodiesOf(docs: readonly Buffer[]): Promise<Buffer[]>;
}

/** A cold file's sidecar (tiers/cold/sidecar.ts): which of its rows may hold a term or a body. */
export interface ColdFileIndex {
  rowsOfTerm(term: number): Uint32Array;
  rowsOfBodies(prefixes: readonly Buffer[]): Uint32Array;
}

/** What a search asks of the cold tier (ColdTier has it). */
export interface ColdSearch {
  readonly manifest: object;
  /** Live files whose [minTs, maxTs] meets [from, to). */
  searchFiles(from?: number, to?: number): ColdFile[];
  /** The file's sidecar; undefined when it has none (yet): the file is then read whole. */
  fileIndex(file: ColdFile): Promise<ColdFileIndex | undefined>;
  readRows(file: ColdFile, rows: readonly number[]): Promise<HotRecord[]>;
  rangeRecords(files: readonly ColdFile[], from: number, to: number): Promise<HotRecord[]>;
}

export interface SearchDeps {
  hot: HotTier;
  cold: ColdSearch;
  reader: Reader;
  chunks: BodyIndex;
  hotText: HotRecordIndex;
}

export { MAX_SEARCH_LIMIT } from "./brute.js";

/**
 * A driver naming more docs than this is "common": reading the newest records finds its hits sooner
 * than listing the bodies of its docs (a LevelDB range read per doc, 0.1–0.3 ms each; a word in 344
 * chunks took 90 ms there, against 30 ms reading the newest 128 records).
 */
const MAX_DRIVER_DOCS = 200;
/** …or more bodies than this. */
const MAX_DRIVER_BODIES = 20_000;
/** …or more hot records with it in their texts than this (a name:, model: or attr. word has no docs). */
const MAX_DRIVER_HOT = 20_000;
/** Words looked up to choose the driver, at most. */
const MAX_DRIVER_TRIES = 8;
/** A word this rare is driver enough: the others are not looked up. */
const RARE_ENOUGH = 8;
/** Records read and verified at a time from the hot tier. */
const PAGE = 64;

/** The checked options, with the time range closed by infinities. */
interface Filters extends CheckedSearchOptions {
  from: number;
  to: number;
  desc: boolean;
}

export async function search(
  deps: SearchDeps,
  q: string,
  options: SearchOptions = {},
): Promise<SearchResult> {
  const query = parseQuery(q);
  const f = filtersOf(checkSearchOptions(options));
  await deps.chunks.caughtUp();
  let result: SearchResult | undefined;
  for (let attempt = 0; result === undefined; attempt++) {
    const manifest = deps.cold.manifest;
    await deps.hotText.ready();
    const hotVersion = deps.hotText.version;
    const run = new Run(deps, query, f);
    if (f.turnId !== undefined) await run.verify(await deps.reader.turnRecords(f.turnId));
    else await run.collect(await plan(deps, query, f));
    // A compaction that committed during the run may have moved a candidate out of the hot tier after
    // the run listed the cold files: run again over the new manifest (the reader's rule, "hot first,
    // then the manifest", cannot hold when both are read side by side). So does a reopen of the hot
    // tier, which empties the hot records' index for a new pass.
    const stable = deps.cold.manifest === manifest && deps.hotText.version === hotVersion;
    if (stable || attempt >= MAX_ATTEMPTS) result = run.result();
  }
  return result;
}

/** Runs tried when compactions keep committing under a search (each moves a window of records). */
const MAX_ATTEMPTS = 4;

function filtersOf(o: CheckedSearchOptions): Filters {
  return {
    ...o,
    from: o.from ?? Number.NEGATIVE_INFINITY,
    to: o.to ?? Number.POSITIVE_INFINITY,
    desc: o.order === "desc",
  };
}

/** What to read: every record in range (a scan), or the candidates one driver word names. */
type Plan =
  | { scan: true }
  | { scan: false; term: number; hot: HotKey[]; bodies: Buffer[]; bodySide: boolean };

interface Driver {
  term: number;
  bodySide: boolean;
  docs: Buffer[];
  cost: number;
}

async function plan(deps: SearchDeps, query: SearchQuery, f: Filters): Promise<Plan> {
  const driver = await pickDriver(deps, query);
  if (driver === undefined) return { scan: true };
  let bodies: Buffer[] = [];
  let hot: HotKey[] = deps.hotText.lookup(driver.term, f.from, f.to);
  if (driver.bodySide) {
    bodies = await deps.chunks.bodiesOf(driver.docs);
    if (bodies.length > MAX_DRIVER_BODIES) return { scan: true };
    hot = hot.concat(deps.hotText.recordsOfBodies(bodies, f.from, f.to));
  }
  return { scan: false, term: driver.term, hot, bodies, bodySide: driver.bodySide };
}

/**
 * The positive word with the fewest postings among those an index can answer: a word of a field
 * (name:, model:, attr.) is in record texts only; a free word may also be in a body, which needs the
 * chunk index to be complete. Undefined when no word qualifies or the best is too common.
 */
async function pickDriver(deps: SearchDeps, query: SearchQuery): Promise<Driver | undefined> {
  let best: Driver | undefined;
  for (const { term, bodySide } of driverCandidates(deps, query)) {
    const docs = bodySide ? await deps.chunks.docsOf(term) : [];
    const cost = docs.length + deps.hotText.count(term);
    if (best === undefined || cost < best.cost) best = { term, bodySide, docs, cost };
    if (best.cost <= RARE_ENOUGH) break;
  }
  if (best === undefined || best.docs.length > MAX_DRIVER_DOCS) return undefined;
  return deps.hotText.count(best.term) > MAX_DRIVER_HOT ? undefined : best;
}

/**
 * The positive words an index can look up, each once, longest first (long words tend to be rare), at
 * most MAX_DRIVER_TRIES of them: a query of hundreds of common words costs a few lookups, not hundreds.
 */
function driverCandidates(deps: SearchDeps, query: SearchQuery): { term: number; bodySide: boolean }[] {
  const seen = new Map<string, { term: number; bodySide: boolean; length: number }>();
  for (const t of query.terms) {
    if (t.negated) continue;
    const bodySide = isFree(t);
    if (bodySide && !deps.chunks.complete) continue;
    for (const token of t.tokens) {
      if (token.length > MAX_TOKEN_UNITS) continue;
      const term = termOf(token);
      const key = `${bodySide ? "b" : "r"}${term}`;
      if (!seen.has(key)) seen.set(key, { term, bodySide, length: token.length });
    }
  }
  return [...seen.values()].sort((a, b) => b.length - a.length).slice(0, MAX_DRIVER_TRIES);
}

const isFree = (t: QueryTerm) => t.field === "any";

/** One source of candidates in the requested order: the hot tier, or one cold file. */
interface Source {
  /** No record this source has not yet given sorts before this timestamp (in the requested order). */
  bound: number;
  /** The next records (at least one, unless done), in the requested order. */
  next(): Promise<HotRecord[]>;
  done: boolean;
}

class Run {
  private readonly deps: SearchDeps;
  private readonly query: SearchQuery;
  private readonly f: Filters;
  private readonly hits: { r: HotRecord; hit: SearchHit }[] = [];
  private readonly seen = new Set<string>();

  constructor(deps: SearchDeps, query: SearchQuery, f: Filters) {
    this.deps = deps;
    this.query = query;
    this.f = f;
  }

  /** Reads sources best-bound first until the hits in hand cannot be beaten by anything unread. */
  async collect(plan: Plan): Promise<void> {
    const sources = [this.hotSource(plan), ...(await this.coldSources(plan))];
    for (;;) {
      const live = sources.filter((s) => !s.done);
      if (live.length === 0) return;
      live.sort((a, b) => this.before(a.bound, b.bound));
      const next = live[0]!;
      if (this.enough(next.bound)) return;
      await this.verify(await next.next());
    }
  }

  /** -1 when timestamp a comes first in the requested order. */
  private before(a: number, b: number): number {
    return this.f.desc ? b - a : a - b;
  }

  /** limit + 1 hits are in hand and the last of them sorts strictly before `bound`. */
  private enough(bound: number): boolean {
    if (this.hits.length <= this.f.limit) return false;
    this.sortHits();
    return this.before(this.hits[this.f.limit]!.r.record.timestamp, bound) < 0;
  }

  private sortHits(): void {
    const sign = this.f.desc ? -1 : 1;
    this.hits.sort((a, b) => sign * (a.r.record.timestamp - b.r.record.timestamp || a.r.seq - b.r.seq));
  }

  /** Verifies records (filters first, then the query on their texts) and keeps the hits. */
  async verify(records: HotRecord[]): Promise<void> {
    const wanted = records.filter((r) => this.passes(r));
    // a page of bodies at a time: a cold file's candidates can be thousands of large bodies
    for (let i = 0; i < wanted.length; i += PAGE) {
      const page = wanted.slice(i, i + PAGE);
      const full = await this.deps.reader.hydrate(page, true);
      page.forEach((r, j) => {
        const match = matchRecord(this.query, searchableOf(full[j]!));
        if (match !== undefined) this.hits.push({ r, hit: hitOf(full[j]!, match) });
      });
      this.trimHits();
    }
  }

  /** Keeps the best limit + 1 hits (all an answer needs), so a common word's scan holds no more. */
  private trimHits(): void {
    if (this.hits.length <= 2 * (this.f.limit + 1)) return;
    this.sortHits();
    this.hits.length = this.f.limit + 1;
  }

  /** The filters, and each record once (a record being compacted can be in both tiers). */
  private passes(r: HotRecord): boolean {
    if (!passesFilters(r.record, this.f) || this.seen.has(r.id)) return false;
    this.seen.add(r.id);
    return true;
  }

  result(): SearchResult {
    this.sortHits();
    return {
      hits: this.hits.slice(0, this.f.limit).map((h) => h.hit),
      truncated: this.hits.length > this.f.limit,
    };
  }

  /** The hot tier's candidates: the plan's (read by key), or every hot record in range (a scan). */
  private hotSource(plan: Plan): Source {
    const pages = plan.scan ? this.hotScan() : this.hotCandidates(plan.hot);
    return pagedSource(pages, this.f.desc);
  }

  private async *hotScan(): AsyncGenerator<HotRecord[]> {
    const { hot } = this.deps;
    const f = this.f;
    const from = keyBound(f.from);
    const to = keyBound(f.to);
    const records =
      f.conversationId !== undefined
        ? hot.byConversation(f.conversationId, from, to, f.desc)
        : hot.byTime(from, to, f.desc);
    let page: HotRecord[] = [];
    for await (const r of records) {
      page.push(r);
      if (page.length >= PAGE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /** Candidate keys, deduplicated, in order, read a page at a time (`t` → `r` → value). */
  private async *hotCandidates(keys: HotKey[]): AsyncGenerator<HotRecord[]> {
    const sign = this.f.desc ? -1 : 1;
    const sorted = dedupKeys(keys).sort((a, b) => sign * (a.ts - b.ts || a.seq - b.seq));
    for (let i = 0; i < sorted.length; i += PAGE) {
      const page = sorted.slice(i, i + PAGE);
      const { hot } = this.deps;
      const recordKeys = await hot.getMany(page.map((k) => timeKey(k.ts, k.seq)));
      const present = recordKeys.filter((k): k is Buffer => k !== undefined);
      const values = await hot.getMany(present);
      const out: HotRecord[] = [];
      values.forEach((v, j) => {
        if (v !== undefined) out.push(decodeRecordValue(v, present[j]));
      });
      yield out;
    }
  }

  /** One source per cold file in range: its candidate rows (from its sidecar), or all its rows. */
  private async coldSources(plan: Plan): Promise<Source[]> {
    const { cold } = this.deps;
    const files = cold.searchFiles(this.f.from, this.f.to);
    return files.map((file) => fileSource(file, this.f.desc, () => this.fileRecords(file, plan)));
  }

  private async fileRecords(file: ColdFile, plan: Plan): Promise<HotRecord[]> {
    const { cold } = this.deps;
    const index = plan.scan ? undefined : await cold.fileIndex(file);
    if (plan.scan || index === undefined) return cold.rangeRecords([file], this.f.from, this.f.to);
    const rows = new Set<number>(index.rowsOfTerm(plan.term));
    if (plan.bodySide) for (const row of index.rowsOfBodies(plan.bodies)) rows.add(row);
    if (rows.size === 0) return [];
    return cold.readRows(
      file,
      [...rows].sort((a, b) => a - b),
    );
  }
}

/** A source over pages that come in order: its bound is the next unread record's timestamp. */
function pagedSource(pages: AsyncGenerator<HotRecord[]>, desc: boolean): Source {
  let buffered: HotRecord[] | undefined;
  const source: Source = {
    bound: desc ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY,
    done: false,
    next: async () => {
      const page = buffered ?? (await pull());
      buffered = await pull(); // its first record bounds what is left
      if (buffered === undefined) source.done = true;
      else source.bound = buffered[0]!.record.timestamp;
      return page ?? [];
    },
  };
  const pull = async (): Promise<HotRecord[] | undefined> => {
    for (;;) {
      const r = await pages.next();
      if (r.done) return undefined;
      if (r.value.length > 0) return r.value;
    }
  };
  return source;
}

/** A cold file read whole (its candidates) at once; bounded by its time range until then. */
function fileSource(file: ColdFile, desc: boolean, read: () => Promise<HotRecord[]>): Source {
  const source: Source = {
    bound: desc ? file.maxTs : file.minTs,
    done: false,
    next: async () => {
      source.done = true;
      return read();
    },
  };
  return source;
}

function dedupKeys(keys: HotKey[]): HotKey[] {
  const seen = new Set<number>();
  return keys.filter((k) => !seen.has(k.seq) && seen.add(k.seq) !== undefined);
}

/** As Reader's: an integer key bound for a time bound, open beyond the safe integers. */
function keyBound(v: number): number | undefined {
  const n = Math.ceil(v);
  return Number.isSafeInteger(n) ? n : undefined;
}
