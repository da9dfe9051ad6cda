/**
 * The CI slice of the torture rounds (`npm run torture` runs them for minutes): five SIGKILLs of a
 * child that ingests, compacts, merges, prunes and collects on a moving clock, each followed by the full
 * check of test/support/torture.ts (acknowledged records once with their bodies, retention, stats,
 * getTurn/getBody against query, and `verify` clean).
 */
import { describe, expect, it } from "vitest";
import { runTorture } from "./support/torture.js";

describe("torture slice", () => {
  it("leaves every acknowledged record readable once and verify clean after each of a few kills", async () => {
    // Seed 8's five rounds kill in each way the long run does: during open, at the start of a
    // maintenance step (twice), at a cold manifest commit, and at a random moment.
    const s = await runTorture({ seed: 8, rounds: 5 });
    expect(s.examples).toEqual([]);
    expect(s.failedRounds).toBe(0);
    expect(s.rounds).toBe(5);
    expect(s.acknowledged).toBeGreaterThan(0); // the rounds did ingest before their kills
  }, 120_000);
});
