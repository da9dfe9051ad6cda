/**
 * The search query language (docs/search.md "Query language"): words, `"phrases"`, `-exclusions`, and
 * the fields `name:`, `model:` and `attr.KEY:`. Every term is a token sequence (a word is a sequence of
 * one), matched by src/search/match.ts.
 */
import { InvalidOptionError } from "../base/errors.js";
import { tokenize } from "./text.js";

export type QueryField = "any" | "name" | "model" | { attr: string };

export interface QueryTerm {
  field: QueryField;
  /** The term's tokens, in order: consecutive tokens of one text (a phrase) when there are several. */
  tokens: string[];
  negated: boolean;
}

export interface SearchQuery {
  terms: QueryTerm[];
}

/** Longest query accepted, in UTF-16 units. */
export const MAX_QUERY_LENGTH = 1000;
/** Most terms (with a token) a query may have. */
export const MAX_QUERY_TERMS = 32;

/** Parses a query; refuses a bad one with `InvalidOptionError("q", reason)` (ERR_INVALID_OPTION). */
export function parseQuery(q: string): SearchQuery {
  if (typeof q !== "string") throw new InvalidOptionError("q", "must be a string");
  if (q.length > MAX_QUERY_LENGTH) {
    throw new InvalidOptionError("q", `is longer than ${MAX_QUERY_LENGTH} characters (${q.length})`);
  }
  const terms: QueryTerm[] = [];
  for (const raw of splitTerms(q)) {
    const term = parseTerm(raw);
    if (term === undefined) continue;
    if (terms.length === MAX_QUERY_TERMS) {
      throw new InvalidOptionError("q", `has more than ${MAX_QUERY_TERMS} terms`);
    }
    terms.push(term);
  }
  if (terms.length === 0) throw new InvalidOptionError("q", "has no word to search for");
  if (terms.every((t) => t.negated)) {
    throw new InvalidOptionError("q", "has only excluded terms (add a word that must match)");
  }
  return { terms };
}

/** The raw terms: runs of non-whitespace, where whitespace inside double quotes does not cut. */
function splitTerms(q: string): string[] {
  const out: string[] = [];
  let inQuote = false;
  let start = -1;
  let quoteAt = -1;
  for (let i = 0; i < q.length; i++) {
    const c = q[i]!;
    if (c === '"') {
      inQuote = !inQuote;
      quoteAt = i;
    }
    const space = !inQuote && /\s/.test(c);
    if (space) {
      if (start >= 0) out.push(q.slice(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  if (inQuote) throw new InvalidOptionError("q", `has an unclosed quote (at character ${quoteAt})`);
  if (start >= 0) out.push(q.slice(start));
  return out;
}

/** One raw term → its field, tokens and sign; undefined for a term with no token (ignored). */
function parseTerm(raw: string): QueryTerm | undefined {
  const negated = raw.startsWith("-");
  const rest = negated ? raw.slice(1) : raw;
  const { field, value } = splitField(rest);
  // Quotes are not token chars: the value's tokens are the phrase whether it was quoted or not.
  const tokens = tokenize(value);
  if (tokens.length === 0) return undefined;
  return { field, tokens, negated };
}

/**
 * `name:`, `model:` and `attr.KEY:` (KEY up to the first `:`, verbatim, without a quote) are fields;
 * any other prefix is text (so `key:value` in logs is searchable as the phrase "key value").
 */
function splitField(term: string): { field: QueryField; value: string } {
  if (term.startsWith("name:")) return { field: "name", value: term.slice(5) };
  if (term.startsWith("model:")) return { field: "model", value: term.slice(6) };
  if (term.startsWith("attr.")) {
    const colon = term.indexOf(":", 5);
    const quote = term.indexOf('"');
    if (colon > 5 && (quote < 0 || quote > colon)) {
      return { field: { attr: term.slice(5, colon) }, value: term.slice(colon + 1) };
    }
  }
  return { field: "any", value: term };
}
