/**
 * PLACEHOLDER until helper "text" lands src/search/text.ts (branch h/text): the contract's tokenizer
 * (search-contract §1), so that the cold sidecars build against the same signature. Replaced by theirs
 * at merge.
 */
export const MAX_TOKEN_UNITS = 64;

const NON_ASCII = /[\u0080-\uffff]/;
const ASCII_TOKEN = /[a-z0-9_]+/g;
const TOKEN = /[\p{L}\p{N}\p{M}_]+/gu;

export function tokenize(text: string): string[] {
  if (!NON_ASCII.test(text)) return text.toLowerCase().match(ASCII_TOKEN) ?? [];
  return text.normalize("NFKC").toLowerCase().match(TOKEN) ?? [];
}

/** FNV-1a 32-bit over the token's UTF-16 code units, unsigned. */
export function termOf(token: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    h ^= token.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The distinct terms of the text's indexable tokens (≤ MAX_TOKEN_UNITS units), added to `into`. */
export function termsOf(text: string, into: Set<number> = new Set()): Set<number> {
  for (const t of tokenize(text)) if (t.length <= MAX_TOKEN_UNITS) into.add(termOf(t));
  return into;
}
