import { describe, expect, it } from "vitest";
import { openStore } from "../src/index.js";
import { log, tempDir, tempStore } from "./support/fixtures.js";
import { exited, runChild, startChild, waitForLine } from "./support/spawn.js";

describe("lock", () => {
  it("refuses a second open in the same process with ERR_LOCKED, and the first keeps working", async () => {
    const { store, dir } = await tempStore();
    const err = await openStore({ dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_LOCKED" });
    expect((err as Error).message).toMatch(/locked by another open store/);
    expect(await store.insertRecords([log("still fine", 1)])).toEqual({ inserted: 1, duplicates: 0 });
  });

  it("refuses an open from another process while this one holds the store", async () => {
    const { store, dir } = await tempStore();
    expect(await runChild(["try-open", dir])).toEqual(["ERR_LOCKED"]);
    expect(await store.insertRecords([log("still fine", 1)])).toEqual({ inserted: 1, duplicates: 0 });
  });

  it("refuses an open here while another process holds the store, and opens once it is gone", async () => {
    const dir = tempDir();
    const child = startChild(["hold", dir]);
    await waitForLine(child, (l) => l === "open");
    await expect(openStore({ dir })).rejects.toMatchObject({ code: "ERR_LOCKED" });
    child.stdin!.end();
    await exited(child);
    const store = await openStore({ dir });
    await store.close();
  });
});
