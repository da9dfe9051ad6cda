/**
 * PLACEHOLDER until branch h/text lands (its src/search/text.ts replaces this file whole): the
 * contract's tokens and terms (search-contract §1), enough for the chunk index to be built and tested.
 */
export const MAX_TOKEN_UNITS = 64;

const isAscii = (s: string) => Buffer.byteLength(s, "utf8") === s.length;

export function tokenize(text: string): string[] {
  if (isAscii(text)) return text.toLowerCase().match(/[a-z0-9_]+/g) ?? [];
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}\p{M}_]+/gu) ?? []
  );
}

export function termOf(token: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    h ^= token.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function termsOf(text: string, into: Set<number> = new Set()): Set<number> {
  for (const t of tokenize(text)) if (t.length <= MAX_TOKEN_UNITS) into.add(termOf(t));
  return into;
}
