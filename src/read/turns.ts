/**
 * The turns list (`turns`) and token usage (`usage`) over both tiers.
 *
 * Each source (a cold file, the hot tier) has a part: its turns summed as if it held them whole
 * (turn-parts.ts). A cold file's part is computed once, from a few of its columns, and kept while the
 * manifest lists the file (files are immutable); the parts of all listed files are merged into the cold
 * index, kept for the manifest generation. The hot tier's part is kept up to date turn by turn: every
 * write names the turns whose records it puts or deletes (HotTier.onTurnWrite; compaction's and
 * retention's deletes too), and the next request re-reads just those turns (a full scan after a reopen
 * or a write of very many turns).
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
import type { ColdFile, Manifest } from "../../tiers/cold/manifest.js";
import { coldFilePart } from "../../tiers/cold/summaries.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { ClosedError, InvalidOptionError } from "../base/errors.js";
import type { TurnSummary, TurnsPage, TurnsQuery, UsageQuery, UsageReport, UsageRow } from "../types.js";
import type { Reader } from "./reader.js";
import { hotPart, type SourcePart, type TurnPart, turnPart } from "./turn-parts.js";
import { type Call, callsOf, summarize } from "./turn-summary.js";

export const DEFAULT_TURNS_LIMIT = 50;
export const MAX_TURNS_LIMIT = 1000;
/** The source name of the hot tier among a turn's sources (cold files are named by their file name). */
const HOT = "hot";
const DAY_MS = 86_400_000;
/** Recomputed turns kept (each a summary and its calls: well under a KB). */
const EXACT_CACHE_TURNS = 50_000;
/** Past this many turns written since the last request, the hot part is read again whole. */
const FULL_SCAN_TURNS = 2000;
/** Marked turns re-read at once. */
const REREAD_AT_ONCE = 16;

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
  /** Its hot part, if the hot tier holds it (a recomputation holds while this does). */
  hot?: TurnPart;
}

interface ColdIndex {
  /** By (start, turnId) ascending. */
  entries: Entry[];
  byTurn: Map<string, Entry>;
  loose: Call[];
  /** The seqs of `loose` (records without a turn), made when first needed. */
  looseSeqs?: Set<number | undefined>;
}

export class TurnLister {
  private readonly cold: ColdTier;
  private readonly reader: Reader;
  private readonly fileParts = new Map<string, Promise<SourcePart>>();
  private readonly hotTurns: HotTurns;
  private build: Build | undefined;
  /** The last index finished, and its manifest: the next one is made from it (updateColdIndex). */
  private last: { manifest: Manifest; index: ColdIndex } | undefined;
  /** The merged view of both tiers, for a cold index and a hot version. */
  private view: { index: ColdIndex; hotVersion: number; view: View } | undefined;
  private readonly exact = new Map<string, { sources: string; hot?: TurnPart; part: TurnPart }>();
  private closed = false;

  constructor(hot: HotTier, cold: ColdTier, reader: Reader) {
    this.cold = cold;
    this.reader = reader;
    this.hotTurns = new HotTurns(hot);
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
    const build = this.coldBuild();
    if (!build.finished && !build.incremental && desc && q.from === undefined && q.to === undefined) {
      const page = await this.partialPage(q, build);
      if (page) return page;
    }
    const view = await this.snapshot();
    const picked: Entry[] = [];
    let more = false;
    for (const e of walkView(view, desc, startAt(after, q, desc))) {
      // past the range's far end (start order): nothing further matches
      if (desc ? q.from !== undefined && e.start < q.from : q.to !== undefined && e.start >= q.to) break;
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
    const view = await this.snapshot();
    const rows = new UsageRows(q);
    for (const c of view.loose) rows.add(c);
    for (const e of everyEntry(view)) for (const c of (e.part ?? (await this.partOf(e))).calls) rows.add(c);
    return { rows: rows.sorted() };
  }

  /**
   * Computes what the next request needs, so that it is fast (the collector calls it at start, in the
   * background): every cold file's part and the turns spread over several files.
   */
  async warm(): Promise<void> {
    for (const e of everyEntry(await this.snapshot())) if (e.part === undefined) await this.partOf(e);
  }

  /**
   * After maintenance changed the cold tier: brings the index up to the new manifest (reading the new
   * files' parts) before a request asks, if the list has been used since the open (a store whose
   * turns are never listed never reads the columns).
   */
  async refresh(): Promise<void> {
    if (this.build !== undefined) await this.warm();
  }

  /** Every turn of both tiers, and the loose calls of both. */
  private async snapshot(): Promise<View> {
    // the hot part first: see the module comment
    const hot = await this.hotTurns.current();
    const index = await this.coldIndex();
    const known = this.view;
    if (known?.index === index && known.hotVersion === hot.version) return known.view;
    const view = mergeHot(index, hot.turns, hot.loose);
    this.view = { index, hotVersion: hot.version, view };
    return view;
  }

  private coldIndex(): Promise<ColdIndex> {
    return this.coldBuild().index;
  }

  /** The cold index of the current manifest, built (or being built) newest file first. */
  private coldBuild(): Build {
    const manifest = this.cold.manifest;
    if (this.build?.manifest === manifest) return this.build;
    const listed = new Set(manifest.files.map((f) => f.name));
    for (const name of [...this.fileParts.keys()]) if (!listed.has(name)) this.fileParts.delete(name);
    const build = new Build(manifest);
    this.build = build;
    const last = this.last;
    build.incremental = last !== undefined;
    build.index = last ? this.updateColdIndex(last, build) : this.buildColdIndex(build);
    build.index.then(
      (index) => {
        if (this.build === build) this.last = { manifest, index };
      },
      () => {},
    );
    build.index.catch(() => {
      if (this.build === build) this.build = undefined;
    });
    return build;
  }

  /**
   * The index of a new manifest from the previous one: the turns of the files added or removed are
   * merged again from the parts of their sources (files are immutable: every other turn is as it was),
   * and the sorted list is the old one less those turns, merged with them. A compaction every few
   * minutes then costs its own files, not the month's.
   */
  private async updateColdIndex(
    last: { manifest: Manifest; index: ColdIndex },
    build: Build,
  ): Promise<ColdIndex> {
    const { manifest } = build;
    const before = new Set(last.manifest.files.map((f) => f.name));
    const listed = new Set(manifest.files.map((f) => f.name));
    const removed = new Set([...before].filter((n) => !listed.has(n)));
    const added = manifest.files.filter((f) => !before.has(f.name));
    const affected = new Map<string, string[]>(); // turn -> its sources now
    for (const f of added) {
      if (this.closed) throw new ClosedError();
      for (const turnId of (await this.filePart(f.name, manifest)).turns.keys()) {
        const sources =
          affected.get(turnId) ?? last.index.byTurn.get(turnId)?.sources.filter((n) => listed.has(n)) ?? [];
        affected.set(turnId, [...sources, f.name]);
      }
    }
    if (removed.size > 0)
      for (const e of last.index.entries)
        if (!affected.has(e.turnId) && e.sources.some((n) => removed.has(n)))
          affected.set(
            e.turnId,
            e.sources.filter((n) => listed.has(n)),
          );
    const byTurn = new Map(last.index.byTurn);
    const changed: Entry[] = [];
    for (const [turnId, sources] of affected) {
      let entry: Entry | undefined;
      for (const name of sources) {
        const part = (await this.filePart(name, manifest)).turns.get(turnId);
        if (part === undefined) continue;
        const own = entryOf(turnId, name, part);
        entry = entry ? mergeEntry(entry, own) : own;
      }
      if (entry === undefined) byTurn.delete(turnId);
      else {
        byTurn.set(turnId, entry);
        changed.push(entry);
      }
    }
    const loose: Call[] = [];
    for (const f of manifest.files) loose.push(...(await this.filePart(f.name, manifest)).loose);
    const kept = last.index.entries.filter((e) => !affected.has(e.turnId));
    const entries = mergeSorted(kept, changed.sort(compareEntries));
    build.finished = { entries, byTurn, loose };
    return build.finished;
  }

  private async buildColdIndex(build: Build): Promise<ColdIndex> {
    const { byTurn, loose } = build;
    try {
      for (const f of build.order) {
        if (this.closed) throw new ClosedError();
        const part = await this.filePart(f.name, build.manifest);
        loose.push(...part.loose);
        for (const [turnId, p] of part.turns) {
          const own = entryOf(turnId, f.name, p);
          const known = byTurn.get(turnId);
          byTurn.set(turnId, known ? mergeEntry(known, own) : own);
        }
        build.advance();
      }
    } catch (err) {
      build.fail(err);
      throw err;
    }
    const entries = [...byTurn.values()].sort(compareEntries);
    build.finished = { entries, byTurn, loose };
    build.advance();
    return build.finished;
  }

  /**
   * A newest-first page while the cold index is still being built (the first request after an open):
   * files are read newest first, so once every file whose records reach past U is read, a turn that
   * started after U is whole unless an unread file holds some of it. Its turn filters name the unread
   * files that may (a false positive now and then): those are read out of turn (their parts are kept
   * for the build) and merged in; a turn they hold started before U and leaves the page. The page is
   * the finished index's page once `limit + 1` whole turns after U match; otherwise it waits for more
   * files (twice as many each time, so the retries cost no more than the build).
   */
  private async partialPage(q: TurnsQuery, build: Build): Promise<TurnsPage | undefined> {
    const limit = q.limit ?? DEFAULT_TURNS_LIMIT;
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    for (;;) {
      if (build.finished) return undefined;
      const done = build.done;
      const hot = await this.hotTurns.current();
      // the hot part must be taken before the manifest (module comment): a commit since, and the full path answers
      if (this.cold.manifest !== build.manifest) return undefined;
      const bound = build.bound();
      const unread = build.order.slice(done);
      const picked: Entry[] = [];
      for (const e of this.partialCandidates(build, hot.turns, bound, after)) {
        const whole = await this.withUnread(e, unread, build.manifest);
        if (whole.start <= bound || !matchesTurn(whole, q)) continue;
        picked.push(whole);
        if (picked.length > limit) break;
      }
      if (picked.length > limit || bound === Number.NEGATIVE_INFINITY) {
        const turns: TurnSummary[] = [];
        for (const e of picked.slice(0, limit)) turns.push((await this.partOf(e)).summary);
        const last = picked[limit - 1];
        return picked.length > limit && last
          ? { turns, nextCursor: encodeCursor(last.start, last.turnId) }
          : { turns };
      }
      const until = Math.max(done + 1, done * 2);
      while (!build.finished && build.done < until) await build.tick;
    }
  }

  /** Turns (merged with their hot parts) that started after `bound` and before the cursor, newest first. */
  private partialCandidates(
    build: Build,
    hot: Map<string, TurnPart>,
    bound: number,
    after: Cursor | undefined,
  ): Entry[] {
    const out: Entry[] = [];
    const consider = (e: Entry) => {
      if (e.start <= bound) return;
      if (after && (e.start - after.start || compareText(e.turnId, after.turnId)) >= 0) return;
      out.push(e);
    };
    for (const [turnId, part] of hot) {
      const known = build.byTurn.get(turnId);
      const own = entryOf(turnId, HOT, part);
      own.hot = part;
      consider(known ? mergeEntry(copyEntry(known), own) : own);
    }
    for (const e of build.byTurn.values()) if (!hot.has(e.turnId)) consider(e);
    return out.sort((a, b) => compareEntries(b, a));
  }

  /** The entry with the parts of the unread files its turn filters name (read now, kept for the build). */
  private async withUnread(e: Entry, unread: readonly ColdFile[], manifest: Manifest): Promise<Entry> {
    let whole = e;
    for (const f of this.cold.filesOfTurn(e.turnId, unread)) {
      const part = (await this.filePart(f.name, manifest)).turns.get(e.turnId);
      if (part === undefined) continue; // a false positive of the filter
      if (whole === e) whole = copyEntry(e);
      mergeEntry(whole, entryOf(e.turnId, f.name, part));
    }
    return whole;
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
    const known = this.exact.get(e.turnId);
    if (known && known.sources === sources && known.hot === e.hot) return known.part;
    const records = await this.reader.turnRecords(e.turnId);
    const part: TurnPart =
      records.length > 0
        ? { summary: summarize(e.turnId, records), calls: callsOf(records) }
        : { summary: emptySummary(e), calls: [] }; // all of it deleted since the snapshot
    if (this.exact.size >= EXACT_CACHE_TURNS) this.exact.delete(this.exact.keys().next().value!);
    this.exact.set(e.turnId, { sources, hot: e.hot, part });
    return part;
  }
}

/** A cold index being built, newest file first: what is read so far, and a promise per file read. */
class Build {
  readonly manifest: Manifest;
  /** The listed files by their newest record, newest first. */
  readonly order: ColdFile[];
  /** Files of `order` read so far. */
  done = 0;
  /** Made from the previous index (updateColdIndex): no file-by-file progress, no partial pages. */
  incremental = false;
  readonly byTurn = new Map<string, Entry>();
  readonly loose: Call[] = [];
  index!: Promise<ColdIndex>;
  finished: ColdIndex | undefined;
  /** Settles when another file has been read (or the build failed). */
  tick: Promise<void>;
  private settle!: { resolve: () => void; reject: (err: unknown) => void };

  constructor(manifest: Manifest) {
    this.manifest = manifest;
    this.order = [...manifest.files].sort((a, b) => b.maxTs - a.maxTs);
    this.tick = this.nextTick();
  }

  private nextTick(): Promise<void> {
    const tick = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    tick.catch(() => {}); // a failed build is reported by its index
    return tick;
  }

  advance(): void {
    if (!this.finished) this.done++;
    const { resolve } = this.settle;
    this.tick = this.nextTick();
    resolve();
  }

  fail(err: unknown): void {
    this.settle.reject(err);
  }

  /** No unread file holds a record newer than this. */
  bound(): number {
    return this.order[this.done]?.maxTs ?? Number.NEGATIVE_INFINITY;
  }
}

/** Usage rows by (day, model), as calls are added (a day's date text is made once). */
class UsageRows {
  private readonly q: UsageQuery;
  private readonly byDay = new Map<number, Map<string, UsageRow>>();

  constructor(q: UsageQuery) {
    this.q = q;
  }

  add(c: Call): void {
    const q = this.q;
    if (q.extensionId !== undefined && c.extensionId !== q.extensionId) return;
    if ((q.from !== undefined && c.ts < q.from) || (q.to !== undefined && c.ts >= q.to)) return;
    const day = Math.floor(c.ts / DAY_MS);
    let models = this.byDay.get(day);
    if (models === undefined) {
      models = new Map();
      this.byDay.set(day, models);
    }
    let row = models.get(c.model);
    if (row === undefined) {
      row = { date: dateOf(c.ts), model: c.model, calls: 0, inputTokens: 0, outputTokens: 0 };
      models.set(c.model, row);
    }
    row.calls++;
    row.inputTokens += c.inputTokens;
    row.outputTokens += c.outputTokens;
  }

  sorted(): UsageRow[] {
    const rows = [...this.byDay.values()].flatMap((m) => [...m.values()]);
    return rows.sort((a, b) => compareText(a.date, b.date) || compareText(a.model, b.model));
  }
}

/**
 * The hot tier's turns, kept current: writes mark the turns they touch (HotTier.onTurnWrite), and
 * `current()` re-reads those before it answers. A request waits only for the marks made before it
 * started (`marked`), so a steady stream of writes cannot keep it waiting.
 */
class HotTurns {
  private readonly hot: HotTier;
  private turns = new Map<string, TurnPart>();
  private loose: Call[] = [];
  /** Turns written since the last update: whether a record was put, and the seqs deleted. */
  private readonly dirty = new Map<string, { put: boolean; deleted: Set<number> }>();
  /** Everything must be read again (nothing read yet, a reopen, a failed update, too many marks). */
  private all = true;
  /** Marks made, and marks whose turns have been read since. */
  private marked = 1;
  private applied = 0;
  /** Bumped whenever the turns change (the merged view is kept per version). */
  version = 0;
  private updating: Promise<void> | undefined;

  constructor(hot: HotTier) {
    this.hot = hot;
    hot.onTurnWrite = (write) => {
      this.marked++;
      if (write === undefined || this.dirty.size >= FULL_SCAN_TURNS) {
        this.all = true;
        this.dirty.clear();
      } else if (!this.all) {
        let d = this.dirty.get(write.turnId);
        if (d === undefined) {
          d = { put: false, deleted: new Set() };
          this.dirty.set(write.turnId, d);
        }
        if (write.put) d.put = true;
        else d.deleted.add(write.seq);
      }
    };
  }

  async current(): Promise<{ version: number; turns: Map<string, TurnPart>; loose: Call[] }> {
    const wanted = this.marked;
    while (this.applied < wanted) {
      this.updating ??= this.update().finally(() => {
        this.updating = undefined;
      });
      await this.updating;
    }
    return { version: this.version, turns: this.turns, loose: this.loose };
  }

  private async update(): Promise<void> {
    const upTo = this.marked;
    const all = this.all;
    const dirty = [...this.dirty];
    this.all = false;
    this.dirty.clear();
    try {
      if (all) {
        const part = await hotPart(this.hot);
        this.turns = part.turns;
        this.loose = part.loose;
      } else {
        const turns = new Map(this.turns); // a view handed out keeps the map it was built from
        // a few reads at a time: LevelDB serves them on its thread pool (a compaction marks hundreds)
        // a turn whose every record was deleted (compaction moved it) is gone: no read
        const reads = dirty.filter(([turnId, d]) => !this.allDeleted(turns.get(turnId), d, turns, turnId));
        for (let i = 0; i < reads.length; i += REREAD_AT_ONCE)
          await Promise.all(reads.slice(i, i + REREAD_AT_ONCE).map(([t]) => this.reread(t, turns)));
        this.turns = turns;
      }
    } catch (err) {
      this.all = true; // the marks taken are lost: read everything next time
      throw err;
    }
    this.applied = upTo;
    this.version++;
  }

  /** True (and the turn dropped from `turns`) when the write deleted every record the part holds. */
  private allDeleted(
    part: TurnPart | undefined,
    d: { put: boolean; deleted: Set<number> },
    turns: Map<string, TurnPart>,
    turnId: string,
  ): boolean {
    if (d.put || part?.seqs === undefined || !part.seqs.every((seq) => d.deleted.has(seq))) return false;
    turns.delete(turnId);
    return true;
  }

  private async reread(turnId: string, turns: Map<string, TurnPart>): Promise<void> {
    const records = [];
    for await (const r of this.hot.turn(turnId)) records.push(r);
    if (turnId === "") this.loose = callsOf(records);
    else if (records.length === 0) turns.delete(turnId);
    else turns.set(turnId, turnPart(turnId, records, true));
  }
}

/**
 * Both tiers' turns: the cold index as it is, less the turns the hot tier also holds (`shadowed`), and
 * those turns, merged with their cold parts, sorted apart (`hot`). A write costs a sort of the hot
 * turns, not a copy of the cold index; a walk merges the two lists as it goes (walkView).
 */
interface View {
  /** By (start, turnId) ascending. */
  cold: Entry[];
  hot: Entry[];
  shadowed: Map<string, unknown>;
  loose: Call[];
}

function mergeHot(cold: ColdIndex, hot: Map<string, TurnPart>, hotLoose: Call[]): View {
  // a record without a turn in both tiers (between compaction's steps 2 and 3) counts once
  cold.looseSeqs ??= new Set(cold.loose.map((c) => c.seq));
  const seqs = cold.looseSeqs;
  const hotOnly = hotLoose.filter((c) => !seqs.has(c.seq));
  const loose = hotOnly.length === 0 ? cold.loose : [...cold.loose, ...hotOnly];
  const merged: Entry[] = [];
  for (const [turnId, part] of hot) {
    const known = cold.byTurn.get(turnId);
    const own = entryOf(turnId, HOT, part);
    own.hot = part;
    merged.push(
      known ? mergeEntry({ ...known, models: [...known.models], sources: [...known.sources] }, own) : own,
    );
  }
  merged.sort(compareEntries);
  return { cold: cold.entries, hot: merged, shadowed: hot, loose };
}

/** Every turn of a view, in no particular order. */
function* everyEntry(v: View): Generator<Entry> {
  for (const e of v.cold) if (!v.shadowed.has(e.turnId)) yield e;
  yield* v.hot;
}

/** A view's turns after the cursor position, in the query's order: its two lists merged as it goes. */
function* walkView(v: View, desc: boolean, after: Cursor | undefined): Generator<Entry> {
  const cold = walk(v.cold, desc, after);
  const hot = walk(v.hot, desc, after);
  const nextCold = () => {
    for (let c = cold.next(); ; c = cold.next()) if (c.done || !v.shadowed.has(c.value.turnId)) return c;
  };
  let a = nextCold();
  let b = hot.next();
  while (!a.done || !b.done) {
    const takeCold = b.done || (!a.done && compareEntries(a.value, b.value) < 0 !== desc);
    if (takeCold) {
      yield a.value as Entry;
      a = nextCold();
    } else {
      yield b.value as Entry;
      b = hot.next();
    }
  }
}

function copyEntry(e: Entry): Entry {
  return { ...e, models: [...e.models], sources: [...e.sources] };
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
  a.hot ??= b.hot;
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

/**
 * Where the walk starts: after the cursor, or at the range's near end if that comes first (turn ids
 * are never empty, so (to, "") sorts before every turn that started at `to`, and (from, "") before
 * every turn that started at `from`).
 */
function startAt(after: Cursor | undefined, q: TurnsQuery, desc: boolean): Cursor | undefined {
  const edge = desc ? q.to : q.from;
  if (edge === undefined || Number.isNaN(edge)) return after;
  const at = { start: edge, turnId: "" };
  if (after === undefined) return at;
  const c = after.start - at.start || compareText(after.turnId, at.turnId);
  return desc === c < 0 ? after : at;
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
