import { describe, expect, it } from "vitest";
import { openStore } from "../src/index.js";
import { encodeFrame } from "../wal/frame.js";
import { WalWriter } from "../wal/writer.js";
import { installFaultFs } from "./support/fault-fs.js";
import { log, tempDir, tempStore } from "./support/fixtures.js";

describe("durability modes", () => {
  it.each(["sync", "interval", "none"] as const)(
    "makes everything acknowledged durable on close (%s)",
    async (durability) => {
      const { store, dir } = await tempStore({ durability });
      await Promise.all(Array.from({ length: 30 }, (_, i) => store.insertRecords([log(`m${i}`, i)])));
      await store.close();
      const again = await openStore({ dir });
      expect(await again.getTurn("turn-1")).toHaveLength(30);
      await again.close();
    },
  );

  it("fsyncs on a timer under interval durability, not per append", async () => {
    const w = await WalWriter.create(
      { dir: tempDir(), durability: "interval", syncIntervalMs: 20, segmentBytes: 1 << 20 },
      1,
    );
    for (let i = 0; i < 50; i++) await w.append(encodeFrame(Buffer.from(`f${i}`)), i + 1);
    const afterAppends = w.stats.syncs;
    await new Promise((r) => setTimeout(r, 120));
    expect(afterAppends).toBeLessThan(50);
    expect(w.stats.syncs).toBeGreaterThan(afterAppends);
    await w.close();
  });

  it("refuses writes for good after a failed timer fsync under interval durability (ERR_WAL_FAILED)", async () => {
    const fs = installFaultFs();
    const { store } = await tempStore({ durability: "interval", syncIntervalMs: 10 });
    fs.inject({ op: "datasync", path: /\.wal$/, kind: "EIO" });
    await store.insertRecords([log("before", 1)]); // acknowledged on write; the timer's fsync then fails
    await new Promise((r) => setTimeout(r, 60));
    expect(fs.injected).toBe(1);
    fs.clear();
    await expect(store.insertRecords([log("after", 2)])).rejects.toMatchObject({ code: "ERR_WAL_FAILED" });
  });

  it("rejects an unknown durability with ERR_INVALID_OPTION", async () => {
    await expect(openStore({ dir: tempDir(), durability: "eventually" as "sync" })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
  });
});
