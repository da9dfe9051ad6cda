/**
 * Tokens and terms of full-text search (docs/search.md "Tokens").
 *
 * The definition: an ASCII text is folded A–Z → a–z and cut into maximal runs of `[a-z0-9_]`; any other
 * text is `text.normalize("NFKC").toLowerCase()` cut into maximal runs of `[\p{L}\p{N}\p{M}_]`. On ASCII
 * text the two give the same tokens (ASCII is NFKC-invariant, and its letters, digits and `_` are exactly
 * the ASCII members of those classes).
 *
 * The implementation runs the ASCII char-code loop over every text and hands only the *segments* holding
 * non-ASCII characters to the Unicode path. A segment is cut just before a "separator": an ASCII char
 * that is not a token char and not case-ignorable (`' . : ^ \``). That is exact, not an approximation:
 * - NFKC: an ASCII char is a starter that composes with nothing before it, so normalizing the text
 *   piecewise, cut before one, gives the same string as normalizing it whole (UAX #15, safe points);
 * - `toLowerCase()` is context-sensitive only for Final_Sigma, whose context scans skip case-ignorable
 *   chars and stop at anything else: a separator ends the scan on both sides just as in the whole text;
 * - a separator is not a token char before or after folding, so no token spans a cut.
 * A property test (test/search-text.test.ts) checks the result against the whole-text definition.
 */

/** Tokens longer than this (UTF-16 units) are not indexed (`termsOf` skips them; matching still sees them). */
export const MAX_TOKEN_UNITS = 64;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Per ASCII code: 1 = token char, 2 = separator (a safe cut for the Unicode path), 0 = neither. */
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const token =
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
  // Case-ignorable ASCII (Unicode Case_Ignorable): ' . : ^ `
  const caseIgnorable = c === 0x27 || c === 0x2e || c === 0x3a || c === 0x5e || c === 0x60;
  ASCII_CLASS[c] = token ? 1 : caseIgnorable ? 0 : 2;
}

const TOKEN_RUN = /[\p{L}\p{N}\p{M}_]+/gu;

/** FNV-1a 32 over the token's UTF-16 code units, unsigned: what indexes store for a token. */
export function termOf(token: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

/** A text (or a segment of one) folded by the Unicode path. */
export function foldUnicode(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

/**
 * Where the Unicode segment holding the non-ASCII char at `i` ends: the first separator after it,
 * extended while another non-ASCII char follows within 64 units (fewer, longer segments for text in a
 * language with accents here and there).
 */
function segmentEnd(text: string, i: number): number {
  const n = text.length;
  let end = i + 1;
  for (;;) {
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c < 128 && ASCII_CLASS[c] === 2) break;
      end++;
    }
    let j = end;
    const limit = Math.min(n, end + 64);
    while (j < limit && text.charCodeAt(j) < 128) j++;
    if (j >= limit) return end;
    end = j + 1;
  }
}

/** Calls `emit` with each token of a Unicode segment, in order. */
function unicodeTokens(segment: string, emit: (token: string) => void): void {
  const folded = foldUnicode(segment);
  TOKEN_RUN.lastIndex = 0;
  for (let m = TOKEN_RUN.exec(folded); m !== null; m = TOKEN_RUN.exec(folded)) emit(m[0]);
}

/** The text's tokens, in order, repeats included (docs/search.md "Tokens"). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let segStart = 0; // the last separator seen: where a Unicode segment would start
  let segTokens = 0; // out.length at segStart
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    // Between tokens: note separators, stop at a token char or a non-ASCII char.
    while (c < 128 && ASCII_CLASS[c] !== 1) {
      if (ASCII_CLASS[c] === 2) {
        segStart = i;
        segTokens = out.length;
      }
      if (++i === n) return out;
      c = text.charCodeAt(i);
    }
    if (c < 128) {
      const start = i;
      let upper = false;
      do {
        if (c >= 0x41 && c <= 0x5a) upper = true;
        if (++i === n) break;
        c = text.charCodeAt(i);
      } while (c < 128 && ASCII_CLASS[c] === 1);
      if (i === n || c < 128) {
        const token = text.slice(start, i);
        out.push(upper ? token.toLowerCase() : token);
        continue;
      }
    }
    // ASCII tokens completed since segStart are tokens of the segment too: drop and redo them in order.
    out.length = segTokens;
    const end = segmentEnd(text, i);
    unicodeTokens(text.slice(segStart, end), (t) => out.push(t));
    segStart = end;
    segTokens = out.length;
    i = end;
  }
  return out;
}

/**
 * Terms seen during one scan, deduplicated in an open-addressing table before they reach the caller:
 * a body repeats each token about 5 times, and adding an unsigned 32-bit number to a `Set` (a heap
 * number above 2^30) costs several times the scan itself. Slots are valid when their stamp is the
 * current scan's, so starting a scan clears nothing.
 */
/** Spreads a term over the table's slots (FNV-1a's low bits alone cluster). */
function slotOf(key: number): number {
  const h = Math.imul(key ^ (key >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/** Slots the term table keeps between scans (a body's distinct terms rarely need more). */
const KEEP_SLOTS = 1 << 16;

class TermTable {
  keys = new Int32Array(1024);
  stamps = new Int32Array(1024);
  stamp = 0;
  size = 0;
  /** Distinct terms of the current scan, in first-seen order. */
  list = new Uint32Array(256);

  start(): void {
    this.size = 0;
    if (this.keys.length > KEEP_SLOTS) {
      // A huge text grew the table: do not hold its megabytes for the life of the process.
      this.keys = new Int32Array(1024);
      this.stamps = new Int32Array(1024);
      this.list = new Uint32Array(256);
    }
    if (++this.stamp === 0x7fffffff) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
  }

  /** Adds a term (as `h | 0`); true if it was new in this scan. */
  add(key: number): boolean {
    const mask = this.keys.length - 1;
    let s = slotOf(key) & mask;
    for (;;) {
      if (this.stamps[s] !== this.stamp) break;
      if (this.keys[s] === key) return false;
      s = (s + 1) & mask;
    }
    this.keys[s] = key;
    this.stamps[s] = this.stamp;
    if (this.size === this.list.length) {
      const grown = new Uint32Array(this.size * 2);
      grown.set(this.list);
      this.list = grown;
    }
    this.list[this.size++] = key;
    if (this.size * 2 > mask) this.grow();
    return true;
  }

  /** Doubles the table, rehashing this scan's terms (older slots are dropped). */
  private grow(): void {
    const size = this.keys.length * 2;
    this.keys = new Int32Array(size);
    this.stamps = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < this.size; i++) {
      const key = this.list[i]! | 0;
      let s = slotOf(key) & mask;
      while (this.stamps[s] === this.stamp) s = (s + 1) & mask;
      this.keys[s] = key;
      this.stamps[s] = this.stamp;
    }
  }
}

const table = new TermTable();

/** Scans the text into `table` (distinct terms of its indexable tokens). */
function scanTerms(text: string): void {
  table.start();
  const n = text.length;
  let segStart = 0; // the last separator seen: where a Unicode segment would start
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    // Between tokens: note separators, stop at a token char or a non-ASCII char.
    while (c < 128 && ASCII_CLASS[c] !== 1) {
      if (ASCII_CLASS[c] === 2) segStart = i;
      if (++i === n) return;
      c = text.charCodeAt(i);
    }
    if (c < 128) {
      // An ASCII token, hashed as it is scanned.
      const start = i;
      let h = FNV_OFFSET;
      do {
        h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c | 0x20 : c), FNV_PRIME);
        if (++i === n) break;
        c = text.charCodeAt(i);
      } while (c < 128 && ASCII_CLASS[c] === 1);
      if (i === n || c < 128) {
        if (i - start <= MAX_TOKEN_UNITS) table.add(h | 0);
        continue;
      }
      // The token runs into a non-ASCII char: the Unicode segment below redoes it.
    }
    // Terms added since segStart are terms of the segment as well (the table ignores repeats).
    const end = segmentEnd(text, i);
    unicodeTokens(text.slice(segStart, end), (t) => {
      if (t.length <= MAX_TOKEN_UNITS) table.add(termOf(t) | 0);
    });
    segStart = end;
    i = end;
  }
}

/**
 * The distinct terms (`termOf`) of the text's indexable tokens (at most `MAX_TOKEN_UNITS` units), added
 * to `into` when given. ASCII tokens are hashed as they are scanned, without building their strings.
 */
export function termsOf(text: string, into: Set<number> = new Set()): Set<number> {
  scanTerms(text);
  const list = table.list;
  for (let i = 0; i < table.size; i++) into.add(list[i]!);
  return into;
}

/**
 * `termsOf` as a typed array (distinct, in first-seen order): the same terms without a `Set`, for
 * callers that sort or encode them anyway: 1.25–1.5× termsOf's speed on the workload's bodies, as it
 * boxes no number and fills no Set. The array is the caller's (a copy).
 */
export function termArray(text: string): Uint32Array {
  scanTerms(text);
  return table.list.slice(0, table.size);
}

/** Whether the code point at `i` of an already folded text is a token char (`[\p{L}\p{N}\p{M}_]`). */
export function isTokenCharAt(folded: string, i: number): boolean {
  if (i < 0 || i >= folded.length) return false;
  const c = folded.charCodeAt(i);
  if (c < 128) return ASCII_CLASS[c] === 1;
  TOKEN_CHAR.lastIndex = i;
  return TOKEN_CHAR.test(folded);
}

/** Whether the code point that ends just before `i` is a token char (a surrogate pair read whole). */
export function isTokenCharBefore(folded: string, i: number): boolean {
  if (i <= 0) return false;
  const c = folded.charCodeAt(i - 1);
  if (c >= 0xdc00 && c <= 0xdfff && i >= 2) {
    const hi = folded.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return isTokenCharAt(folded, i - 2);
  }
  return isTokenCharAt(folded, i - 1);
}

const TOKEN_CHAR = /[\p{L}\p{N}\p{M}_]/uy;

/** Whether the text is all ASCII (then folding keeps every offset). */
export function isAscii(text: string): boolean {
  // One UTF-8 byte per UTF-16 unit exactly when every unit is below 0x80 (a lone surrogate counts 3).
  // Counted natively: 3× faster than a regex test on a body of 200 KB, which the search's checks of
  // large bodies spent a third of their time on.
  return Buffer.byteLength(text, "utf8") === text.length;
}

/**
 * The text as tokens are cut from: ASCII folded A–Z, anything else NFKC + `toLowerCase()`. Tokens are
 * exactly its maximal runs of token chars.
 */
export function foldText(text: string): string {
  return isAscii(text) ? text.toLowerCase() : foldUnicode(text);
}

/**
 * The offset in `text` of the char that offset `f` of `foldText(text)` comes from. Exact for ASCII
 * parts; inside a Unicode segment (which NFKC may lengthen or shorten) it is found piece by piece
 * between separators and scaled within the piece, so it is exact where NFKC kept the length (most
 * text, CJK included) and otherwise off by at most the length change within one word.
 */
export function originalOffset(text: string, f: number): number {
  if (isAscii(text)) return Math.min(f, text.length);
  const n = text.length;
  let folded = 0; // folded units before i
  let segStart = 0;
  let segFolded = 0; // folded units before segStart
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128) {
      // The ASCII chars from segStart to i were counted one for one: take them back, fold the segment.
      const end = segmentEnd(text, i);
      const len = foldUnicode(text.slice(segStart, end)).length;
      if (f < segFolded + len) return offsetInSegment(text, segStart, end, f - segFolded);
      folded = segFolded + len;
      segStart = end;
      segFolded = folded;
      i = end;
      continue;
    }
    if (folded === f) return i;
    if (ASCII_CLASS[c] === 2) {
      segStart = i;
      segFolded = folded;
    }
    folded++;
    i++;
  }
  return n;
}

/**
 * `originalOffset` within the Unicode segment [start, end): `rel` folded units into it. The segment is
 * folded again piece by piece, cut before each separator (safe cuts, see the top of this file), and
 * the offset is scaled within the piece holding it.
 */
function offsetInSegment(text: string, start: number, end: number, rel: number): number {
  let a = start;
  while (a < end) {
    let b = a + 1;
    while (b < end) {
      const c = text.charCodeAt(b);
      if (c < 128 && ASCII_CLASS[c] === 2) break;
      b++;
    }
    const len = foldUnicode(text.slice(a, b)).length;
    if (rel < len) return Math.min(b - 1, a + Math.floor((rel * (b - a)) / len));
    rel -= len;
    a = b;
  }
  return end;
}

/**
 * The terms an index must post for a cut between two chunks of a body, so a word across the cut is
 * found: `left` and `right` are the text just before and just after the cut (whole characters; either
 * may run over other cuts). The joined text's tokens are aligned with each side's: the longest run
 * equal to `left`'s from the start and to `right`'s from the end are tokens the sides' own terms (or
 * their other cuts) hold; the tokens between are the junction's. Positions are compared, not sets, so a
 * word that also occurs elsewhere in a side is still posted. Taken on the folded text, not on raw word
 * characters, it also holds what NFKC or the final sigma make across a cut (`abc|℡` is `abctel`,
 * `ΟΔΟΣ|'Α` is `οδοσ …`), which a raw `[\p{L}\p{N}\p{M}_]` run misses. `rightOwnFrom`: where the
 * later chunk's own text starts in `right` (past a character the cut split, which neither chunk's own
 * text holds).
 *
 * Sides of about 3 × MAX_TOKEN_UNITS units cover an indexable token: a folded unit comes from at most
 * 3 original units in practice (a base letter and two combining marks, or Hangul jamo).
 */
export function junctionTerms(left: string, right: string, rightOwnFrom = 0): Set<number> {
  const joined = tokenize(left + right);
  const l = tokenize(left);
  const r = tokenize(right.slice(rightOwnFrom));
  let head = 0;
  while (head < l.length && head < joined.length && l[head] === joined[head]) head++;
  let tail = 0;
  const most = joined.length - head;
  while (tail < r.length && tail < most && r[r.length - 1 - tail] === joined[joined.length - 1 - tail])
    tail++;
  const out = new Set<number>();
  for (let i = head; i < joined.length - tail; i++) {
    const t = joined[i]!;
    if (t.length <= MAX_TOKEN_UNITS) out.add(termOf(t));
  }
  return out;
}
