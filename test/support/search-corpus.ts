/**
 * Search tests' support (test/search-model.test.ts, test/crash-search.test.ts):
 *  - a corpus generator: records whose texts repeat a small vocabulary, Unicode words, bodies long enough
 *    to be cut into many small chunks (so that words straddle cuts), bodies repeated across records and
 *    bodies that grow along a conversation (long shared prefixes), attributes of every value type;
 *  - an oracle: a brute-force search written from the contract (/work/search-contract.md §1) alone, over
 *    the records `store.query({ bodies: true })` returns. It imports nothing from src/search/: a judge must
 *    not share the code it judges.
 */

import fc from "fast-check";
import type { Attributes, StoredRecord, StoreOptions, TraceRecord, TraceStore } from "../../src/index.js";
import type { SearchHit, SearchOptions, SearchResult, SearchWhere } from "../../src/types.js";
import { Random } from "../../src/workload/random.js";

/** Small chunks: a body of a few KiB is a dozen chunks, and nearly every cut falls inside a word. */
export const SEARCH_CHUNKING: NonNullable<StoreOptions["chunking"]> = {
  inlineMax: 64,
  minSize: 64,
  avgSize: 192,
  maxSize: 512,
};

// ---------------------------------------------------------------------------------------------------
// Contract §1: tokens

/** True when every UTF-16 unit is below 0x80. */
const isAscii = (text: string) => !/[^\p{ASCII}]/u.test(text);

/** The contract's tokenizer: ASCII folds A–Z; anything else is NFKC, then lower-cased. */
export function tokenize(text: string): string[] {
  if (isAscii(text)) return text.toLowerCase().match(/[a-z0-9_]+/g) ?? [];
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}\p{M}_]+/gu) ?? []
  );
}

// ---------------------------------------------------------------------------------------------------
// Contract §1: a record's texts, terms and matching

export type OracleField = "any" | "name" | "model" | { attr: string };

export interface OracleTerm {
  field: OracleField;
  /** The term's tokens (a phrase when several); none: the term is ignored. */
  tokens: string[];
  negated: boolean;
}

/** A query as the test built it: its text, and what the contract says it means. */
export interface OracleQuery {
  q: string;
  terms: OracleTerm[];
}

interface Text {
  tokens: string[];
}
interface AttrText extends Text {
  key: string;
}

/** A record's searchable texts, tokenized once. */
export interface Searchable {
  record: StoredRecord;
  body?: Text;
  msg?: Text;
  name?: Text;
  attributes: AttrText[];
}

function attributeTexts(attributes: Attributes | undefined): AttrText[] {
  const out: AttrText[] = [];
  for (const [key, value] of Object.entries(attributes ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === null) continue;
      out.push({ key, tokens: tokenize(typeof v === "string" ? v : String(v)) });
    }
  }
  return out;
}

export function searchable(record: StoredRecord): Searchable {
  const s: Searchable = { record, attributes: attributeTexts(record.attributes) };
  if (record.body !== undefined) s.body = { tokens: tokenize(record.body) };
  if (record.kind === "log") s.msg = { tokens: tokenize(record.msg) };
  else s.name = { tokens: tokenize(record.name) };
  return s;
}

function holds(text: Text | undefined, tokens: readonly string[]): boolean {
  if (text === undefined) return false;
  const t = text.tokens;
  outer: for (let i = 0; i + tokens.length <= t.length; i++) {
    for (let j = 0; j < tokens.length; j++) if (t[i + j] !== tokens[j]) continue outer;
    return true;
  }
  return false;
}

/** Where the term matches first (body, msg, name, attributes), or undefined. */
function whereOf(term: OracleTerm, s: Searchable): SearchWhere | undefined {
  const f = term.field;
  if (f === "any") {
    if (holds(s.body, term.tokens)) return "body";
    if (holds(s.msg, term.tokens)) return "msg";
    if (holds(s.name, term.tokens)) return "name";
    return s.attributes.some((a) => holds(a, term.tokens)) ? "attributes" : undefined;
  }
  if (f === "name") return holds(s.name, term.tokens) ? "name" : undefined;
  const key = f === "model" ? "gen_ai.request.model" : f.attr;
  return s.attributes.some((a) => a.key === key && holds(a, term.tokens)) ? "attributes" : undefined;
}

/** The live terms (token-less ones are ignored); undefined when the contract refuses the query. */
export function liveTerms(q: OracleQuery): OracleTerm[] | undefined {
  const live = q.terms.filter((t) => t.tokens.length > 0);
  if (q.q.length > 1000 || live.length === 0 || q.terms.length > 32) return undefined;
  return live.some((t) => !t.negated) ? live : undefined;
}

/** The field of the first positive term's first match, when the record matches the query. */
export function matchWhere(terms: readonly OracleTerm[], s: Searchable): SearchWhere | undefined {
  let where: SearchWhere | undefined;
  for (const t of terms) {
    const w = whereOf(t, s);
    if (t.negated ? w !== undefined : w === undefined) return undefined;
    if (!t.negated && where === undefined) where = w;
  }
  return where;
}

function passes(r: StoredRecord, o: SearchOptions): boolean {
  if (o.from !== undefined && r.timestamp < o.from) return false;
  if (o.to !== undefined && r.timestamp >= o.to) return false;
  if (o.kind !== undefined && r.kind !== o.kind) return false;
  if (o.turnId !== undefined && (r.turnId ?? "") !== o.turnId) return false;
  if (o.conversationId !== undefined && r.conversationId !== o.conversationId) return false;
  return o.extensionId === undefined || r.extensionId === o.extensionId;
}

export type OracleHit = Omit<SearchHit, "snippet">;

/**
 * The contract's answer, without snippets: `records` are the store's records in (timestamp, seq)
 * ascending order, as `store.query` returns them.
 */
export function oracleSearch(
  records: readonly Searchable[],
  q: OracleQuery,
  opts: SearchOptions = {},
): { hits: OracleHit[]; truncated: boolean; terms: OracleTerm[] } | undefined {
  const terms = liveTerms(q);
  if (terms === undefined) return undefined;
  const limit = opts.limit ?? 50;
  const ordered = opts.order === "asc" ? records : [...records].reverse();
  const hits: OracleHit[] = [];
  let matched = 0;
  for (const s of ordered) {
    if (!passes(s.record, opts)) continue;
    const where = matchWhere(terms, s);
    if (where === undefined) continue;
    if (++matched > limit) break;
    const r = s.record;
    hits.push({
      recordId: r.id,
      turnId: r.turnId ?? "",
      ...(r.conversationId !== undefined ? { conversationId: r.conversationId } : {}),
      timestamp: r.timestamp,
      name: r.kind === "log" ? "" : r.name,
      ...(r.spanId !== undefined ? { spanId: r.spanId } : {}),
      kind: r.kind,
      where,
    });
  }
  return { hits, truncated: matched > limit, terms };
}

/** The truth: every record the store holds, with its body when it still has one, tokenized. */
export async function snapshot(store: TraceStore): Promise<Searchable[]> {
  return (await store.query({ bodies: true })).map(searchable);
}

/**
 * What is wrong with a snippet for a hit whose first positive term is `term` (empty when nothing):
 * it holds the term's tokens in sequence, its whitespace runs are collapsed, and it is about 2 × 80
 * characters around the match at most.
 */
export function snippetProblem(snippet: string, term: OracleTerm): string | undefined {
  if (/\s\s/.test(snippet)) return "whitespace runs are not collapsed";
  const tokens = tokenize(snippet.replaceAll("…", " "));
  if (!holds({ tokens }, term.tokens)) return `does not hold ${JSON.stringify(term.tokens.join(" "))}`;
  const longest = 2 * 80 + term.tokens.join(" ").length + 2 * 16 + 2;
  if (snippet.length > longest) return `is ${snippet.length} characters long`;
  return undefined;
}

/**
 * Compares a store's answer to the oracle's; returns a description of the first difference (hits in
 * order with every field but the snippet, `truncated`, snippets), or undefined when they agree.
 */
export function compareResults(
  got: SearchResult,
  want: NonNullable<ReturnType<typeof oracleSearch>>,
): string | undefined {
  const first = want.terms.find((t) => !t.negated)!;
  const strip = ({ snippet: _, ...rest }: SearchHit) => rest;
  const gotHits = got.hits.map(strip);
  for (let i = 0; i < Math.max(gotHits.length, want.hits.length); i++) {
    const g = gotHits[i];
    const w = want.hits[i];
    if (JSON.stringify(g) !== JSON.stringify(w) && !sameHit(g, w))
      return `hit ${i}: expected ${JSON.stringify(w)}, got ${JSON.stringify(g)} (${gotHits.length} hits, expected ${want.hits.length})`;
  }
  if (got.truncated !== want.truncated) return `truncated: expected ${want.truncated}, got ${got.truncated}`;
  for (const [i, h] of got.hits.entries()) {
    const p = snippetProblem(h.snippet, first);
    if (p !== undefined)
      return `hit ${i} (${h.recordId}, ${h.where}): snippet ${JSON.stringify(h.snippet)} ${p}`;
  }
  return undefined;
}

function sameHit(g: OracleHit | undefined, w: OracleHit | undefined): boolean {
  if (g === undefined || w === undefined) return false;
  const keys = new Set([...Object.keys(g), ...Object.keys(w)]) as Set<keyof OracleHit>;
  return [...keys].every((k) => g[k] === w[k]);
}

// ---------------------------------------------------------------------------------------------------
// The corpus

/** Common words: every text draws from these, so words and phrases repeat across records. */
export const VOCABULARY = [
  "the",
  "agent",
  "read",
  "file",
  "could",
  "not",
  "find",
  "invoice",
  "4471",
  "stack",
  "trace",
  "error",
  "tool",
  "output",
  "user",
  "said",
  "patch",
  "tests",
  "failing",
  "case",
  "request",
  "response",
  "retry",
  "timeout",
  "cache",
  "model",
  "token",
  "Budget",
  "Parser",
  "QUEUE",
  "snake_case",
  "v2",
  "0x1f",
  // Unicode: composed and decomposed forms (NFKC makes them one token), ß, umlauts, CJK runs, a
  // ligature and full-width letters (NFKC folds them to ASCII), a Greek capital.
  "café",
  "cafe\u0301",
  "Straße",
  "Äpfel",
  "naïve",
  "漢字",
  "日本語テキスト",
  "ﬁle",
  "Ｆｕｌｌ",
  "Ωmega",
  "İstanbul",
  "Ärger",
] as const;

/** Separators: spaces, punctuation, newlines, and emoji (not letters: they separate tokens). */
const SEPARATORS = [" ", " ", " ", " ", ", ", ". ", "\n", "\t", " - ", "/", "😀", " ❤️ ", "::", "  "];

export const MODELS = ["gpt-4o-mini", "claude-3.5-sonnet", "llama3", "Mistral Large", "gémini-pro"] as const;
export const SPAN_NAMES = ["llm.request", "tool.call", "agent.turn", "read file", "Straße.lookup"] as const;
export const EXTENSIONS = ["ext-a", "ext-b"] as const;
/** Attribute keys: searched only through `attr.KEY:`; as free text a key is not a word of the record. */
export const ATTR_KEYS = ["tool.name", "retry", "ok", "tags", "ratio", "note", "zebrakey"] as const;

/** A word made for one record (ASCII or not): searching it finds that record's text only. */
export interface RareWord {
  word: string;
  /** Index of the record (in generation order) it was made for. */
  record: number;
}

export interface CorpusOptions {
  seed: number;
  /** Timestamps fall in [start, start + spanMs). */
  start: number;
  spanMs: number;
}

/**
 * Generates records; successive calls continue the same conversations (bodies grow from the previous
 * request's body, so later records share long prefixes with earlier ones).
 */
export class SearchCorpus {
  readonly rare: RareWord[] = [];
  /** Texts generated (bodies, messages, names, attribute values): phrases are drawn from them. */
  readonly texts: string[] = [];
  readonly turnIds = new Set<string>();
  readonly conversationIds = new Set<string>();
  readonly records: TraceRecord[] = [];
  private readonly rnd: Random;
  private readonly histories: string[] = [];
  private readonly bodies: string[] = [];

  constructor(readonly opts: CorpusOptions) {
    this.rnd = new Random(opts.seed);
  }

  /** A new word for record `i`, ASCII or Unicode, unlike any vocabulary word. */
  private rareWord(i: number): string {
    const r = this.rnd;
    const core = r.hex(6);
    const word = r.chance(0.3) ? `žq${core}` : r.chance(0.1) ? `Zq${core.toUpperCase()}` : `zq${core}`;
    this.rare.push({ word, record: i });
    return word;
  }

  private words(n: number, rareFor?: number): string {
    const r = this.rnd;
    let out = "";
    for (let k = 0; k < n; k++) {
      const w = rareFor !== undefined && r.chance(0.05) ? this.rareWord(rareFor) : r.pick(VOCABULARY);
      out += w + (k < n - 1 ? r.pick(SEPARATORS) : "");
    }
    return out;
  }

  /** A body: none, short (inline), a long run of words, a repeat, or the next request of a conversation. */
  private body(i: number): string | undefined {
    const r = this.rnd;
    const p = r.next();
    if (p < 0.15) return undefined;
    if (p < 0.3) return `${this.words(r.int(1, 6), i)} ${this.rareWord(i)}`;
    if (p < 0.45 && this.bodies.length > 0) return r.pick(this.bodies); // the same body again
    if (p < 0.75) {
      // The resent history: the previous request of this conversation plus a message.
      const c = r.int(0, 3);
      const prev = this.histories[c] ?? `system: ${this.words(150)}\n`;
      const next = `${prev}user: ${this.words(r.int(10, 60), i)} ${this.rareWord(i)}\n`;
      this.histories[c] = next.length > 12_000 ? `system: ${this.words(150)}\n` : next;
      return next;
    }
    return `${this.words(r.int(200, 900), i)} ${this.rareWord(i)}`;
  }

  private attributes(i: number): Attributes {
    const r = this.rnd;
    const a: Attributes = {};
    if (r.chance(0.5)) a["gen_ai.request.model"] = r.pick(MODELS);
    if (r.chance(0.4)) a["tool.name"] = `${r.pick(VOCABULARY)}_${r.pick(["read", "write", "grep"])}`;
    if (r.chance(0.4)) a.retry = r.int(0, 4);
    if (r.chance(0.3)) a.ok = r.chance(0.5);
    if (r.chance(0.3))
      a.tags = [r.pick(VOCABULARY), `${r.pick(VOCABULARY)} ${r.pick(VOCABULARY)}`, 7, false, null];
    if (r.chance(0.2)) a.ratio = r.pick([0.5, -3, 1e21, 42]);
    if (r.chance(0.3)) a.note = this.words(r.int(2, 8), i);
    if (r.chance(0.1)) a.zebrakey = null;
    return a;
  }

  /** `n` records with timestamps drawn from [from, to) (default: the corpus's span). */
  next(n: number, from = this.opts.start, to = this.opts.start + this.opts.spanMs): TraceRecord[] {
    const r = this.rnd;
    const out: TraceRecord[] = [];
    for (let k = 0; k < n; k++) {
      const i = this.records.length;
      // A few timestamps repeat: ties are ordered by insertion.
      const timestamp =
        out.length > 0 && r.chance(0.1) ? out[out.length - 1]!.timestamp : r.int(from, to - 1);
      const conversationId = r.chance(0.8) ? `conv-${r.int(0, 4)}` : undefined;
      // A turn id holding a vocabulary word: ids are not searched.
      const turnId = r.chance(0.9) ? `turn-${r.int(0, 11)}-cache` : undefined;
      const common = {
        timestamp,
        extensionId: r.pick(EXTENSIONS),
        ...(conversationId ? { conversationId } : {}),
        ...(turnId ? { turnId } : {}),
      };
      const attributes = this.attributes(i);
      const body = this.body(i);
      const extra = {
        ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
        ...(body !== undefined ? { body } : {}),
      };
      const kindP = r.next();
      const rec: TraceRecord =
        kindP < 0.35
          ? {
              kind: "log",
              level: "info",
              msg: this.words(r.int(1, 12), i),
              ...(r.chance(0.5) ? { spanId: `s${r.int(0, i)}` } : {}),
              ...common,
              ...extra,
            }
          : kindP < 0.75
            ? { kind: "span-open", spanId: `s${i}`, name: this.spanName(), ...common, ...extra }
            : {
                kind: "span-close",
                spanId: `s${i}`,
                name: this.spanName(),
                durationMs: r.int(1, 900),
                status: r.chance(0.2) ? "error" : "ok",
                ...common,
                ...extra,
              };
      this.remember(rec);
      out.push(rec);
    }
    return out;
  }

  private spanName(): string {
    return this.rnd.chance(0.8) ? this.rnd.pick(SPAN_NAMES) : this.words(2);
  }

  private remember(rec: TraceRecord): void {
    this.records.push(rec);
    if (rec.turnId !== undefined) this.turnIds.add(rec.turnId);
    if (rec.conversationId !== undefined) this.conversationIds.add(rec.conversationId);
    if (rec.body !== undefined) {
      this.texts.push(rec.body);
      if (!this.bodies.includes(rec.body)) this.bodies.push(rec.body);
    }
    this.texts.push(rec.kind === "log" ? rec.msg : rec.name);
    for (const v of Object.values(rec.attributes ?? {}))
      for (const x of Array.isArray(v) ? v : [v]) if (typeof x === "string") this.texts.push(x);
  }
}

// ---------------------------------------------------------------------------------------------------
// Queries

/** How a term is written: its field, its text, quoted or bare, negated or not. */
export interface TermSpec {
  field: OracleField;
  text: string;
  quoted: boolean;
  negated: boolean;
}

function fieldPrefix(f: OracleField): string {
  if (f === "any") return "";
  if (f === "name" || f === "model") return `${f}:`;
  return `attr.${f.attr}:`;
}

/** Writes the terms as a query string, and says what they mean (contract §1). */
export function renderQuery(specs: readonly TermSpec[]): OracleQuery {
  const q = specs
    .map((s) => `${s.negated ? "-" : ""}${fieldPrefix(s.field)}${s.quoted ? `"${s.text}"` : s.text}`)
    .join(" ");
  return { q, terms: specs.map((s) => ({ field: s.field, tokens: tokenize(s.text), negated: s.negated })) };
}

/** A single word as a query. */
export function wordQuery(word: string): OracleQuery {
  return renderQuery([{ field: "any", text: word, quoted: false, negated: false }]);
}

/** Tokens `n` long, consecutive in `text`, from token `at` (wrapped into range). */
function slice(text: string, at: number, n: number): string[] {
  const t = tokenize(text);
  if (t.length === 0) return [];
  const start = at % Math.max(1, t.length - n + 1);
  return t.slice(start, start + n);
}

/** A bare text for several tokens: joined by punctuation, so that it is one whitespace-free term. */
const joinBare = (tokens: readonly string[], sep: string) => tokens.join(sep);

export function recase(word: string, how: number): string {
  if (how === 1) return word.toUpperCase();
  if (how === 2) return word.charAt(0).toUpperCase() + word.slice(1);
  return word;
}

const SEPS = ["-", ".", "/", ","] as const;

/** Terms drawn from the corpus: words, real phrases, phrases that do not occur, fields, negations. */
export function termArb(corpus: SearchCorpus): fc.Arbitrary<TermSpec> {
  const any = (text: string, quoted = false): Omit<TermSpec, "negated"> => ({ field: "any", text, quoted });
  const texts = fc.constantFrom(...corpus.texts);
  const word = fc
    .tuple(fc.constantFrom(...VOCABULARY), fc.integer({ min: 0, max: 3 }))
    .map(([w, h]) => any(recase(w, h)));
  const rare = fc.constantFrom(...corpus.rare.map((r) => r.word)).map((w) => any(w));
  const phrase = fc
    .tuple(texts, fc.nat(), fc.integer({ min: 2, max: 3 }), fc.boolean(), fc.constantFrom(...SEPS))
    .map(([t, at, n, quoted, sep]) => {
      const tokens = slice(t, at, n);
      return quoted ? any(tokens.join(" "), true) : any(joinBare(tokens, sep));
    });
  const absent = fc
    .tuple(fc.constantFrom(...VOCABULARY), fc.constantFrom(...VOCABULARY), fc.constantFrom(...VOCABULARY))
    .map(([a, b, c]) => any(`${c} ${b} ${a}`, true));
  const name = fc
    .tuple(fc.constantFrom(...SPAN_NAMES, "find", "cache tool"), fc.nat(), fc.integer({ min: 1, max: 2 }))
    .map(
      ([n, at, k]): Omit<TermSpec, "negated"> => ({
        field: "name",
        text: slice(n, at, k).join(" "),
        quoted: k > 1,
      }),
    );
  const model = fc
    .tuple(fc.constantFrom(...MODELS, "gpt-5"), fc.boolean())
    .map(([m, whole]): Omit<TermSpec, "negated"> => {
      const text = whole ? m : tokenize(m)[0]!;
      return { field: "model", text, quoted: /\s/.test(text) };
    });
  const attr = fc.tuple(fc.constantFrom(...attributePairs(corpus)), fc.boolean()).map(
    ([[key, value], wrongKey]): Omit<TermSpec, "negated"> => ({
      field: { attr: wrongKey ? `${key}x` : key },
      text: value,
      quoted: true,
    }),
  );
  const keyAsWord = fc.constantFrom(...ATTR_KEYS).map((k) => any(k));
  const otherPrefix = fc
    .tuple(fc.constantFrom("foo", "invoice", "http"), fc.constantFrom(...VOCABULARY))
    .map(([p, w]) => any(`${p}:${tokenize(w)[0]}`));
  const ignored = fc.constantFrom(any("...", true), any("--"));
  const spec = fc.oneof(
    { weight: 4, arbitrary: word },
    { weight: 3, arbitrary: rare },
    { weight: 4, arbitrary: phrase },
    { weight: 1, arbitrary: absent },
    { weight: 2, arbitrary: name },
    { weight: 2, arbitrary: model },
    { weight: 2, arbitrary: attr },
    { weight: 1, arbitrary: keyAsWord },
    { weight: 1, arbitrary: otherPrefix },
    { weight: 1, arbitrary: ignored },
  );
  return fc
    .tuple(spec, fc.integer({ min: 0, max: 9 }))
    .map(([s, n]) => ({ ...s, negated: n < 2 && s.text !== "--" }))
    .filter(
      (s) =>
        s.quoted || s.field !== "any" || (s.text !== "" && !/^[-"]|[\s"]/.test(s.text)) || s.text === "--",
    );
}

/** Every (key, value text) pair the corpus's attributes hold, arrays element by element. */
function attributePairs(corpus: SearchCorpus): Array<[string, string]> {
  const seen = new Map<string, [string, string]>();
  for (const r of corpus.records)
    for (const [k, v] of Object.entries(r.attributes ?? {}))
      for (const x of Array.isArray(v) ? v : [v])
        if (x !== null) seen.set(`${k}\u0000${String(x)}`, [k, String(x)]);
  return [...seen.values()].filter(([, v]) => !v.includes('"'));
}

export function queryArb(corpus: SearchCorpus): fc.Arbitrary<OracleQuery> {
  return fc.array(termArb(corpus), { minLength: 1, maxLength: 4 }).map(renderQuery);
}

/** Options over the corpus's own ids and time range, plus some that select nothing. */
export function optionsArb(corpus: SearchCorpus): fc.Arbitrary<SearchOptions> {
  const { start, spanMs } = corpus.opts;
  const ts = fc.integer({ min: start - 3_600_000, max: start + spanMs + 3_600_000 });
  const some = fc.record(
    {
      from: ts,
      to: ts,
      kind: fc.constantFrom("log", "span-open", "span-close"),
      turnId: fc.constantFrom(...corpus.turnIds, "no-such-turn"),
      conversationId: fc.constantFrom(...corpus.conversationIds, "no-such-conversation"),
      extensionId: fc.constantFrom(...EXTENSIONS, "ext-z"),
      limit: fc.integer({ min: 1, max: 60 }),
      order: fc.constantFrom("asc" as const, "desc" as const),
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({}) },
    {
      weight: 3,
      arbitrary: fc.record(
        { limit: fc.integer({ min: 1, max: 30 }), order: fc.constantFrom("asc" as const, "desc" as const) },
        { requiredKeys: [] },
      ),
    },
    { weight: 3, arbitrary: some },
  );
}

/**
 * The contract's query language read back (a check that `renderQuery` writes what it means, and the
 * reading of hand-written queries); undefined for an unclosed quote.
 */
export function parseOracle(q: string): OracleQuery | undefined {
  const terms: OracleTerm[] = [];
  let i = 0;
  while (i < q.length) {
    if (/\s/.test(q[i]!)) {
      i++;
      continue;
    }
    const negated = q[i] === "-";
    if (negated) i++;
    let field: OracleField = "any";
    const prefix = /^(?:name:|model:|attr\.([^:\s]*):)/.exec(q.slice(i));
    if (prefix) {
      field = prefix[1] !== undefined ? { attr: prefix[1] } : prefix[0] === "name:" ? "name" : "model";
      i += prefix[0].length;
    }
    let text: string;
    if (q[i] === '"') {
      const end = q.indexOf('"', i + 1);
      if (end < 0) return undefined;
      text = q.slice(i + 1, end);
      i = end + 1;
    } else {
      const end = q.slice(i).search(/\s/);
      text = end < 0 ? q.slice(i) : q.slice(i, i + end);
      i += text.length;
    }
    terms.push({ field, tokens: tokenize(text), negated });
  }
  return { q, terms };
}

/** A stand-in for `store.search` while it is not on the branch (SEARCH_SHIM=1): the oracle itself. */
export async function shimSearch(store: TraceStore, q: string, opts?: SearchOptions): Promise<SearchResult> {
  const parsed = parseOracle(q);
  const want = parsed && oracleSearch(await snapshot(store), parsed, opts);
  if (want === undefined)
    throw Object.assign(new Error('option "q" is refused'), { code: "ERR_INVALID_OPTION" });
  const first = want.terms.find((t) => !t.negated)!;
  return {
    hits: want.hits.map((h) => ({ ...h, snippet: first.tokens.join(" ") })),
    truncated: want.truncated,
  };
}

// ---------------------------------------------------------------------------------------------------
// Crash tests' batches (test/crash-search.test.ts, test/support/search-child.ts)

/** The word only record `i` of batch `b` holds (in its body, message, span name or an attribute). */
export const batchWord = (b: number, i: number) => `kw${b}r${i}`;
export const BATCH_RECORDS = 10;

/** A long text the batches' bodies share prefixes of (their chunks are stored once). */
const HISTORY = (() => {
  const rnd = new Random(7);
  return Array.from({ length: 700 }, () => rnd.pick(VOCABULARY) + rnd.pick(SEPARATORS)).join("");
})();

/**
 * Batch `b`: the same records on every call, timestamps from `base`. Each record holds its own word:
 * a log in its message, a span in its name, one in an attribute, the rest in a body that shares a long
 * prefix with the others (the word lands at a varying offset, so in varying chunks and across cuts).
 */
export function searchBatch(b: number, base: number): TraceRecord[] {
  return Array.from({ length: BATCH_RECORDS }, (_, i): TraceRecord => {
    const n = b * BATCH_RECORDS + i;
    const word = batchWord(b, i);
    const common = {
      timestamp: base + i,
      extensionId: "crash",
      turnId: `t-${n % 13}`,
      conversationId: `c-${n % 3}`,
    };
    if (i === 0) return { kind: "log", level: "info", msg: `batch ${b} holds ${word}`, ...common };
    if (i === 1) return { kind: "span-open", spanId: `s-${n}`, name: `step.${word}`, ...common };
    if (i === 2)
      return {
        kind: "span-open",
        spanId: `s-${n}`,
        name: "tool.call",
        attributes: { note: `a ${word} b` },
        ...common,
      };
    // At a space: a word cut in two would glue to the record's word, a surrogate pair cut would not survive UTF-8.
    const cut = HISTORY.indexOf(" ", 200 + ((n * 7919) % (HISTORY.length - 400)));
    const body =
      i === 3
        ? `short ${word}`
        : `${HISTORY.slice(0, cut)} ${word}${HISTORY.slice(cut, cut + 300).replace(/[\uD800-\uDBFF]$/, "")}`;
    return {
      kind: "span-close",
      spanId: `s-${n}`,
      name: "llm.request",
      durationMs: 5,
      status: "ok",
      body,
      ...common,
    };
  });
}

const CRASH_DAY = 86_400_000;
const CRASH_HOUR = 3_600_000;
/** Where the batches' clock starts. */
export const SEARCH_CRASH_T0 = Date.UTC(2026, 9, 1);
/** The prune loop's policy. */
export const SEARCH_CRASH_POLICY = { maxAgeMs: CRASH_DAY, maxBodyAgeMs: CRASH_DAY / 2 };

/** Batch b's first timestamp in each mode. */
export function searchBatchBase(m: string, b: number): number {
  if (m === "compact") return SEARCH_CRASH_T0 + (b % 5) * CRASH_DAY + b * 100;
  if (m === "prune") return SEARCH_CRASH_T0 + b * 4 * CRASH_HOUR;
  return SEARCH_CRASH_T0 + 30 * CRASH_DAY + b * 100;
}

type Search = (q: string, opts?: SearchOptions) => Promise<SearchResult>;

/**
 * The store's `search`. SEARCH_SHIM=1 stands the oracle in for it while it is not on the branch (the
 * tests then agree trivially: only for developing them).
 */
export function searchOf(store: TraceStore): Search {
  const search = (store as unknown as { search?: Search }).search;
  if (typeof search === "function") return search.bind(store);
  if (process.env.SEARCH_SHIM === "1") return (q, opts) => shimSearch(store, q, opts);
  throw new Error("store.search is missing");
}
