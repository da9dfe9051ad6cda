import { describe, expect, it } from "vitest";
import { openStore, stableId } from "../src/index.js";
import { crashBatch } from "./support/crash-workload.js";
import { tempDir } from "./support/fixtures.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const ROUNDS = 6;

describe("crash safety", () => {
  it("keeps every acknowledged record exactly once across repeated SIGKILLs", async () => {
    const dir = tempDir();
    const acked = new Set<number>();
    for (let round = 0; round < ROUNDS; round++) {
      const first = round * 10_000;
      const child = startChild(["insert-loop", dir, String(first), "4"]);
      await waitForLine(child, (l) => l === "ready");
      await waitForLine(child, (l) => l.startsWith("ack"), 30_000);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 300));
      child.kill("SIGKILL");
      await exited(child);
      for (const l of child.lines) if (l.startsWith("ack ")) acked.add(Number(l.slice(4)));
    }
    expect(acked.size).toBeGreaterThan(ROUNDS);

    const store = await openStore({ dir });
    const stored = await store.query({ bodies: false });
    const ids = stored.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length); // nothing twice
    const byId = new Map(stored.map((r) => [r.id, r]));
    for (const b of acked) {
      for (const r of crashBatch(b)) {
        const id = stableId(r);
        expect(byId.has(id), `acknowledged record of batch ${b} missing`).toBe(true);
        if (r.body !== undefined) expect(await store.getBody(id)).toBe(r.body);
      }
    }
    expect((await store.stats()).hotRecords).toBe(stored.length);
    await store.close();
  });
});
