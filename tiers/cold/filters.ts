/**
 * A cold file's lookup filters, built from its rows when it is written: one over its turn ids (kept in
 * its manifest entry, so that every file's is in memory from the open: "which files hold turn T" opens
 * none) and one over its record ids (kept in its own footer and read with it: "does record X exist" is
 * asked of the few files of X's hour, docs/decisions.md).
 */
import { BloomFilter, ID_BITS_PER_KEY, idHash, TURN_BITS_PER_KEY, textHash } from "./filter.js";
import type { Row } from "./schema.js";

export function fileFilters(rows: readonly Row[]): { turns: string; ids: string } {
  const turns = new Set<string>();
  // Records without a turn are keyed "" in the hot tier, and a query for turnId "" must find them.
  for (const r of rows) turns.add(typeof r.turnId === "string" ? r.turnId : "");
  const ids = rows.map((r) => idHash(r.id as string));
  return {
    turns: BloomFilter.build([...turns].map(textHash), turns.size, TURN_BITS_PER_KEY).encode(),
    ids: BloomFilter.build(ids, ids.length, ID_BITS_PER_KEY).encode(),
  };
}
