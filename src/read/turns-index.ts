/**
 * The turns list's index: a turn as its merged parts (Entry), the cold index and its build newest file
 * first (Build), both tiers' view (View), and the walk from a cursor.
 */
import type { ColdFile, Manifest } from "../../tiers/cold/manifest.js";
import type { TurnsQuery } from "../types.js";
import type { At, TurnPart } from "./turn-parts.js";
import type { Call } from "./turn-summary.js";
import { type Cursor, compareText } from "./turns-query.js";

/** The source name of the hot tier among a turn's sources (cold files are named by their file name). */
export const HOT = "hot";

/** One turn as the index knows it: its merged parts. */
export interface Entry {
  turnId: string;
  start: number;
  extensionId: string;
  conversationId?: string;
  /** Where its first record is, and its first record with a conversation: merged parts agree with the turn's records. */
  first: At;
  conversationAt?: At;
  errors: number;
  models: string[];
  /** The sources holding it (cold file names, HOT), in the order they were merged. */
  sources: string[];
  /** Its part, when one source holds it (then it is exact). */
  part?: TurnPart;
  /** Its hot part, if the hot tier holds it (a recomputation holds while this does). */
  hot?: TurnPart;
}

export interface ColdIndex {
  /** By (start, turnId) ascending. */
  entries: Entry[];
  byTurn: Map<string, Entry>;
  loose: Call[];
  /** The seqs of `loose` (records without a turn), made when first needed. */
  looseSeqs?: Set<number | undefined>;
}

/** A cold index being built, newest file first: what is read so far, and a promise per file read. */
export class Build {
  readonly manifest: Manifest;
  /** The listed files by their newest record, newest first. */
  readonly order: ColdFile[];
  /** Files of `order` read so far. */
  done = 0;
  /** Made from the previous index (updateColdIndex): no file-by-file progress, no partial pages. */
  readonly incremental: boolean;
  readonly byTurn = new Map<string, Entry>();
  readonly loose: Call[] = [];
  /** The index, once made (settles as `make` does). */
  readonly index: Promise<ColdIndex>;
  private made: ColdIndex | undefined;
  /** Settles when another file has been read (or the build failed). */
  tick: Promise<void>;
  private settle!: { resolve: () => void; reject: (err: unknown) => void };

  /** Starts `make` (which reports its progress with advance(), fail() and finish()). */
  constructor(manifest: Manifest, incremental: boolean, make: (build: Build) => Promise<ColdIndex>) {
    this.manifest = manifest;
    this.incremental = incremental;
    this.order = [...manifest.files].sort((a, b) => b.maxTs - a.maxTs);
    this.tick = this.nextTick();
    this.index = make(this);
  }

  /** The finished index, once there is one. */
  get finished(): ColdIndex | undefined {
    return this.made;
  }

  finish(index: ColdIndex): ColdIndex {
    this.made = index;
    this.advance();
    return index;
  }

  private nextTick(): Promise<void> {
    const tick = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    tick.catch(() => {}); // a failed build is reported by its index
    return tick;
  }

  /** Another file has been read. */
  advance(): void {
    if (!this.made) this.done++;
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

/**
 * Both tiers' turns: the cold index as it is, less the turns the hot tier also holds (`shadowed`), and
 * those turns, merged with their cold parts, sorted apart (`hot`). A write costs a sort of the hot
 * turns, not a copy of the cold index; a walk merges the two lists as it goes (walkView).
 */
export interface View {
  /** By (start, turnId) ascending. */
  cold: Entry[];
  hot: Entry[];
  shadowed: Map<string, unknown>;
  loose: Call[];
}

export function mergeHot(cold: ColdIndex, hot: Map<string, TurnPart>, hotLoose: Call[]): View {
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
    merged.push(known ? mergeEntry(copyEntry(known), own) : own);
  }
  merged.sort(compareEntries);
  return { cold: cold.entries, hot: merged, shadowed: hot, loose };
}

/** Every turn of a view, in no particular order. */
export function* everyEntry(v: View): Generator<Entry> {
  for (const e of v.cold) if (!v.shadowed.has(e.turnId)) yield e;
  yield* v.hot;
}

/** A view's turns after the cursor position, in the query's order: its two lists merged as it goes. */
export function* walkView(v: View, desc: boolean, after: Cursor | undefined): Generator<Entry> {
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

export function copyEntry(e: Entry): Entry {
  return { ...e, models: [...e.models], sources: [...e.sources] };
}

export function entryOf(turnId: string, source: string, part: TurnPart): Entry {
  const s = part.summary;
  const e: Entry = {
    turnId,
    start: s.start,
    extensionId: s.extensionId,
    first: part.first,
    errors: s.errors,
    models: s.models,
    sources: [source],
    part,
  };
  if (s.conversationId !== undefined && part.conversationAt !== undefined) {
    e.conversationId = s.conversationId;
    e.conversationAt = part.conversationAt;
  }
  return e;
}

/**
 * Merges `b` into `a` (mutating `a`): the part whose first record comes first in (timestamp, seq)
 * order names the extension (a turn's first record does); the part whose first record *with* a
 * conversation comes first names the conversation (a part's may come after its start, so the two
 * are merged apart, as summarize() reads them from all the records); errors and models add up (a
 * record in both tiers may count twice, but only whether there are any is read from the index).
 */
export function mergeEntry(a: Entry, b: Entry): Entry {
  if (before(b.first, a.first)) {
    a.start = b.start;
    a.first = b.first;
    a.extensionId = b.extensionId;
  }
  if (
    b.conversationAt !== undefined &&
    (a.conversationAt === undefined || before(b.conversationAt, a.conversationAt))
  ) {
    a.conversationId = b.conversationId;
    a.conversationAt = b.conversationAt;
  }
  a.errors += b.errors;
  a.models = [...new Set([...a.models, ...b.models])].sort();
  a.sources.push(...b.sources);
  a.hot ??= b.hot;
  a.part = undefined;
  return a;
}

function before(x: At, y: At): boolean {
  return x.ts < y.ts || (x.ts === y.ts && x.seq < y.seq);
}

export function compareEntries(a: Entry, b: Entry): number {
  return a.start - b.start || compareText(a.turnId, b.turnId);
}

export function mergeSorted(a: Entry[], b: Entry[]): Entry[] {
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
export function* walk(entries: Entry[], desc: boolean, after: Cursor | undefined): Generator<Entry> {
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
export function startAt(after: Cursor | undefined, q: TurnsQuery, desc: boolean): Cursor | undefined {
  const edge = desc ? q.to : q.from;
  if (edge === undefined || Number.isNaN(edge)) return after;
  const at = { start: edge, turnId: "" };
  if (after === undefined) return at;
  const c = after.start - at.start || compareText(after.turnId, at.turnId);
  return desc === c < 0 ? after : at;
}

export function matchesTurn(e: Entry, q: TurnsQuery): boolean {
  if (q.from !== undefined && e.start < q.from) return false;
  if (q.to !== undefined && e.start >= q.to) return false;
  if (q.extensionId !== undefined && e.extensionId !== q.extensionId) return false;
  if (q.conversationId !== undefined && e.conversationId !== q.conversationId) return false;
  if (q.errors === true && e.errors === 0) return false;
  return q.model === undefined || e.models.includes(q.model);
}
