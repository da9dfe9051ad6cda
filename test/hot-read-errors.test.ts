/**
 * Damage the hot tier's reads meet comes out as ERR_CORRUPT_STORE naming what is damaged, never as a
 * bare library error (zlib's, or a RangeError from a key that is not one), and never as wrong data.
 */

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type TraceStore } from "../src/index.js";
import { idKey, P_CHUNK, prefixEnd } from "../tiers/hot/keys.js";
import { HotTier } from "../tiers/hot/tier.js";
import { span, tempDir } from "./support/fixtures.js";

const BODY = "The agent read the file, ran the tests, and wrote a patch. ".repeat(600); // chunked, deflated

/** A store with one chunked body in turn-1 and a record without one in turn-2, closed. */
async function storeWithBody(): Promise<{ dir: string; id: string }> {
  const dir = tempDir();
  const store = await openStore({ dir });
  await store.insertRecords([
    span({ spanId: "with-body", timestamp: 1_000, body: BODY }),
    span({ spanId: "plain", timestamp: 2_000, turnId: "turn-2" }),
  ]);
  const id = (await store.getTurn("turn-1"))[0]!.id;
  await store.close();
  return { dir, id };
}

/** Opens the store's hot tier alone and changes it with `damage`. */
async function damageHot(dir: string, damage: (hot: HotTier) => Promise<void>): Promise<void> {
  const hot = await HotTier.open(join(dir, "hot"), dir);
  await damage(hot);
  await hot.close();
}

async function firstChunkKey(hot: HotTier): Promise<Buffer> {
  const p = Buffer.of(P_CHUNK);
  for await (const batch of hot.entries({ gte: p, lt: prefixEnd(p) }, false)) return batch[0]![0];
  throw new Error("no chunk stored");
}

async function expectOtherTurnReadable(store: TraceStore): Promise<void> {
  expect((await store.getTurn("turn-2")).map((r) => r.kind === "span-open" && r.spanId)).toEqual(["plain"]);
}

describe("a damaged hot tier", () => {
  it("a chunk that does not inflate fails the read of its body with ERR_CORRUPT_STORE naming the chunk", async () => {
    const { dir } = await storeWithBody();
    let chunk = "";
    await damageHot(dir, async (hot) => {
      const key = await firstChunkKey(hot);
      chunk = key.subarray(1).toString("hex");
      await hot.write([{ type: "put", key, value: Buffer.of(1, 0xff, 0xff, 0xff, 0xff) }], true);
    });
    const store = await openStore({ dir });
    const err = await store.getTurn("turn-1").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_CORRUPT_STORE" });
    expect((err as Error).message).toContain(`chunk ${chunk}`);
    expect(await store.getTurn("turn-1", { bodies: false })).toHaveLength(1);
    await expectOtherTurnReadable(store);
    await store.close();
  });

  it("a chunk cut short fails the read of its body instead of returning it padded", async () => {
    const { dir } = await storeWithBody();
    await damageHot(dir, async (hot) => {
      const key = await firstChunkKey(hot);
      await hot.write([{ type: "put", key, value: Buffer.concat([Buffer.of(0), Buffer.from("cut")]) }], true);
    });
    const store = await openStore({ dir });
    await expect(store.getTurn("turn-1")).rejects.toMatchObject({
      code: "ERR_CORRUPT_STORE",
      message: expect.stringMatching(/^body [0-9a-f]{64} has \d+ bytes in its chunks/),
    });
    await expectOtherTurnReadable(store);
    await store.close();
  });

  it("an id index entry that is not a record key fails getBody with ERR_CORRUPT_STORE naming the record", async () => {
    const { dir, id } = await storeWithBody();
    await damageHot(dir, (hot) =>
      hot.write([{ type: "put", key: idKey(id), value: Buffer.of(0x72, 1) }], true),
    );
    const store = await openStore({ dir });
    await expect(store.getBody(id)).rejects.toMatchObject({
      code: "ERR_CORRUPT_STORE",
      message: expect.stringContaining(`record ${id}`),
    });
    await expectOtherTurnReadable(store);
    await store.close();
  });
});
