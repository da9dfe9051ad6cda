import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { ClassicLevel } from "classic-level";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStore, type TraceRecord, type TraceStore } from "../src/index.js";
import { ENCODE_AHEAD_ROWS } from "../src/maintenance/compaction.js";
import { type EncodeRequest, encoderTestHooks, INLINE_ROWS } from "../tiers/cold/writer.js";
import { recordKey } from "../tiers/hot/keys.js";
import { log, multiDayTurns, tempDir, tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2027, 0, 1);
const HOUR = 3_600_000;

// These tests are about the thread: every file goes to it, however small (INLINE_ROWS).
beforeEach(() => {
  encoderTestHooks.inlineRows = 0;
});

afterEach(() => {
  encoderTestHooks.onWorker = undefined;
  encoderTestHooks.inlineRows = undefined;
});

/** Every `.parquet` file under the cold directory, as `date=…/name`. */
function parquetFiles(dir: string): string[] {
  const cold = join(dir, "cold");
  return readdirSync(cold)
    .filter((p) => p.startsWith("date="))
    .flatMap((p) => readdirSync(join(cold, p)).map((f) => `${p}/${f}`))
    .filter((f) => f.endsWith(".parquet"));
}

/** The files the cold manifest lists (none before the first commit). */
function listed(dir: string): string[] {
  if (!existsSync(join(dir, "cold", "MANIFEST.json"))) return [];
  const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8")) as {
    files: { name: string }[];
  };
  return manifest.files.map((f) => f.name);
}

async function everything(store: TraceStore) {
  return { all: await store.query({ bodies: false }), stats: await store.stats() };
}

describe("compaction's encoder thread", () => {
  it("fails the compaction with ERR_IO when the thread dies before it answers, and changes nothing", async () => {
    const records = multiDayTurns(4, 2).flat();
    const { store, dir } = await tempStore();
    await store.insertRecords(records);
    const before = await everything(store);
    encoderTestHooks.onWorker = (w) => void w.terminate();
    await expect(store.compact({ now: FAR_FUTURE })).rejects.toMatchObject({ code: "ERR_IO" });
    expect(await everything(store)).toEqual(before);
    expect(parquetFiles(dir)).toEqual([]);
    encoderTestHooks.onWorker = undefined;
    expect((await store.compact({ now: FAR_FUTURE })).recordsMoved).toBe(records.length);
    expect((await everything(store)).all).toEqual(before.all);
  });

  it("removes the files it wrote and did not commit when the thread dies after its first file", async () => {
    const records = multiDayTurns(6, 2).flat();
    const { store, dir } = await tempStore();
    await store.insertRecords(records);
    const before = await everything(store);
    let answered = 0;
    encoderTestHooks.onWorker = (w) => {
      w.on("message", () => {
        if (++answered === 1) void w.terminate();
      });
    };
    await expect(store.compact({ now: FAR_FUTURE })).rejects.toMatchObject({ code: "ERR_IO" });
    expect(answered).toBe(1);
    expect(parquetFiles(dir)).toEqual(listed(dir)); // nothing written outside a commit stays
    expect(await everything(store)).toEqual(before);
    await store.close();
    const again = await openStore({ dir });
    expect((await again.compact({ now: FAR_FUTURE })).recordsMoved).toBe(records.length);
    expect((await everything(again)).all).toEqual(before.all);
    await again.close();
  });

  for (const where of ["the thread", "the calling thread (a small file)"] as const) {
    it(`fails with ERR_CORRUPT_STORE naming the key of a hot value ${where} cannot decode, and moves nothing`, async () => {
      if (where !== "the thread") encoderTestHooks.inlineRows = undefined;
      const records = multiDayTurns(3, 2).flat();
      const { store, dir } = await tempStore();
      await store.insertRecords(records);
      await store.close();
      const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
        keyEncoding: "buffer",
        valueEncoding: "buffer",
      });
      const victim = recordKey(records[5]!.turnId, records[5]!.timestamp, 6); // sequence numbers start at 1
      expect(await db.get(victim)).toBeDefined();
      await db.put(victim, Buffer.from([0x95, 0x07]));
      await db.close();
      const again = await openStore({ dir });
      const error = await again.compact({ now: FAR_FUTURE }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "ERR_CORRUPT_STORE" });
      expect((error as Error).message).toContain(victim.toString("hex"));
      expect((await again.stats()).coldRecords).toBe(0);
      expect(parquetFiles(dir)).toEqual([]);
      await again.close();
    });
  }

  it("encodes small files on the calling thread: a compaction of a few records starts no thread", async () => {
    encoderTestHooks.inlineRows = undefined;
    let started = 0;
    encoderTestHooks.onWorker = () => started++;
    const { store } = await tempStore();
    await store.insertRecords(multiDayTurns(3, 2).flat());
    const moved = (await store.compact({ now: FAR_FUTURE })).recordsMoved;
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThanOrEqual(INLINE_ROWS * 3);
    expect(started).toBe(0);
    expect((await store.stats()).coldRecords).toBe(moved);
  });

  it("hands the thread no file while ENCODE_AHEAD_ROWS rows are in flight, however far it could read ahead", async () => {
    // 40 hours of 1,500 records: 60,000 rows, three times the bound. The thread's requests are held
    // until the compaction stops sending, so a loop that did not wait would hand over every row.
    const start = Date.UTC(2026, 9, 1);
    const records: TraceRecord[] = [];
    for (let h = 0; h < 40; h++)
      for (let i = 0; i < 1500; i++)
        records.push(log(`m${i}`, start + h * HOUR + i * 1000, { turnId: `t${h}` }));
    const { store } = await tempStore();
    for (let i = 0; i < records.length; i += 10_000) await store.insertRecords(records.slice(i, i + 10_000));
    let outstanding = 0;
    let most = 0;
    encoderTestHooks.onWorker = (w: Worker) => {
      const post = w.postMessage.bind(w);
      let held: Parameters<Worker["postMessage"]>[] = [];
      let timer: NodeJS.Timeout | undefined;
      const release = () => {
        for (const args of held.splice(0)) post(...args);
      };
      w.postMessage = (...args: Parameters<Worker["postMessage"]>) => {
        outstanding += (args[0] as EncodeRequest).batch.ends.length;
        most = Math.max(most, outstanding);
        held.push(args);
        clearTimeout(timer);
        timer = setTimeout(release, 300); // the loop has stopped sending: it waits for a file
      };
      w.on("message", () => {
        outstanding -= 1500;
      });
      held = [];
    };
    expect((await store.compact({ now: FAR_FUTURE })).recordsMoved).toBe(records.length);
    expect(most).toBeGreaterThan(ENCODE_AHEAD_ROWS);
    expect(most).toBeLessThanOrEqual(ENCODE_AHEAD_ROWS + 1500);
  });

  it("runs from the built package, where the thread's entry is compiled JavaScript", () => {
    const dir = tempDir();
    const entry = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));
    const script = `
      const { openStore } = await import(${JSON.stringify(entry)});
      const store = await openStore({ dir: ${JSON.stringify(dir)} });
      const t = Date.UTC(2026, 9, 1);
      await store.insertRecords([0, 1, 2].map((h) => ({ kind: "log", level: "info", msg: "m" + h,
        timestamp: t + h * ${HOUR}, extensionId: "ext", turnId: "turn" })));
      const { recordsMoved } = await store.compact({ now: ${FAR_FUTURE} });
      console.log(recordsMoved, (await store.getTurn("turn")).length);
      await store.close();`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(out.trim()).toBe("3 3");
    expect(parquetFiles(dir)).toHaveLength(3);
  });
});
