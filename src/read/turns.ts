/**
 * The turns list (`turns`) and token usage (`usage`) over both tiers.
 *
 * Each source (a cold file, the hot tier) has a part: its turns summed as if it held them whole
 * (turn-parts.ts). A cold file's part is computed once, from a few of its columns, and kept while the
 * manifest lists the file (files are immutable); the parts of all listed files are merged into the cold
 * index, kept for the manifest generation. The hot tier's part is kept up to date turn by turn: every
 * write names the turns whose records it puts or deletes (HotTier.watchRecords; compaction's and
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

import type { ColdFile, Manifest } from "../../tiers/cold/manifest.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import type { HotTier } from "../../tiers/hot/tier.js";
import { ClosedError } from "../base/errors.js";
import type { TurnSummary, TurnsPage, TurnsQuery, UsageQuery, UsageReport } from "../types.js";
import { coldFilePart } from "./cold-part.js";
import type { Reader } from "./reader.js";
import { type SourcePart, type TurnPart, turnPart } from "./turn-parts.js";
import type { Call } from "./turn-summary.js";
import { HotTurns } from "./turns-hot.js";
import {
  Build,
  type ColdIndex,
  compareEntries,
  copyEntry,
  type Entry,
  entryOf,
  everyEntry,
  HOT,
  matchesTurn,
  mergeEntry,
  mergeHot,
  mergeSorted,
  startAt,
  type View,
  walkView,
} from "./turns-index.js";
import {
  type Cursor,
  checkTurnsQuery,
  checkUsageQuery,
  compareText,
  DEFAULT_TURNS_LIMIT,
  decodeCursor,
  encodeCursor,
} from "./turns-query.js";
import { UsageRows } from "./usage-rows.js";

/** Recomputed turns kept (each a summary and its calls: well under a KB). */
const EXACT_CACHE_TURNS = 50_000;

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
  private readonly exact = new Map<string, { sources: string; hot?: TurnPart; part: TurnPart | undefined }>();
  /** The names the current manifest lists (a part of a file it does not list is never kept). */
  private listed: { manifest: Manifest; names: Set<string> } | undefined;
  /** The warm-up in progress, for its manifest (a refresh during it joins it). */
  private warming: { manifest: Manifest; run: Promise<void> } | undefined;
  private closed = false;

  constructor(hot: HotTier, cold: ColdTier, reader: Reader) {
    this.cold = cold;
    this.reader = reader;
    this.hotTurns = new HotTurns(hot);
  }

  /** The store is closing: an index being built, a warm-up or a usage report stops at its next step. */
  close(): void {
    this.closed = true;
  }

  async turns(q: TurnsQuery): Promise<TurnsPage> {
    checkTurnsQuery(q);
    const limit = q.limit ?? DEFAULT_TURNS_LIMIT;
    const desc = q.order !== "asc";
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const build = this.coldBuild();
    if (!build.finished && !build.incremental && desc && q.to === undefined) {
      const page = await this.partialPage(q, build, limit, after).catch((err: unknown) => {
        // a build the manifest has moved past may have lost a file: the full path answers
        if (this.closed || this.cold.manifest === build.manifest) throw err;
        return undefined;
      });
      if (page) return page;
    }
    const { picked, more } = await this.pick(q, limit, desc, after);
    return this.page(picked, more);
  }

  /**
   * The ids of the turns a query picks, without their summaries (no turn is recomputed): for a caller
   * that reads the turns' records itself (the request diff).
   */
  async turnIds(q: TurnsQuery): Promise<string[]> {
    checkTurnsQuery(q);
    const desc = q.order !== "asc";
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const { picked } = await this.pick(q, q.limit ?? DEFAULT_TURNS_LIMIT, desc, after);
    return picked.map((e) => e.turnId);
  }

  /** Up to `limit` turns matching `q` after the cursor, from the whole index, and whether more match. */
  private async pick(
    q: TurnsQuery,
    limit: number,
    desc: boolean,
    after: Cursor | undefined,
  ): Promise<{ picked: Entry[]; more: boolean }> {
    const view = await this.snapshot();
    const picked: Entry[] = [];
    for (const e of walkView(view, desc, startAt(after, q, desc))) {
      // past the range's far end (start order): nothing further matches
      if (desc ? q.from !== undefined && e.start < q.from : q.to !== undefined && e.start >= q.to) break;
      if (!matchesTurn(e, q)) continue;
      if (picked.length === limit) return { picked, more: true };
      picked.push(e);
    }
    return { picked, more: false };
  }

  /**
   * The page of the turns picked: their exact summaries, less any turn wholly deleted since the
   * snapshot; the cursor is after the last picked (deleted or not), so the next page goes on from it.
   */
  private async page(picked: readonly Entry[], more: boolean): Promise<TurnsPage> {
    const turns: TurnSummary[] = [];
    for (const e of picked) {
      const part = await this.partOf(e);
      if (part !== undefined) turns.push(part.summary);
    }
    const last = picked.at(-1);
    return more && last ? { turns, nextCursor: encodeCursor(last.start, last.turnId) } : { turns };
  }

  async usage(q: UsageQuery): Promise<UsageReport> {
    checkUsageQuery(q);
    const view = await this.snapshot();
    const rows = new UsageRows(q);
    for (const c of view.loose) rows.add(c);
    for (const e of everyEntry(view)) {
      if (e.part === undefined && this.closed) throw new ClosedError();
      for (const c of (e.part ?? (await this.partOf(e)))?.calls ?? []) rows.add(c);
    }
    return { rows: rows.sorted() };
  }

  /**
   * Computes what the next request needs, so that it is fast (the collector calls it at start, in the
   * background, outside any request): every cold file's part and the turns spread over several files.
   * It stops, quietly, once maintenance has changed the manifest (the refresh that follows warms the
   * new one), and with ERR_CLOSED once the store is closing.
   */
  warm(): Promise<void> {
    const manifest = this.cold.manifest;
    if (this.warming?.manifest === manifest) return this.warming.run;
    const run = this.warmFor(manifest).finally(() => {
      if (this.warming?.run === run) this.warming = undefined;
    });
    this.warming = { manifest, run };
    return run;
  }

  private async warmFor(manifest: Manifest): Promise<void> {
    try {
      for (const e of everyEntry(await this.snapshot())) {
        if (this.closed) throw new ClosedError();
        if (this.cold.manifest !== manifest) return;
        if (e.part === undefined) await this.partOf(e);
      }
    } catch (err) {
      if (this.closed) throw new ClosedError();
      if (this.cold.manifest !== manifest) return; // a file it was reading may be gone: not an error
      throw err;
    }
  }

  /**
   * After maintenance changed the cold tier: brings the index up to the new manifest (reading the new
   * files' parts) before a request asks, if the list has been used since the open (a store whose
   * turns are never listed never reads the columns).
   */
  async refresh(): Promise<void> {
    if (this.build !== undefined) await this.warm();
  }

  /**
   * Every turn of both tiers, and the loose calls of both. A build the manifest has moved past stops
   * (it may have lost a file to maintenance): the snapshot is taken again, of the new manifest.
   */
  private async snapshot(): Promise<View> {
    for (;;) {
      // the hot part first: see the module comment
      const hot = await this.hotTurns.current();
      const build = this.coldBuild();
      const index = await build.index.catch((err: unknown) => {
        if (this.closed) throw new ClosedError();
        if (this.cold.manifest === build.manifest) throw err;
        return undefined;
      });
      if (index !== undefined) return this.viewOf(index, hot);
    }
  }

  private viewOf(
    index: ColdIndex,
    hot: { version: number; turns: Map<string, TurnPart>; loose: Call[] },
  ): View {
    const known = this.view;
    if (known?.index === index && known.hotVersion === hot.version) return known.view;
    const view = mergeHot(index, hot.turns, hot.loose);
    this.view = { index, hotVersion: hot.version, view };
    return view;
  }

  /** The cold index of the current manifest, built (or being built) newest file first. */
  private coldBuild(): Build {
    const manifest = this.cold.manifest;
    if (this.build?.manifest === manifest) return this.build;
    const listed = this.listedNames();
    for (const name of [...this.fileParts.keys()]) if (!listed.has(name)) this.fileParts.delete(name);
    const last = this.last;
    const build = new Build(manifest, last !== undefined, (b) =>
      last ? this.updateColdIndex(last, b) : this.buildColdIndex(b),
    );
    this.build = build;
    build.index.then(
      (index) => {
        if (this.build === build) this.last = { manifest, index };
      },
      () => {
        if (this.build === build) this.build = undefined; // the next request builds again
      },
    );
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
      this.check(build);
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
    return build.finish({ entries, byTurn, loose });
  }

  private async buildColdIndex(build: Build): Promise<ColdIndex> {
    const { byTurn, loose } = build;
    try {
      for (const f of build.order) {
        this.check(build);
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
    return build.finish({ entries, byTurn, loose });
  }

  /**
   * A newest-first page while the cold index is still being built (the first request after an open):
   * files are read newest first, so once every file whose records reach past U is read, a turn that
   * started after U is whole unless an unread file holds some of it. Its turn filters name the unread
   * files that may (a false positive now and then): those are read out of turn (their parts are kept
   * for the build) and merged in; a turn they hold started before U and leaves the page. The page is
   * the finished index's page once `limit + 1` whole turns after U match, or once U is before the
   * query's `from` (a turn that started at or after it has no record in an unread file); otherwise it
   * waits for more files (twice as many each time, so the retries cost no more than the build).
   */
  private async partialPage(
    q: TurnsQuery,
    build: Build,
    limit: number,
    after: Cursor | undefined,
  ): Promise<TurnsPage | undefined> {
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
      // every unread file older than `from`: no turn it holds a record of can be listed
      if (
        picked.length > limit ||
        bound === Number.NEGATIVE_INFINITY ||
        (q.from !== undefined && bound < q.from)
      ) {
        return this.page(picked.slice(0, limit), picked.length > limit);
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

  /** A build stops once the store is closing, or once the manifest it builds for is no longer current. */
  private check(build: Build): void {
    if (this.closed) throw new ClosedError();
    if (this.cold.manifest !== build.manifest) throw new Superseded();
  }

  private listedNames(): Set<string> {
    const manifest = this.cold.manifest;
    if (this.listed?.manifest !== manifest)
      this.listed = { manifest, names: new Set(manifest.files.map((f) => f.name)) };
    return this.listed.names;
  }

  /** A file's part, kept while the current manifest lists the file (a superseded build's are not). */
  private filePart(name: string, manifest: Manifest): Promise<SourcePart> {
    const known = this.fileParts.get(name);
    if (known) return known;
    const f = manifest.files.find((x) => x.name === name)!;
    const part = coldFilePart(this.cold, f);
    if (!this.listedNames().has(name)) return part;
    this.fileParts.set(name, part);
    const forget = () => {
      if (this.fileParts.get(name) === part) this.fileParts.delete(name);
    };
    part.then(() => {
      if (!this.listedNames().has(name)) forget(); // unlisted while it was read
    }, forget); // a failure may be transient
    return part;
  }

  /**
   * The turn's exact part: its only source's, or recomputed from its records (kept while its sources
   * are); `undefined` for a turn wholly deleted since the snapshot.
   */
  private async partOf(e: Entry): Promise<TurnPart | undefined> {
    if (e.part) return e.part;
    const sources = e.sources.join("\u0000");
    const known = this.exact.get(e.turnId);
    if (known && known.sources === sources && known.hot === e.hot) return known.part;
    const records = await this.reader.turnRecords(e.turnId);
    const part = records.length > 0 ? turnPart(e.turnId, records, false) : undefined;
    if (this.exact.size >= EXACT_CACHE_TURNS) this.exact.delete(this.exact.keys().next().value!);
    this.exact.set(e.turnId, { sources, hot: e.hot, part });
    return part;
  }
}

/** A build the manifest has moved past: it stops, and whoever waits for it takes the current one. */
class Superseded extends Error {
  constructor() {
    super("the manifest changed while the turns index was being built");
  }
}
