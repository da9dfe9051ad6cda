/** The operator's commands, each run as a real process against a real store. */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClassicLevel } from "classic-level";
import { describe, expect, it } from "vitest";
import { openStore, type StoredRecord, stableId, type TraceRecord } from "../src/index.js";
import { cli } from "./support/cli.js";
import { everyKind, multiDayTurns, tempDir } from "./support/fixtures.js";
import { writeSeedDatabase } from "./support/seed-sqlite.js";
import { runChild } from "./support/spawn.js";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const INTEROP = fileURLToPath(new URL("./interop", import.meta.url));

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join("\n");

/** A store with the multi-day workload: half compacted into partitions, half hot. */
async function preparedStore(): Promise<{ dir: string; records: TraceRecord[] }> {
  const dir = tempDir();
  const records = multiDayTurns(4, 3, 24).flat();
  const store = await openStore({ dir });
  await store.insertRecords(records);
  await store.compact({ now: records[Math.floor(records.length / 2)]!.timestamp, olderThanMs: 0 });
  await store.close();
  return { dir, records };
}

describe("tracetier ingest", () => {
  it("loads an NDJSON file, reports a bad line with its number, and counts a second load as duplicates", async () => {
    const dir = tempDir();
    const file = join(tempDir(), "in.ndjson");
    const records = everyKind();
    writeFileSync(
      file,
      `${ndjson(records.slice(0, 2))}\n{not json\n${ndjson(records.slice(2))}\n${JSON.stringify({ kind: "log" })}\n`,
    );
    const first = await cli(["ingest", file, "--dir", dir, "--json"]);
    expect(first.code).toBe(3);
    const s = JSON.parse(first.out);
    expect(s).toMatchObject({ inserted: 4, duplicates: 0, rejected: 2 });
    expect(s.rejects.map((r: { line: number }) => r.line)).toEqual([3, 6]);
    const again = await cli(["ingest", file, "--dir", dir, "--json"]);
    expect(JSON.parse(again.out)).toMatchObject({ inserted: 0, duplicates: 4 });
    const text = await cli(["ingest", file, "--dir", dir]);
    expect(text.out).toContain("line 3: not JSON");
  });

  it("stores the same records and reports the same bad lines wherever the file is handed to the reader thread", async () => {
    const file = join(tempDir(), "in.ndjson");
    const records = [...everyKind(), ...multiDayTurns(1, 2).flat()];
    const lines = records.map((r) => JSON.stringify(r));
    lines.splice(2, 0, "{not json");
    lines.splice(5, 0, JSON.stringify({ kind: "log" }), "");
    writeFileSync(file, `${lines.join("\r\n")}\n`);
    const stored = async (handOver: string) => {
      const dir = tempDir();
      const run = await cli(["ingest", file, "--dir", dir, "--json"], {
        TRACETIER_INGEST_HANDOVER_LINE: handOver,
      });
      const store = await openStore({ dir });
      const all = await store.query({});
      const bodies = await Promise.all(all.map((r) => store.getBody(r.id)));
      await store.close();
      return { summary: JSON.parse(run.out), code: run.code, records: all, bodies };
    };
    const onMain = await stored(String(lines.length + 1)); // never handed over
    expect(onMain.code).toBe(3);
    expect(onMain.summary).toMatchObject({ inserted: records.length, duplicates: 0, rejected: 2 });
    expect(onMain.summary.rejects.map((r: { line: number }) => r.line)).toEqual([3, 6]);
    expect(onMain.summary.rejects[1].error).toContain('field "timestamp"');
    expect(onMain.records.map((r) => r.id).sort()).toEqual(records.map((r) => stableId(r)).sort());
    for (const handOver of ["0", "4"]) {
      const got = await stored(handOver);
      expect({ ...got.summary, seconds: 0 }, `handed over after line ${handOver}`).toEqual({
        ...onMain.summary,
        seconds: 0,
      });
      expect(got.records).toEqual(onMain.records);
      expect(got.bodies).toEqual(onMain.bodies);
    }
  });

  it("loads NDJSON from a path that is not a regular file (a named pipe), on the main thread", async () => {
    const dir = tempDir();
    const fifo = join(tempDir(), "in.fifo");
    execFileSync("mkfifo", [fifo]);
    const records = everyKind();
    const run = cli(["ingest", fifo, "--dir", dir, "--json"], { TRACETIER_INGEST_HANDOVER_LINE: "0" });
    await writeFile(fifo, `${ndjson(records)}\n`); // resolves once the command has opened and read it
    const { code, out } = await run;
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ inserted: records.length, rejected: 0 });
  });

  it("counts every bad line of a file that has nothing else, showing the first 20", async () => {
    const dir = tempDir();
    const file = join(tempDir(), "bad.ndjson");
    writeFileSync(file, "x\n".repeat(5000));
    const run = await cli(["ingest", file, "--dir", dir, "--json"], { TRACETIER_INGEST_HANDOVER_LINE: "0" });
    expect(run.code).toBe(3);
    const s = JSON.parse(run.out);
    expect(s).toMatchObject({ inserted: 0, rejected: 5000 });
    expect(s.rejects).toHaveLength(20);
  });

  it("names a file it cannot read with ERR_IO and exits 1", async () => {
    const run = await cli(["ingest", join(tempDir(), "missing.ndjson"), "--dir", tempDir()]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/ERR_IO.*missing\.ndjson/);
  });

  it("loads a JSON array from stdin", async () => {
    const dir = tempDir();
    const records = everyKind();
    const child = execFile(process.execPath, [
      "--import",
      "tsx",
      MAIN,
      "ingest",
      "-",
      "--format",
      "json",
      "--dir",
      dir,
      "--json",
    ]);
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
    });
    child.stdin!.end(JSON.stringify(records));
    const code = await new Promise((r) => child.on("exit", r));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ inserted: 4, rejected: 0 });
  });
});

describe("tracetier turn, query, stats, compact, prune, gc", () => {
  it("prints a turn's easy view, and its records as JSON with or without bodies", async () => {
    const { dir, records } = await preparedStore();
    const turnId = records[0]!.turnId!;
    const store = await openStore({ dir });
    const view = await store.easyView(turnId);
    const withBodies = await store.getTurn(turnId);
    await store.close();
    expect((await cli(["turn", turnId, "--dir", dir])).out).toBe(`${view}\n`);
    expect(JSON.parse((await cli(["turn", turnId, "--dir", dir, "--json", "--bodies"])).out)).toEqual(
      withBodies,
    );
    const thin = JSON.parse((await cli(["turn", turnId, "--dir", dir, "--json"])).out) as StoredRecord[];
    expect(thin.every((r) => r.body === undefined)).toBe(true);
  });

  it("queries with ISO times and filters, as lines or JSON", async () => {
    const { dir, records } = await preparedStore();
    const from = new Date(records[10]!.timestamp).toISOString();
    const r = await cli([
      "query",
      "--dir",
      dir,
      "--from",
      from,
      "--kind",
      "span-close",
      "--limit",
      "5",
      "--order",
      "desc",
      "--json",
    ]);
    const got = JSON.parse(r.out) as StoredRecord[];
    const want = records.filter((x) => x.kind === "span-close" && x.timestamp >= records[10]!.timestamp);
    want.sort((a, b) => b.timestamp - a.timestamp);
    expect(got.map((x) => x.timestamp)).toEqual(want.slice(0, 5).map((x) => x.timestamp));
    const lines = (await cli(["query", "--dir", dir, "--limit", "3"])).out.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect((await cli(["query", "--dir", dir, "--from", "yesterday"])).code).toBe(1);
  });

  it("runs maintenance by hand with summaries that parse, and stats that agree", async () => {
    const { dir, records } = await preparedStore();
    const compact = JSON.parse((await cli(["compact", "--dir", dir, "--older-than", "0s", "--json"])).out);
    expect(compact.recordsMoved).toBeGreaterThan(0);
    const stats = JSON.parse((await cli(["stats", "--dir", dir, "--json"])).out);
    expect(stats.hotRecords + stats.coldRecords).toBe(records.length);
    const prune = await cli(["prune", "--dir", dir, "--max-body-age", "1s", "--json"]);
    expect(prune.code).toBe(0);
    expect(JSON.parse(prune.out)).toMatchObject({ policy: { maxBodyAgeMs: 1000 }, recordsDeleted: 0 });
    expect(JSON.parse((await cli(["gc", "--dir", dir, "--json"])).out)).toMatchObject({ bodiesDeleted: 0 });
    expect((await cli(["stats", "--dir", dir])).out).toMatch(/records: +0 hot, \d+ cold in \d+ partitions/);
  });
});

describe("tracetier verify", () => {
  it("finds nothing on a clean store and exits 0", async () => {
    const { dir } = await preparedStore();
    const r = await cli(["verify", "--dir", dir, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ clean: true, problems: [] });
  });

  it("finds a flipped WAL byte, with its segment and offset", async () => {
    const dir = tempDir();
    await runChild(["insert-n", dir, "3"]); // exits without close: the WAL keeps its frames
    const wal = join(dir, "wal");
    const seg = join(wal, readdirSync(wal).sort().at(-1)!);
    const buf = readFileSync(seg);
    buf[40] = buf[40]! ^ 0xff; // inside the first frame, with valid frames after it
    writeFileSync(seg, buf);
    const r = await cli(["verify", "--dir", dir]);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/problem: wal\/\d+\.wal at offset 16: corrupt frame: checksum mismatch/);
  });

  it("finds a deleted Parquet file and a deleted body, which --repair leaves alone", async () => {
    const { dir, records } = await preparedStore();
    const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8"));
    unlinkSync(join(dir, "cold", manifest.files[0].name));
    const withBody = records.find(
      (r) => r.body !== undefined && r.timestamp >= records[Math.floor(records.length / 2)]!.timestamp,
    )!;
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    const { createHash } = await import("node:crypto");
    await db.del(Buffer.concat([Buffer.of(0x62), createHash("sha256").update(withBody.body!).digest()]));
    await db.close();
    const r = await cli(["verify", "--dir", dir]);
    expect(r.code).toBe(3);
    expect(r.out).toContain(`problem: cold/${manifest.files[0].name}: listed in the manifest but missing`);
    expect(r.out).toMatch(
      /problem: body [0-9a-f]{64}: a hot record refers to it, and it is neither stored nor marked evicted/,
    );
    const repaired = await cli(["verify", "--dir", dir, "--repair"]);
    expect(repaired.code).toBe(3);
  });

  it("repairs a dangling index entry, leaves a stray temporary file to the recovery it runs, and is clean after", async () => {
    const { dir } = await preparedStore();
    const manifest = JSON.parse(readFileSync(join(dir, "cold", "MANIFEST.json"), "utf8"));
    const stray = join(
      dir,
      "cold",
      manifest.files[0].date ? `date=${manifest.files[0].date}` : "",
      ".g9-0.parquet.tmp",
    );
    writeFileSync(stray, "half a file");
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, "hot"), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    const dangling = Buffer.concat([Buffer.of(0x74), Buffer.alloc(16, 0x7f)]); // a time-index entry with no record
    await db.put(dangling, Buffer.from("r-nothing"));
    await db.close();
    const found = await cli(["verify", "--dir", dir]);
    expect(found.code).toBe(3);
    expect(found.out).toContain("problem (repairable)");
    expect(found.out).toContain("pending: cold/"); // the next open's sweep removes it
    const r = await cli(["verify", "--dir", dir, "--repair"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("its recovery finished 1 pending item(s)");
    expect(existsSync(stray)).toBe(false);
    expect(r.out).toContain("repaired: hot t-index entry");
    expect(r.out).toContain("clean after repair");
    expect((await cli(["verify", "--dir", dir])).code).toBe(0);
  });
});

describe("tracetier dump", () => {
  it("prints the WAL, the manifest, a partition and a body as JSON", async () => {
    const { dir, records } = await preparedStore();
    const wal = JSON.parse((await cli(["dump", "wal", "--dir", dir, "--json"])).out);
    expect(Array.isArray(wal)).toBe(true);
    const manifest = JSON.parse((await cli(["dump", "manifest", "--dir", dir, "--json"])).out);
    expect(manifest).toMatchObject({ version: 5, dropped: [] });
    const date = manifest.files[0].date;
    const part = JSON.parse(
      (await cli(["dump", "partition", date, "--rows", "2", "--dir", dir, "--json"])).out,
    );
    expect(part[0].rowGroups.length).toBeGreaterThan(0);
    expect(part[0].rows).toHaveLength(2);
    const cold = records.find(
      (r) => r.body !== undefined && new Date(r.timestamp).toISOString().startsWith(date),
    )!;
    const body = JSON.parse((await cli(["dump", "body", stableId(cold), "--dir", dir, "--json"])).out);
    expect(body).toMatchObject({ originalBytes: Buffer.byteLength(cold.body!) });
    expect((await cli(["dump", "nothing", "--dir", dir])).code).toBe(1);
  });
});

describe("tracetier import-sqlite", () => {
  for (const version of [1, 2] as const) {
    it(`moves every record and body of a schema v${version} seed database, ids equal, and a second run imports nothing new`, async () => {
      const records = multiDayTurns(3, 3).flat();
      const db = join(tempDir(), "trace.db");
      writeSeedDatabase(db, version, records);
      const dir = tempDir();
      const r = await cli(["import-sqlite", db, "--dir", dir, "--json"]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({
        schemaVersion: version,
        read: records.length,
        inserted: records.length,
        idMismatches: 0,
      });
      const store = await openStore({ dir });
      const ids = new Set((await store.query({ bodies: false })).map((x) => x.id));
      expect(ids).toEqual(new Set(records.map(stableId)));
      for (const rec of records.filter((x) => x.body !== undefined).slice(0, 30))
        expect(await store.getBody(stableId(rec))).toBe(rec.body);
      await store.close();
      const again = await cli(["import-sqlite", db, "--dir", dir, "--json"]);
      expect(JSON.parse(again.out)).toMatchObject({ read: 0, inserted: 0 });
    });
  }
});

describe("tracetier import-sqlite, interrupted", () => {
  it("resumes after the last batch it saved", async () => {
    const records = multiDayTurns(6, 6).flat();
    const db = join(tempDir(), "trace.db");
    writeSeedDatabase(db, 2, records);
    const dir = tempDir();
    const first = JSON.parse((await cli(["import-sqlite", db, "--dir", dir, "--json"])).out);
    expect(first.read).toBe(records.length);
    // As if the run had been killed after its first 300 records: its saved position goes back there.
    const [progress] = readdirSync(join(dir, "import"));
    writeFileSync(join(dir, "import", progress!), JSON.stringify({ version: 1, lastRowid: 300 }));
    const resumed = JSON.parse((await cli(["import-sqlite", db, "--dir", dir, "--json"])).out);
    expect(resumed).toMatchObject({
      resumedAfterRowid: 300,
      read: records.length - 300,
      inserted: 0,
      duplicates: records.length - 300,
    });
  });
});

describe("tracetier import-sqlite, with a damaged progress file", () => {
  it("refuses with ERR_CORRUPT_STORE naming the file, instead of a raw SyntaxError", async () => {
    const records = multiDayTurns(2, 2).flat();
    const db = join(tempDir(), "trace.db");
    writeSeedDatabase(db, 2, records);
    const dir = tempDir();
    await cli(["import-sqlite", db, "--dir", dir, "--json"]);
    const [progress] = readdirSync(join(dir, "import"));
    writeFileSync(join(dir, "import", progress!), "{ damaged");
    const r = await cli(["import-sqlite", db, "--dir", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ERR_CORRUPT_STORE");
    expect(r.err).toContain(progress!);
  });
});

describe("tracetier sql", () => {
  it("counts the cold tier's rows as stats().coldRecords does", async () => {
    const { dir } = await preparedStore();
    const r = await cli(["sql", "SELECT count(*) AS n FROM records", "--dir", dir, "--json"], {
      TRACETIER_DUCKDB: INTEROP,
    });
    expect(r.code).toBe(0);
    const stats = JSON.parse((await cli(["stats", "--dir", dir, "--json"])).out);
    expect(Number(JSON.parse(r.out)[0].n)).toBe(stats.coldRecords);
  });

  it("says how to get DuckDB when it is not installed", async () => {
    const r = await cli(["sql", "SELECT 1", "--dir", tempDir()], { TRACETIER_DUCKDB: tempDir() });
    expect(r.code).toBe(1);
    expect(r.err).toContain("npm install @duckdb/node-api");
  });
});

describe("the command line", () => {
  it("has --help with examples on every command", async () => {
    for (const c of [
      "serve",
      "ingest",
      "turn",
      "query",
      "compact",
      "prune",
      "gc",
      "stats",
      "verify",
      "dump",
      "tail",
      "search",
      "import-sqlite",
      "sql",
    ]) {
      const r = await cli([c, "--help"]);
      expect(r.code, c).toBe(0);
      if (!["gc", "stats"].includes(c)) expect(r.out, c).toContain("Examples:");
      if (!["serve", "ingest", "import-sqlite", "sql"].includes(c))
        expect(r.out, c).toContain("While `tracetier serve` holds the store, this command goes through it");
    }
  });

  it("says what went wrong in one line with its code, and exits 2 on bad usage", async () => {
    expect((await cli(["frobnicate"])).code).toBe(2);
    expect((await cli(["turn"])).code).toBe(2);
    const r = await cli(["compact", "--older-than", "soon", "--dir", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("ERR_INVALID_OPTION");
  });
});
