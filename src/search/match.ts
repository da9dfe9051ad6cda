/**
 * Exact matching of a parsed query against one record's texts, and the hit's snippet (docs/search.md).
 *
 * A term (a token sequence) is found in the *folded* text (`foldText`: the string tokens are the maximal
 * runs of), not in a token list: `indexOf` of the first token, then checks that it is a whole token and
 * that the next tokens follow with only non-token chars between. That is the token-sequence definition
 * (tokens are exactly the folded text's maximal runs), costs one native folding pass per text plus
 * `indexOf`, and builds no token strings, which matters on bodies of megabytes. The match's offset in
 * the folded text is mapped back to the original (`originalOffset`) only for the snippet.
 */
import type { Attributes, Scalar, SearchWhere } from "../types.js";
import type { QueryTerm, SearchQuery } from "./query.js";
import { foldUnicode, isAscii, isTokenCharAt, isTokenCharBefore, originalOffset } from "./text.js";

/** What a record offers to search: each field's text (`body` undefined when absent or evicted). */
export interface SearchableRecord {
  name?: string;
  msg?: string;
  attributes?: Attributes;
  body?: string;
}

export interface RecordMatch {
  where: SearchWhere;
  snippet: string;
}

/** Chars of context on each side of the match in a snippet (whitespace runs count as one). */
export const SNIPPET_CONTEXT = 80;
/** Most chars of the match itself shown (a long phrase is cut after this many). */
const SNIPPET_MATCH_MAX = 40;

/** A text of the record with its folded form, folded on first use. */
class Text {
  private foldedText: string | undefined;
  /** Whether the text is ASCII (then folded offsets are the text's): known once folded. */
  ascii = false;
  constructor(readonly text: string) {}
  get folded(): string {
    if (this.foldedText === undefined) {
      this.ascii = isAscii(this.text);
      this.foldedText = this.ascii ? this.text.toLowerCase() : foldUnicode(this.text);
    }
    return this.foldedText;
  }
}

/** The record's texts by field, built lazily (a field-only query never folds the body). */
class RecordTexts {
  private attrTexts: Text[] | undefined;
  readonly body: Text | undefined;
  readonly msg: Text | undefined;
  readonly name: Text | undefined;

  constructor(private readonly r: SearchableRecord) {
    this.body = r.body === undefined ? undefined : new Text(r.body);
    this.msg = r.msg === undefined ? undefined : new Text(r.msg);
    this.name = r.name === undefined ? undefined : new Text(r.name);
  }

  /** Every attribute value's texts, in key order. */
  get attributes(): Text[] {
    if (this.attrTexts === undefined) {
      this.attrTexts = [];
      const attrs = this.r.attributes;
      if (attrs !== undefined)
        for (const key of Object.keys(attrs)) pushValueTexts(attrs[key], this.attrTexts);
    }
    return this.attrTexts;
  }

  /** The texts of attribute `key` (own keys only: `__proto__` and friends are plain keys here). */
  attribute(key: string): Text[] {
    const attrs = this.r.attributes;
    const out: Text[] = [];
    if (attrs !== undefined && Object.hasOwn(attrs, key)) pushValueTexts(attrs[key], out);
    return out;
  }
}

/** An attribute value as texts: a string as is, a number `String(n)`, a boolean, each array element. */
function pushValueTexts(v: Scalar | Scalar[] | undefined, out: Text[]): void {
  if (Array.isArray(v)) {
    for (const e of v) pushValueTexts(e, out);
  } else if (typeof v === "string") out.push(new Text(v));
  else if (typeof v === "number" || typeof v === "boolean") out.push(new Text(String(v)));
}

/** Where in the folded text the token sequence first occurs as whole consecutive tokens: [start, end). */
export function findTokens(folded: string, tokens: readonly string[]): [number, number] | undefined {
  const first = tokens[0];
  if (first === undefined) return undefined;
  for (let pos = folded.indexOf(first); pos >= 0; pos = folded.indexOf(first, pos + 1)) {
    if (isTokenCharBefore(folded, pos)) continue;
    const end = followedBy(folded, pos + first.length, tokens);
    if (end >= 0) return [pos, end];
  }
  return undefined;
}

/**
 * With the first token ending at `p`: where the sequence ends if the first token is whole there and the
 * other tokens follow it, each whole, with only non-token chars between; -1 otherwise.
 */
function followedBy(folded: string, p: number, tokens: readonly string[]): number {
  if (isTokenCharAt(folded, p)) return -1;
  for (let j = 1; j < tokens.length; j++) {
    while (p < folded.length && !isTokenCharAt(folded, p)) p++;
    const t = tokens[j]!;
    if (!folded.startsWith(t, p)) return -1;
    p += t.length;
    if (isTokenCharAt(folded, p)) return -1;
  }
  return p;
}

interface Found {
  where: SearchWhere;
  text: Text;
  at: [number, number];
}

/** The texts a term may match in, by `where`, in the order body, msg, name, attributes. */
function candidates(term: QueryTerm, texts: RecordTexts): [SearchWhere, Text[]][] {
  const f = term.field;
  if (f === "name") return [["name", texts.name ? [texts.name] : []]];
  if (f === "model") return [["attributes", texts.attribute("gen_ai.request.model")]];
  if (typeof f === "object") return [["attributes", texts.attribute(f.attr)]];
  return [
    ["body", texts.body ? [texts.body] : []],
    ["msg", texts.msg ? [texts.msg] : []],
    ["name", texts.name ? [texts.name] : []],
    ["attributes", texts.attributes],
  ];
}

/** The term's first match in the record, trying fields in order; undefined if it matches nowhere. */
function findTerm(term: QueryTerm, texts: RecordTexts): Found | undefined {
  for (const [where, list] of candidates(term, texts)) {
    for (const text of list) {
      const at = findTokens(text.folded, term.tokens);
      if (at !== undefined) return { where, text, at };
    }
  }
  return undefined;
}

/**
 * Whether the record matches (every positive term, no negated term) and, if so, where the first
 * positive term matches and the snippet around it.
 */
export function matchRecord(q: SearchQuery, r: SearchableRecord): RecordMatch | undefined {
  const texts = new RecordTexts(r);
  let first: Found | undefined;
  // Negated terms first: they need every text, positive ones stop at their first match.
  for (const term of q.terms) {
    if (term.negated && findTerm(term, texts) !== undefined) return undefined;
  }
  for (const term of q.terms) {
    if (term.negated) continue;
    const found = findTerm(term, texts);
    if (found === undefined) return undefined;
    first ??= found;
  }
  if (first === undefined) return undefined; // a query without a positive term (parseQuery refuses it)
  return { where: first.where, snippet: snippetAt(first.text.text, first.at, first.text.ascii) };
}

/**
 * Up to `SNIPPET_CONTEXT` chars each side of the match (folded offsets `at`) in the original text,
 * whitespace runs collapsed to one space, `…` where the text was cut. Never cuts a surrogate pair.
 * `ascii`: the text is known to be ASCII (folded offsets are then its own, no mapping needed).
 */
export function snippetAt(text: string, at: [number, number], ascii = false): string {
  const ms = ascii ? at[0] : originalOffset(text, at[0]);
  let me = ascii ? at[1] : Math.max(ms + 1, originalOffset(text, at[1]));
  me = pairEnd(text, Math.min(me, ms + SNIPPET_MATCH_MAX));
  const start = extendLeft(text, pairStart(text, ms));
  const end = extendRight(text, me);
  const body = text.slice(start, end).replace(/\s+/g, " ").trim();
  return (start > 0 ? "…" : "") + body + (end < text.length ? "…" : "");
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c > 0x7f && /\s/.test(String.fromCharCode(c)));
}

/** `i` moved back off the low half of a surrogate pair. */
function pairStart(text: string, i: number): number {
  if (i > 0 && i < text.length) {
    const c = text.charCodeAt(i);
    const p = text.charCodeAt(i - 1);
    if (c >= 0xdc00 && c <= 0xdfff && p >= 0xd800 && p <= 0xdbff) return i - 1;
  }
  return i;
}

/** `i` (an exclusive end) moved forward past the low half of a surrogate pair it would split. */
function pairEnd(text: string, i: number): number {
  return pairStart(text, i) === i ? i : i + 1;
}

function extendLeft(text: string, i: number): number {
  let count = 0;
  while (i > 0 && count < SNIPPET_CONTEXT) {
    if (isSpace(text.charCodeAt(i - 1))) {
      while (i > 0 && isSpace(text.charCodeAt(i - 1))) i--;
    } else i = pairStart(text, i - 1);
    count++;
  }
  return i;
}

function extendRight(text: string, i: number): number {
  let count = 0;
  while (i < text.length && count < SNIPPET_CONTEXT) {
    if (isSpace(text.charCodeAt(i))) {
      while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    } else i = pairEnd(text, i + 1);
    count++;
  }
  return i;
}
