/**
 * The chunk index across SIGKILLs (search contract §3, "the WAL is its durable queue"): a child inserts
 * with concurrent callers and 128 KiB WAL segments (so checkpoints release segments, gated by the
 * index's indexedSeq) and is killed at random; after the reopen, every word of every acknowledged
 * record's body leads through docsOf → bodiesOf to that record's body (its SHA-256 prefix).
 */
import { describe, expect, it } from "vitest";
import { sha256 } from "../src/bodies/store.js";
import { openStore } from "../src/index.js";
import type { ChunkIndex } from "../src/search/chunks/index.js";
import { termOf, tokenize } from "../src/search/text.js";
import { crashBatch } from "./support/crash-workload.js";
import { tempDir } from "./support/fixtures.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const ROUNDS = 4;

describe("the chunk index after SIGKILLs during ingest", () => {
  it("leads every word of every acknowledged record's body to that record after the reopen", async () => {
    const dir = tempDir();
    const acked = new Set<number>();
    for (let round = 0; round < ROUNDS; round++) {
      const child = startChild(["insert-loop", dir, String(round * 10_000), "4"]);
      await waitForLine(child, (l) => l === "ready");
      await waitForLine(child, (l) => l.startsWith("ack"), 30_000);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      child.kill("SIGKILL");
      await exited(child);
      for (const l of child.lines) if (l.startsWith("ack ")) acked.add(Number(l.slice(4)));
    }
    expect(acked.size).toBeGreaterThan(ROUNDS);

    const store = await openStore({ dir });
    const index = (store as unknown as { chunkIndex: ChunkIndex }).chunkIndex;
    expect(index.complete).toBe(true);
    const found = memo(index);
    let checked = 0;
    for (const b of acked) {
      for (const r of crashBatch(b)) {
        if (r.body === undefined) continue;
        for (const w of new Set(tokenize(r.body))) {
          expect((await found(w)).has(bodyName(r.body)), `"${w}" of batch ${b}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
    await store.close();
  });
});

/** A body's name in the index: the first 8 bytes of its SHA-256 (hex). */
function bodyName(body: string): string {
  return sha256(Buffer.from(body, "utf8")).toString("hex", 0, 8);
}

/** The bodies (names, hex) each word leads to, asked once per word. */
function memo(index: ChunkIndex): (word: string) => Promise<Set<string>> {
  const cache = new Map<string, Set<string>>();
  return async (word) => {
    let hit = cache.get(word);
    if (hit === undefined) {
      await index.caughtUp();
      const bodies = await index.bodiesOf(await index.docsOf(termOf(word)));
      hit = new Set(bodies.map((b) => b.toString("hex")));
      cache.set(word, hit);
    }
    return hit;
  };
}
