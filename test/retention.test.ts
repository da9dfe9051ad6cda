import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_RETENTION, openStore, stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import { log, multiDayTurns, span, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);
const DAY = 86_400_000;

function du(path: string): number {
  return Number(execFileSync("du", ["-sB1", path], { encoding: "utf8" }).split("\t")[0]);
}

const dateOf = (ts: number) => new Date(ts).toISOString().slice(0, 10);

function coldDates(dir: string): string[] {
  return readdirSync(join(dir, "cold"))
    .filter((n) => n.startsWith("date="))
    .map((n) => n.slice(5))
    .sort();
}

/** A store with every record of `turns` compacted into date partitions. */
async function coldStore(turns: TraceRecord[][]): Promise<{ store: TraceStore; dir: string }> {
  const s = await tempStore();
  await s.store.insertRecords(turns.flat());
  await s.store.compact({ now: FAR_FUTURE });
  return s;
}

/** Every record the store returns, by id. */
async function allIds(store: TraceStore): Promise<Set<string>> {
  return new Set((await store.query({ bodies: false })).map((r) => r.id));
}

describe("retention by age", () => {
  it("drops the partitions whose day lies before the cutoff, from disk and from every read", async () => {
    const turns = multiDayTurns(6, 3, 24);
    const records = turns.flat();
    const { store, dir } = await coldStore(turns);
    const dates = coldDates(dir);
    expect(dates.length).toBeGreaterThan(2);
    const keepFrom = dates[2]!;
    const now = Date.parse(`${keepFrom}T12:00:00Z`) + 3 * DAY;
    const result = await store.prune({ maxAgeMs: 3 * DAY + 12 * 3_600_000 }, { now });

    const gone = records.filter((r) => dateOf(r.timestamp) < keepFrom);
    const kept = records.filter((r) => dateOf(r.timestamp) >= keepFrom);
    expect(result.partitionsDropped).toBe(2);
    expect(result.recordsDeleted).toBe(gone.length);
    expect(coldDates(dir)).toEqual(dates.slice(2));
    expect(await allIds(store)).toEqual(new Set(kept.map(stableId)));
    for (const r of gone.slice(0, 20)) expect(await store.getBody(stableId(r))).toBeUndefined();
    const keptTurn = kept[0]!.turnId!;
    expect((await store.getTurn(keptTurn)).map((r) => r.id)).toEqual(
      kept.filter((r) => r.turnId === keptTurn).map(stableId),
    );
    expect((await store.stats()).coldRecords).toBe(kept.length);
  });

  it("deletes hot records older than the cutoff and keeps newer ones", async () => {
    const { store } = await tempStore();
    const old = [log("old-a", 1_000), log("old-b", 2_000, { body: "old body ".repeat(300) })];
    const fresh = [log("new", 10_000, { body: "new body ".repeat(300) })];
    await store.insertRecords([...old, ...fresh]);
    const result = await store.prune({ maxAgeMs: 5_000 }, { now: 9_000 });
    expect(result.recordsDeleted).toBe(2);
    expect(result.bodiesDeleted).toBe(1);
    expect(await allIds(store)).toEqual(new Set(fresh.map(stableId)));
    const stats = await store.stats();
    expect(stats.hotRecords).toBe(1);
    expect(stats.bodies).toBe(1);
  });

  it("never brings a dropped partition back after a reopen, and re-accepts its records as new", async () => {
    const turns = multiDayTurns(4, 2);
    const { store, dir } = await coldStore(turns);
    const first = coldDates(dir)[0]!;
    const now = Date.parse(`${first}T00:00:00Z`) + 2 * DAY;
    await store.prune({ maxAgeMs: DAY }, { now });
    await store.close();
    const again = await openStore({ dir });
    expect(coldDates(dir)).not.toContain(first);
    const dropped = turns.flat().filter((r) => dateOf(r.timestamp) === first);
    expect([...(await allIds(again))].some((id) => dropped.map(stableId).includes(id))).toBe(false);
    // Its index entries went with it: inserting a dropped record again stores it.
    expect(await again.insertRecords([dropped[0]!])).toEqual({ inserted: 1, duplicates: 0 });
    await again.close();
  });
});

describe("retention by size", () => {
  it("drops the oldest partitions first until du of the cold tier is at or under the cap", async () => {
    const turns = multiDayTurns(8, 3);
    const { store, dir } = await coldStore(turns);
    const dates = coldDates(dir);
    const cap = Math.floor(du(join(dir, "cold")) / 2);
    const result = await store.prune({ maxColdBytes: cap });
    const left = coldDates(dir);
    expect(result.partitionsDropped).toBeGreaterThan(0);
    expect(left).toEqual(dates.slice(dates.length - left.length)); // a suffix: only the oldest went
    expect(du(join(dir, "cold"))).toBeLessThanOrEqual(cap);
    // retention drops whole hours (a file holds one): the cut may fall inside a day
    const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8"));
    const hours = new Set(manifest.files.map((f: { minTs: number }) => Math.floor(f.minTs / 3_600_000)));
    const kept = turns.flat().filter((r) => hours.has(Math.floor(r.timestamp / 3_600_000)));
    expect(await allIds(store)).toEqual(new Set(kept.map(stableId)));
  });

  it("reports bytesReclaimed within a few blocks of what du saw the store shrink by", async () => {
    const turns = multiDayTurns(8, 3, 24);
    const { store, dir } = await coldStore(turns);
    const before = du(dir);
    const result = await store.prune({ maxColdBytes: 0 });
    const freed = before - du(dir);
    expect(result.partitionsDropped).toBeGreaterThan(3);
    expect(result.bytesReclaimed).toBeGreaterThan(0);
    expect(Math.abs(freed - result.bytesReclaimed)).toBeLessThanOrEqual(Math.max(64 * 1024, 0.05 * freed));
  });
});

describe("the payload clock and the body cap", () => {
  const body = (tag: string) => `${tag} `.repeat(4000); // chunked, not inline
  const recs = () => ({
    old: span({ spanId: "old", timestamp: 1_000, turnId: "t-old", body: body("old") }),
    shared1: span({ spanId: "s1", timestamp: 2_000, turnId: "t-old", body: body("shared") }),
    shared2: span({ spanId: "s2", timestamp: 50_000, turnId: "t-new", body: body("shared") }),
    fresh: span({ spanId: "new", timestamp: 60_000, turnId: "t-new", body: body("new") }),
  });

  it("evicts bodies whose newest reference is past maxBodyAgeMs and keeps their records", async () => {
    const r = recs();
    const { store } = await tempStore();
    await store.insertRecords(Object.values(r));
    const before = await store.stats();
    const result = await store.prune({ maxBodyAgeMs: 10_000 }, { now: 30_000 });
    expect(result).toMatchObject({ recordsDeleted: 0, bodiesDeleted: 1, bodiesEvicted: 1 });
    const oldTurn = await store.getTurn("t-old");
    expect(oldTurn.map((x) => x.id)).toEqual([stableId(r.old), stableId(r.shared1)]);
    expect(oldTurn[0]).toMatchObject({ bodyEvicted: true });
    expect(oldTurn[0]!.body).toBeUndefined();
    // Shared with a record inside the window: it lives on through that record.
    expect(oldTurn[1]!.body).toBe(r.shared1.body);
    expect(oldTurn[1]!.bodyEvicted).toBeUndefined();
    expect(await store.getBody(stableId(r.old))).toBeUndefined();
    expect(await store.easyView("t-old")).toContain("evicted]");
    const after = await store.stats();
    expect(after.bodies).toBe(before.bodies - 1);
    expect(after.bodyBytesStored).toBeLessThan(before.bodyBytesStored);
  });

  it("evicts by the age of a body's newest reference under maxTotalBodyBytes", async () => {
    const r = recs();
    const { store } = await tempStore();
    await store.insertRecords(Object.values(r));
    const before = await store.stats();
    // Room for about two of the three bodies: the one referenced only at t=1000 goes first, though the
    // shared one was referenced earlier (t=2000 < its newest 50000) than... its newest is what counts.
    const result = await store.prune({
      maxTotalBodyBytes: Math.floor((before.bodyBytesStored * 2) / 3) + 64,
    });
    expect(result.bodiesEvicted).toBe(1);
    expect((await store.getTurn("t-old"))[0]).toMatchObject({ bodyEvicted: true });
    const newTurn = await store.getTurn("t-new");
    expect(newTurn.map((x) => x.body)).toEqual([r.shared2.body, r.fresh.body]);
    expect((await store.stats()).bodyBytesStored).toBeLessThanOrEqual(
      Math.floor((before.bodyBytesStored * 2) / 3) + 64,
    );
  });

  it("gives the evicted bodies' disk back while every record stays", async () => {
    const { store, dir } = await tempStore();
    const records = Array.from({ length: 200 }, (_, i) =>
      log(`m${i}`, 1_000 + i, { turnId: `t${i % 10}`, body: randomBytes(15_000).toString("base64") }),
    );
    for (let i = 0; i < records.length; i += 50) await store.insertRecords(records.slice(i, i + 50));
    const before = du(join(dir, "hot"));
    const result = await store.prune({ maxBodyAgeMs: 0 }, { now: 1_000_000 });
    expect(result).toMatchObject({ recordsDeleted: 0, bodiesDeleted: 200, bodiesEvicted: 200 });
    expect(du(join(dir, "hot"))).toBeLessThan(before / 2);
    expect((await store.stats()).bodies).toBe(0);
    const turn = await store.getTurn("t3");
    expect(turn).toHaveLength(20);
    expect(turn.every((r) => r.bodyEvicted === true && r.body === undefined)).toBe(true);
  });

  it("stores an evicted body again when a new record brings it back", async () => {
    const r = recs();
    const { store } = await tempStore();
    await store.insertRecords([r.old]);
    await store.prune({ maxBodyAgeMs: 0 }, { now: 5_000 });
    expect((await store.getTurn("t-old"))[0]!.bodyEvicted).toBe(true);
    await store.insertRecords([{ ...r.old, spanId: "again", timestamp: 6_000 }]);
    expect((await store.getTurn("t-old")).map((x) => x.body)).toEqual([r.old.body, r.old.body]);
  });
});

describe("garbage collection", () => {
  it("deletes exactly the bodies no record refers to, and the chunks only they listed", async () => {
    const { store, dir } = await tempStore();
    const keep = log("keep", 100_000, { body: `${"history ".repeat(3000)}keep` });
    const drop = log("drop", 1_000, { body: `${"history ".repeat(3000)}drop` }); // shares most chunks
    const lone = log("lone", 1_000, { body: "lonely ".repeat(3000) });
    await store.insertRecords([keep, drop, lone]);
    await store.prune({ maxAgeMs: 50_000 }, { now: 60_000 });
    const stats = await store.stats();
    expect(stats.bodies).toBe(1);
    expect(await store.getBody(stableId(keep))).toBe(keep.body);
    expect((await store.gc()).bodiesDeleted).toBe(0); // prune collected already; nothing is left
    await store.close();
    const again = await openStore({ dir });
    expect(await again.getBody(stableId(keep))).toBe(keep.body);
    await again.close();
  });

  it("counts bodies and chunks deleted exactly across hot and cold references", async () => {
    const turns = multiDayTurns(6, 3);
    const records = turns.flat();
    const { store, dir } = await coldStore(turns.slice(0, 9));
    await store.insertRecords(turns.slice(9).flat()); // these stay hot
    const first = coldDates(dir)[0]!;
    const cutoff = Date.parse(`${first}T00:00:00Z`) + DAY;
    const before = await store.stats();
    const survivors = records.filter((r) => r.timestamp >= cutoff || !turns.slice(0, 9).flat().includes(r));
    const gone = records.filter((r) => !survivors.includes(r));
    const liveBodies = new Set(survivors.flatMap((r) => (r.body === undefined ? [] : [r.body])));
    const goneBodies = new Set(
      gone.flatMap((r) => (r.body === undefined || liveBodies.has(r.body) ? [] : [r.body])),
    );
    const result = await store.prune({ maxAgeMs: 0 }, { now: cutoff });
    expect(result.recordsDeleted).toBe(gone.length);
    expect(result.bodiesDeleted).toBe(goneBodies.size);
    expect((await store.stats()).bodies).toBe(before.bodies - goneBodies.size);
    for (const r of survivors.filter((x) => x.body !== undefined).slice(0, 40)) {
      expect(await store.getBody(stableId(r))).toBe(r.body);
    }
  });

  it("never deletes a body whose insert was acknowledged while the GC ran", async () => {
    const { store } = await tempStore();
    const base = "conversation so far ".repeat(2000);
    const filler = Array.from({ length: 200 }, (_, i) => log(`f${i}`, 1_000, { body: `${base}filler ${i}` }));
    for (let round = 0; round < 20; round++) {
      // A body whose only record is pruned, sent again by inserts that start at a moment somewhere in
      // the prune (its GC marks, plans and sweeps hundreds of orphan bodies).
      const orphan = `${base}${round}`;
      await store.insertRecords([log(`o${round}`, 1_000, { body: orphan }), ...filler]);
      const acked: TraceRecord[] = [];
      const inserter = async (w: number) => {
        await new Promise((r) => setTimeout(r, (round * 7 + w * 3) % 40));
        for (let i = 0; i < 5; i++) {
          const r = log(`r${round}-${w}-${i}`, 2_000_000 + i, { turnId: `race-${round}`, body: orphan });
          await store.insertRecords([r]);
          acked.push(r);
        }
      };
      const prune = store.prune({ maxAgeMs: 10 }, { now: 1_100 });
      await Promise.all([prune, inserter(0), inserter(1), inserter(2)]);
      for (const r of acked) expect(await store.getBody(stableId(r))).toBe(r.body);
      await store.prune({ maxAgeMs: 0 }, { now: 3_000_000 }); // a clean slate for the next round
    }
  });

  it("refuses a bad policy with the field named, and changes nothing", async () => {
    const turns = multiDayTurns(2, 2);
    const { store } = await coldStore(turns);
    const before = await store.stats();
    await expect(store.prune({ maxAgeMs: -1 })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
      message: expect.stringContaining("policy.maxAgeMs"),
    });
    await expect(store.prune({ maxColdBytes: Number.NaN })).rejects.toMatchObject({
      code: "ERR_INVALID_OPTION",
    });
    expect(await store.stats()).toEqual(before);
  });

  it("exports the seed's defaults: 7 days and 256 MiB of bodies", () => {
    expect(DEFAULT_RETENTION).toEqual({ maxAgeMs: 7 * DAY, maxTotalBodyBytes: 256 * 1024 * 1024 });
  });

  it("gives disk back: du of the store shrinks by about bytesReclaimed after a GC of many bodies", async () => {
    const { store, dir } = await tempStore();
    const records = Array.from({ length: 300 }, (_, i) =>
      log(`m${i}`, 1_000 + i, { body: `${i} ${"distinct payload ".repeat(200)} ${Math.random()}`.repeat(8) }),
    );
    for (let i = 0; i < records.length; i += 50) await store.insertRecords(records.slice(i, i + 50));
    await store.close();
    const s = await openStore({ dir });
    const before = du(dir);
    const result = await s.prune({ maxAgeMs: 0 }, { now: 1_000_000 });
    const freed = before - du(dir);
    expect(result.bodiesDeleted).toBe(300);
    expect(freed).toBeGreaterThan(0);
    expect(result.bytesReclaimed).toBeGreaterThan(0.5 * freed);
    expect(result.bytesReclaimed).toBeLessThanOrEqual(freed + 64 * 1024);
    await s.close();
    expect(existsSync(dir)).toBe(true);
  });
});
