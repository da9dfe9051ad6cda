import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JournalTailer } from "../src/collector/journal.js";
import { stableId, type TraceRecord, type TraceStore } from "../src/index.js";
import { log, tempDir, tempStore } from "./support/fixtures.js";

const line = (r: TraceRecord) => `${JSON.stringify(r)}\n`;
const records = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => log(`line ${from + i}`, 1_000 + from + i, { turnId: "j" }));

async function setup() {
  const { store, dir } = await tempStore();
  const logs: string[] = [];
  const journal = join(tempDir(), "trace.ndjson");
  const open = () =>
    JournalTailer.open({ path: journal, store, stateDir: join(dir, "collector"), log: (l) => logs.push(l) });
  return { store, dir, journal, logs, open };
}

/** The turn's messages: what the journal's lines stored, in order. */
async function stored(store: TraceStore): Promise<string[]> {
  return (await store.getTurn("j")).map((r) => (r as { msg: string }).msg);
}

const expected = (n: number) => records(0, n).map((r) => (r as { msg: string }).msg);

describe("journal tailing", () => {
  it("stores lines appended in pieces once each, a partial last line only once it is complete", async () => {
    const { store, journal, open } = await setup();
    const t = await open();
    const all = records(0, 5).map(line).join("");
    writeFileSync(journal, all.slice(0, 130)); // one and a half lines
    await t.drain();
    expect(await stored(store)).toEqual(expected(1));
    appendFileSync(journal, all.slice(130, 300));
    await t.drain();
    appendFileSync(journal, all.slice(300));
    await t.drain();
    await t.drain();
    expect(await stored(store)).toEqual(expected(5));
    expect(t.counts).toEqual({ stored: 5, duplicates: 0, rejected: 0 });
  });

  it("finishes a file rotated by rename before it starts the new one", async () => {
    const { store, journal, open } = await setup();
    const t = await open();
    writeFileSync(journal, records(0, 3).map(line).join(""));
    await t.drain();
    appendFileSync(journal, records(3, 2).map(line).join("")); // written after the last read, before rotation
    renameSync(journal, `${journal}.1`);
    writeFileSync(journal, records(5, 3).map(line).join(""));
    await t.drain();
    expect(await stored(store)).toEqual(expected(8));
    expect(t.counts.duplicates).toBe(0);
  });

  it("reads a file truncated mid-stream from its start, whether it is now shorter or already longer", async () => {
    const { store, journal, open } = await setup();
    const t = await open();
    writeFileSync(journal, records(0, 4).map(line).join(""));
    await t.drain();
    truncateSync(journal, 0);
    appendFileSync(journal, records(4, 1).map(line).join(""));
    await t.drain();
    truncateSync(journal, 0);
    appendFileSync(journal, records(5, 8).map(line).join("")); // longer than the old position
    await t.drain();
    expect(await stored(store)).toEqual(expected(13));
    expect(t.counts.duplicates).toBe(0);
  });

  it("resumes after a restart where it stopped, also across a rotation that happened while it was down", async () => {
    const { store, journal, open } = await setup();
    let t = await open();
    writeFileSync(journal, records(0, 3).map(line).join(""));
    await t.stop();
    t = await open();
    appendFileSync(journal, records(3, 2).map(line).join(""));
    await t.drain();
    await t.stop();
    appendFileSync(journal, records(5, 2).map(line).join(""));
    renameSync(journal, `${journal}.1`);
    writeFileSync(journal, records(7, 2).map(line).join(""));
    t = await open();
    await t.drain();
    expect(await stored(store)).toEqual(expected(9));
    expect(t.counts.duplicates).toBe(0);
  });

  for (const [what, state] of [
    ["not JSON", "{ damaged"],
    [
      "of the wrong shape",
      JSON.stringify({ version: 1, position: { dev: 1, ino: "x", offset: -4, line: 0 } }),
    ],
  ] as const) {
    it(`reads from the start, says so and loses nothing when its saved position is ${what}`, async () => {
      const { store, dir, journal, logs, open } = await setup();
      let t = await open();
      writeFileSync(journal, records(0, 3).map(line).join(""));
      await t.stop();
      const [stateFile] = readdirSync(join(dir, "collector", "journals"));
      writeFileSync(join(dir, "collector", "journals", stateFile!), state);
      appendFileSync(journal, records(3, 2).map(line).join(""));
      t = await open();
      await t.drain();
      await t.stop();
      expect(await stored(store)).toEqual(expected(5));
      expect(t.counts.duplicates).toBe(3); // read again, stored once
      expect(logs.join("\n")).toContain("damaged");
    });
  }

  it("skips a bad line, reports it with file and line number, and keeps it in the rejects file", async () => {
    const { store, dir, journal, logs, open } = await setup();
    const t = await open();
    const good = records(0, 3).map(line);
    writeFileSync(
      journal,
      `${good[0]}{"kind":"log",\n${good[1]}${JSON.stringify({ kind: "log", msg: "no level" })}\n${good[2]}`,
    );
    await t.drain();
    expect(await stored(store)).toEqual(expected(3));
    expect(t.counts.rejected).toBe(2);
    expect(logs.some((l) => l.includes(`${journal}:2: skipped a bad line`))).toBe(true);
    expect(logs.some((l) => l.includes(`${journal}:4: skipped a bad line: field`))).toBe(true);
    const rejects = readFileSync(join(dir, "collector", "rejects.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rejects.map((r: { line: number }) => r.line)).toEqual([2, 4]);
    expect(rejects[0].text).toBe('{"kind":"log",');
  });

  it("stores each line of a large journal exactly once, with ids equal to the seed's", async () => {
    const { store, journal, open } = await setup();
    const t = await open();
    const many = records(0, 12_000);
    writeFileSync(journal, many.map(line).join(""));
    await t.drain();
    expect((await store.stats()).hotRecords).toBe(12_000);
    expect((await store.getTurn("j", { bodies: false })).map((r) => r.id)).toEqual(many.map(stableId));
    expect(existsSync(journal)).toBe(true);
  });
});
