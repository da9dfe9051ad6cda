/**
 * The turns list (`turns`) and token usage (`usage`) over both tiers.
 *
 * Each source (a cold file, the hot tier) has a part: its turns summed as if it held them whole
 * (turn-parts.ts). A cold file's part is computed once, from a few of its columns, and kept while the
 * manifest lists the file (files are immutable); the parts of all listed files are merged into the cold
 * index, kept for the manifest generation. The hot tier's part is kept until the next write touching
 * hot records (HotTier.recordWriteCount), which compaction's and retention's deletes are too.
 *
 * A turn held by one source is exactly its part. A turn held by several is ordered and filtered by its
 * merged parts (start, extension, conversation, errors and models merge exactly) and, where its counts
 * are shown or its calls summed, recomputed from its records with `Reader.turnRecords`, as getTurn
 * reads them: each record once, whichever tiers hold it. Such turns are few (those crossing a file's
 * hour, or in both tiers), and their recomputations are kept for as long as their sources are.
 *
 * The hot part is taken before the manifest: compaction lists a file (step 2) before it deletes the
 * moved records from the hot tier (step 3), so every record is in one snapshot or the other.
 */

import { dateOf } from "../../tiers/cold/layout.js";
import type { Manifest } from "../../tiers/cold/manifest.js";
import { coldFilePart } from "../../tiers/cold/summaries.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { ClosedError, InvalidOptionError } from "../base/errors.js";
import type { TurnSummary, TurnsPage, TurnsQuery, UsageQuery, UsageReport, UsageRow } from "../types.js";
import type { Reader } from "./reader.js";
import { hotPart, type SourcePart, type TurnPart } from "./turn-parts.js";
import { type Call, callsOf, summarize } from "./turn-summary.js";

export const DEFAULT_TURNS_LIMIT = 50;
export const MAX_TURNS_LIMIT = 1000;
/** The source name of the hot tier among a turn's sources (cold files are named by their file name). */
const HOT = "hot";
/** Recomputed turns kept (each a summary and its calls: well under a KB). */
const EXACT_CACHE_TURNS = 50_000;

/** One turn as the index knows it: its merged parts. */
interface Entry {
  turnId: string;
  start: number;
  extensionId: string;
  conversationId?: string;
  errors: number;
  models: string[];
  /** The sources holding it (cold file names, HOT), in the order they were merged. */
  sources: string[];
  /** Its part, when one source holds it (then it is exact). */
  part?: TurnPart;
}

interface ColdIndex {
  /** By (start, turnId) ascending. */
  entries: Entry[];
  byTurn: Map<string, Entry>;
  loose: Call[];
}

export class TurnLister {
  private readonly hot: HotTier;
  private readonly cold: ColdTier;
  private readonly reader: Reader;
  private readonly fileParts = new Map<string, Promise<SourcePart>>();
  private hotCache: { writes: number; part: Promise<SourcePart> } | undefined;
  private coldCache: { manifest: Manifest; index: Promise<ColdIndex> } | undefined;
  private readonly exact = new Map<string, { sources: string; writes: number; part: TurnPart }>();
  private closed = false;

  constructor(hot: HotTier, cold: ColdTier, reader: Reader) {
    this.hot = hot;
    this.cold = cold;
    this.reader = reader;
  }

  /** The store is closing: an index being built stops at its next file. */
  close(): void {
    this.closed = true;
  }

  async turns(q: TurnsQuery): Promise<TurnsPage> {
    checkTurnsQuery(q);
    const limit = q.limit ?? DEFAULT_TURNS_LIMIT;
    const desc = q.order !== "asc";
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const { entries } = await this.snapshot();
    const picked: Entry[] = [];
    let more = false;
    for (const e of walk(entries, desc, after)) {
      if (!matchesTurn(e, q)) continue;
      if (picked.length === limit) {
        more = true;
        break;
      }
      picked.push(e);
    }
    const turns: TurnSummary[] = [];
    for (const e of picked) turns.push((await this.partOf(e)).summary);
    const last = picked.at(-1);
    return more && last ? { turns, nextCursor: encodeCursor(last.start, last.turnId) } : { turns };
  }

  async usage(q: UsageQuery): Promise<UsageReport> {
    checkUsageQuery(q);
    const { entries, loose } = await this.snapshot();
    const rows = new Map<string, UsageRow>();
    const add = (c: Call) => {
      if (q.extensionId !== undefined && c.extensionId !== q.extensionId) return;
      if ((q.from !== undefined && c.ts < q.from) || (q.to !== undefined && c.ts >= q.to)) return;
      const date = dateOf(c.ts);
      const key = `${date}\u0000${c.model}`;
      let row = rows.get(key);
      if (row === undefined) {
        row = { date, model: c.model, calls: 0, inputTokens: 0, outputTokens: 0 };
        rows.set(key, row);
      }
      row.calls++;
      row.inputTokens += c.inputTokens;
      row.outputTokens += c.outputTokens;
    };
    for (const c of loose) add(c);
    for (const e of entries) for (const c of (await this.partOf(e)).calls) add(c);
    const sorted = [...rows.values()].sort((a, b) =>
      a.date === b.date ? compareText(a.model, b.model) : compareText(a.date, b.date),
    );
    return { rows: sorted };
  }

  /**
   * Computes what the next request needs, so that it is fast (the collector calls it at start, in the
   * background): every cold file's part and the turns spread over several files.
   */
  async warm(): Promise<void> {
    const { entries } = await this.snapshot();
    for (const e of entries) if (e.part === undefined) await this.partOf(e);
  }

  /** Every turn of both tiers, by (start, turnId) ascending, and the loose calls of both. */
  private async snapshot(): Promise<{ entries: Entry[]; loose: Call[] }> {
    // the hot part first: see the module comment
    const hot = await this.hotSnapshot();
    const cold = await this.coldIndex();
    if (hot.turns.size === 0) return { entries: cold.entries, loose: [...cold.loose, ...hot.loose] };
    const merged: Entry[] = [];
    for (const [turnId, part] of hot.turns) {
      const known = cold.byTurn.get(turnId);
      const own = entryOf(turnId, HOT, part);
      merged.push(
        known ? mergeEntry({ ...known, models: [...known.models], sources: [...known.sources] }, own) : own,
      );
    }
    merged.sort(compareEntries);
    const shadowed = new Set(merged.map((e) => e.turnId));
    const entries = mergeSorted(
      cold.entries.filter((e) => !shadowed.has(e.turnId)),
      merged,
    );
    return { entries, loose: [...cold.loose, ...hot.loose] };
  }

  private hotSnapshot(): Promise<SourcePart> {
    const writes = this.hot.recordWriteCount;
    if (this.hotCache?.writes === writes) return this.hotCache.part;
    const part = hotPart(this.hot);
    const cache = { writes, part };
    this.hotCache = cache;
    // kept only if no write touched records while it was read (it may have seen either side of one)
    part.then(
      () => {
        if (this.hot.recordWriteCount !== writes && this.hotCache === cache) this.hotCache = undefined;
      },
      () => {
        if (this.hotCache === cache) this.hotCache = undefined;
      },
    );
    return part;
  }

  private coldIndex(): Promise<ColdIndex> {
    const manifest = this.cold.manifest;
    if (this.coldCache?.manifest === manifest) return this.coldCache.index;
    const listed = new Set(manifest.files.map((f) => f.name));
    for (const name of [...this.fileParts.keys()]) if (!listed.has(name)) this.fileParts.delete(name);
    const index = this.buildColdIndex(manifest);
    const cache = { manifest, index };
    this.coldCache = cache;
    index.catch(() => {
      if (this.coldCache === cache) this.coldCache = undefined;
    });
    return index;
  }

  private async buildColdIndex(manifest: Manifest): Promise<ColdIndex> {
    const byTurn = new Map<string, Entry>();
    const loose: Call[] = [];
    for (const f of manifest.files) {
      if (this.closed) throw new ClosedError();
      const part = await this.filePart(f.name, manifest);
      loose.push(...part.loose);
      for (const [turnId, p] of part.turns) {
        const own = entryOf(turnId, f.name, p);
        const known = byTurn.get(turnId);
        byTurn.set(turnId, known ? mergeEntry(known, own) : own);
      }
    }
    const entries = [...byTurn.values()].sort(compareEntries);
    return { entries, byTurn, loose };
  }

  private filePart(name: string, manifest: Manifest): Promise<SourcePart> {
    const known = this.fileParts.get(name);
    if (known) return known;
    const f = manifest.files.find((x) => x.name === name)!;
    const part = coldFilePart(this.cold, f);
    this.fileParts.set(name, part);
    part.catch(() => {
      if (this.fileParts.get(name) === part) this.fileParts.delete(name); // a failure may be transient
    });
    return part;
  }

  /** The turn's exact part: its only source's, or recomputed from its records (kept while its sources are). */
  private async partOf(e: Entry): Promise<TurnPart> {
    if (e.part) return e.part;
    const sources = e.sources.join("\u0000");
    const writes = e.sources.includes(HOT) ? this.hot.recordWriteCount : 0;
    const known = this.exact.get(e.turnId);
    if (known && known.sources === sources && known.writes === writes) return known.part;
    const records = await this.reader.turnRecords(e.turnId);
    const part: TurnPart =
      records.length > 0
        ? { summary: summarize(e.turnId, records), calls: callsOf(records) }
        : { summary: emptySummary(e), calls: [] }; // all of it deleted since the snapshot
    if (this.exact.size >= EXACT_CACHE_TURNS) this.exact.delete(this.exact.keys().next().value!);
    this.exact.set(e.turnId, { sources, writes, part });
    return part;
  }
}

function emptySummary(e: Entry): TurnSummary {
  return {
    turnId: e.turnId,
    extensionId: e.extensionId,
    start: e.start,
    end: e.start,
    durationMs: 0,
    records: 0,
    spans: 0,
    logs: 0,
    errors: 0,
    models: [],
    inputTokens: 0,
    outputTokens: 0,
  };
}

function entryOf(turnId: string, source: string, part: TurnPart): Entry {
  const s = part.summary;
  const e: Entry = {
    turnId,
    start: s.start,
    extensionId: s.extensionId,
    errors: s.errors,
    models: s.models,
    sources: [source],
    part,
  };
  if (s.conversationId !== undefined) e.conversationId = s.conversationId;
  return e;
}

/**
 * Merges `b` into `a` (mutating `a`): the earliest part names the extension (a turn's first record
 * does), the earliest with a conversation names it; errors and models add up (a record in both tiers
 * may count twice, but only whether there are any is read from the index).
 */
function mergeEntry(a: Entry, b: Entry): Entry {
  const bFirst = b.start < a.start;
  if (bFirst) {
    a.start = b.start;
    a.extensionId = b.extensionId;
  }
  if (b.conversationId !== undefined && (a.conversationId === undefined || bFirst))
    a.conversationId = b.conversationId;
  a.errors += b.errors;
  a.models = [...new Set([...a.models, ...b.models])].sort();
  a.sources.push(...b.sources);
  a.part = undefined;
  return a;
}

function compareEntries(a: Entry, b: Entry): number {
  return a.start - b.start || compareText(a.turnId, b.turnId);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function mergeSorted(a: Entry[], b: Entry[]): Entry[] {
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && compareEntries(a[i]!, b[j]!) <= 0)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/** The entries after the cursor position, in the query's order (binary search to the first). */
function* walk(entries: Entry[], desc: boolean, after: Cursor | undefined): Generator<Entry> {
  // first index whose key is > cursor (ascending order)
  let lo = 0;
  let hi = entries.length;
  if (after !== undefined) {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = entries[mid]!;
      const c = e.start - after.start || compareText(e.turnId, after.turnId);
      if (c <= 0) lo = mid + 1;
      else hi = mid;
    }
  }
  if (!desc) {
    for (let i = after === undefined ? 0 : lo; i < entries.length; i++) yield entries[i]!;
    return;
  }
  // descending: the last index whose key is < cursor
  let start = entries.length - 1;
  if (after !== undefined) {
    start = lo - 1;
    while (start >= 0 && entries[start]!.start === after.start && entries[start]!.turnId === after.turnId)
      start--;
  }
  for (let i = start; i >= 0; i--) yield entries[i]!;
}

function matchesTurn(e: Entry, q: TurnsQuery): boolean {
  if (q.from !== undefined && e.start < q.from) return false;
  if (q.to !== undefined && e.start >= q.to) return false;
  if (q.extensionId !== undefined && e.extensionId !== q.extensionId) return false;
  if (q.conversationId !== undefined && e.conversationId !== q.conversationId) return false;
  if (q.errors === true && e.errors === 0) return false;
  return q.model === undefined || e.models.includes(q.model);
}

interface Cursor {
  start: number;
  turnId: string;
}

/** The position after a turn, opaque to callers: base64url of `[start, turnId]`. */
function encodeCursor(start: number, turnId: string): string {
  return Buffer.from(JSON.stringify([start, turnId])).toString("base64url");
}

function decodeCursor(text: string): Cursor {
  let v: unknown;
  try {
    v = /^[A-Za-z0-9_-]+$/.test(text)
      ? JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
      : undefined;
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isFinite(v[0]) || typeof v[1] !== "string")
    throw new InvalidOptionError(
      "query.cursor",
      "is not a cursor this store gave (pass a page's nextCursor)",
    );
  return { start: v[0] as number, turnId: v[1] };
}

function checkBounds(q: { from?: unknown; to?: unknown; extensionId?: unknown }): void {
  for (const bound of ["from", "to"] as const) {
    const v = q[bound];
    if (v !== undefined && (typeof v !== "number" || Number.isNaN(v)))
      throw new InvalidOptionError(`query.${bound}`, "must be a number of ms since the epoch");
  }
  if (q.extensionId !== undefined && typeof q.extensionId !== "string")
    throw new InvalidOptionError("query.extensionId", "must be a string");
}

function checkTurnsQuery(q: TurnsQuery): void {
  if (typeof q !== "object" || q === null) throw new InvalidOptionError("query", "must be an object");
  checkBounds(q);
  for (const f of ["conversationId", "model", "cursor"] as const) {
    if (q[f] !== undefined && typeof q[f] !== "string")
      throw new InvalidOptionError(`query.${f}`, "must be a string");
  }
  if (q.errors !== undefined && typeof q.errors !== "boolean")
    throw new InvalidOptionError("query.errors", "must be true or false");
  if (q.limit !== undefined && !(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= MAX_TURNS_LIMIT))
    throw new InvalidOptionError("query.limit", `must be an integer from 1 to ${MAX_TURNS_LIMIT}`);
  if (q.order !== undefined && q.order !== "asc" && q.order !== "desc")
    throw new InvalidOptionError("query.order", 'must be "asc" or "desc"');
}

function checkUsageQuery(q: UsageQuery): void {
  if (typeof q !== "object" || q === null) throw new InvalidOptionError("query", "must be an object");
  checkBounds(q);
}
