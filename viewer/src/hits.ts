/**
 * Search hits as the viewer shows them: where a hit links to, and the query's words marked in its
 * snippet (no DOM, no Preact: the unit tests run it in Node). The marks are approximate on purpose: the
 * server decides what matches; they only highlight the words a reader typed.
 */
import { turnHref } from "./paths.js";
import type { SearchHit } from "./types.js";

export interface Part {
  text: string;
  marked: boolean;
}

/** The query's positive words, lowercased, without quotes, field prefixes or excluded terms. */
export function queryWords(q: string): string[] {
  const words = new Set<string>();
  for (const m of q.matchAll(/(-?)(?:(?:name|model|attr\.[^\s:"]+):)?("[^"]*"?|\S+)/gu)) {
    if (m[1] === "-") continue;
    for (const w of m[2]!.toLowerCase().match(/[\p{L}\p{N}\p{M}_]+/gu) ?? []) words.add(w);
  }
  return [...words];
}

/** The snippet cut into parts, the words (as whole tokens, any case) marked. */
export function markWords(snippet: string, words: readonly string[]): Part[] {
  if (words.length === 0) return [{ text: snippet, marked: false }];
  const parts: Part[] = [];
  let last = 0;
  for (const m of snippet.matchAll(/[\p{L}\p{N}\p{M}_]+/gu)) {
    if (!words.includes(m[0].toLowerCase())) continue;
    if (m.index > last) parts.push({ text: snippet.slice(last, m.index), marked: false });
    parts.push({ text: m[0], marked: true });
    last = m.index + m[0].length;
  }
  if (last < snippet.length) parts.push({ text: snippet.slice(last), marked: false });
  return parts;
}

/** The hit's turn, with its span (or log) selected; none for a record without a turn. */
export function hitHref(hit: SearchHit): string | undefined {
  if (hit.turnId === "") return undefined;
  if (hit.kind === "log") return `${turnHref(hit.turnId)}?log=${encodeURIComponent(hit.recordId)}`;
  return hit.spanId ? `${turnHref(hit.turnId)}?span=${encodeURIComponent(hit.spanId)}` : turnHref(hit.turnId);
}
