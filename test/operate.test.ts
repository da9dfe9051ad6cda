/**
 * The command line while `tracetier serve` holds the store (issue 15): every command gives the same
 * output and exit code through the collector as on the store opened directly, maintenance runs inside
 * the collector under its maintenance lock, tokens are checked, and a killed collector's serve.json is
 * ignored.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type TraceRecord } from "../src/index.js";
import { type CliRun, cli } from "./support/cli.js";
import { multiDayTurns, tempDir } from "./support/fixtures.js";
import { type ServeProcess, serveProcess } from "./support/serve-process.js";
import { exited } from "./support/spawn.js";

const QUIET = ["--compact-schedule", "off", "--prune-schedule", "off"];

async function stop(s: ServeProcess): Promise<void> {
  s.child.kill("SIGTERM");
  expect(await exited(s.child)).toBe(0);
}

const kept: string[] = [];
afterAll(() => {
  for (const d of kept) rmSync(d, { recursive: true, force: true });
});

/** A directory for a whole describe block (tempDir's go after each test). */
function suiteDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tracetier-operate-"));
  kept.push(dir);
  return dir;
}

/** A store with hot and cold records, bodies, and three date partitions. */
async function storeWithBothTiers(dir = tempDir()): Promise<{ dir: string; records: TraceRecord[] }> {
  const records = multiDayTurns(3, 2, 24).flat();
  const store = await openStore({ dir });
  await store.insertRecords(records);
  const last = Math.max(...records.map((r) => r.timestamp));
  await store.compact({ olderThanMs: 24 * 3_600_000, now: last });
  await store.close();
  return { dir, records };
}

describe("commands through a running collector", () => {
  let dir: string;
  let records: TraceRecord[];
  let commands: string[][];
  const viaCollector = new Map<string, CliRun>();

  beforeAll(async () => {
    ({ dir, records } = await storeWithBothTiers(suiteDir()));
    const turnId = records[0]!.turnId!;
    const day = new Date(records[0]!.timestamp).toISOString().slice(0, 10);
    const probe = await openStore({ dir });
    const bodied = (await probe.getTurn(turnId, { bodies: "sizes" })).find((r) => (r.bodyBytes ?? 0) > 0);
    await probe.close();
    commands = [
      ["turn", turnId],
      ["turn", turnId, "--json", "--bodies"],
      ["turn", "no-such-turn", "--json"],
      ["query", "--limit", "40"],
      ["query", "--json", "--bodies", "--kind", "span-close", "--order", "desc"],
      ["query", "--order", "sideways"],
      ["search", "request", "--limit", "5"],
      ["search", "request", "--json", "--order", "asc"],
      ["stats"],
      ["dump", "manifest", "--json"],
      ["dump", "partition", day, "--rows", "2", "--json"],
      ["dump", "body", bodied!.id],
      ["dump", "wal"],
    ];
    const s = serveProcess(["--dir", dir, ...QUIET]);
    await s.url;
    const runs = await Promise.all(commands.map((c) => cli([...c, "--dir", dir, "--debug"])));
    commands.forEach((c, i) => viaCollector.set(c.join(" "), runs[i]!));
    await stop(s);
  }, 120_000);

  it("takes the collector's way while it runs, and says so under --debug", () => {
    for (const run of viaCollector.values())
      expect(run.err).toMatch(/through the collector at http:\/\/127\.0\.0\.1:\d+/);
  });

  it("gives each command the same output and exit code as the store opened directly", async () => {
    expect(existsSync(join(dir, "collector", "serve.json"))).toBe(false);
    for (const c of commands) {
      const direct = await cli([...c, "--dir", dir, "--debug"]);
      const remote = viaCollector.get(c.join(" "))!;
      expect(direct.err, c.join(" ")).toMatch(/(opened|read) directly/);
      expect({ cmd: c, code: remote.code, out: remote.out }).toEqual({
        cmd: c,
        code: direct.code,
        out: direct.out,
      });
      // The error line (code and message); under --debug a stack follows, which differs by path.
      const errLines = (r: CliRun) => r.err.split("\n").filter((l) => l.startsWith("tracetier: ERR_"));
      expect(errLines(remote)).toEqual(errLines(direct));
    }
  }, 120_000);

  it("answers the same JSON stats but for the counters of the process", async () => {
    const s = serveProcess(["--dir", dir, ...QUIET]);
    await s.url;
    const remote = JSON.parse((await cli(["stats", "--json", "--dir", dir])).out);
    await stop(s);
    const direct = JSON.parse((await cli(["stats", "--json", "--dir", dir])).out);
    for (const perProcess of ["walSyncs", "walSyncMs"]) {
      delete remote[perProcess];
      delete direct[perProcess];
    }
    expect(remote).toEqual(direct);
    expect(remote.coldRecords).toBeGreaterThan(0);
    expect(remote.hotRecords).toBeGreaterThan(0);
  }, 60_000);
});

describe("serve.json", () => {
  it("is published with the URL and pid while serving, and removed on a clean shutdown", async () => {
    const dir = tempDir();
    const s = serveProcess(["--dir", dir, ...QUIET]);
    const url = await s.url;
    const file = JSON.parse(readFileSync(join(dir, "collector", "serve.json"), "utf8"));
    expect(file).toMatchObject({ version: 1, url, pid: s.child.pid, token: false });
    expect(Date.parse(file.startedAt)).toBeGreaterThan(Date.now() - 60_000);
    await stop(s);
    expect(existsSync(join(dir, "collector", "serve.json"))).toBe(false);
  }, 60_000);

  it("left by a killed collector is ignored: the store is opened directly and the file removed", async () => {
    const { dir } = await storeWithBothTiers();
    const s = serveProcess(["--dir", dir, ...QUIET]);
    await s.url;
    s.child.kill("SIGKILL");
    await exited(s.child);
    expect(existsSync(join(dir, "collector", "serve.json"))).toBe(true);
    const run = await cli(["stats", "--json", "--dir", dir, "--debug"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out).hotRecords).toBeGreaterThan(0);
    expect(run.err).toMatch(/serve\.json is stale/);
    expect(run.err).toMatch(/opened directly/);
    expect(existsSync(join(dir, "collector", "serve.json"))).toBe(false);
  }, 60_000);
});

describe("a collector with a token", () => {
  let dir: string;
  let s: ServeProcess;
  beforeAll(async () => {
    dir = suiteDir();
    s = serveProcess(["--dir", dir, "--token", "s3cret", ...QUIET]);
    await s.url;
  }, 60_000);
  afterAll(() => stop(s));

  it("refuses a command without the token: exit 1 with the HTTP reason", async () => {
    const run = await cli(["stats", "--dir", dir], { TRACETIER_TOKEN: undefined });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      /ERR_UNAUTHORIZED: .*401 Unauthorized.*give its token with --token or TRACETIER_TOKEN/,
    );
    expect(run.out).toBe("");
  });

  it("refuses a command with the wrong token: exit 1 with the HTTP reason", async () => {
    const run = await cli(["compact", "--dir", dir, "--token", "wrong"]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/ERR_UNAUTHORIZED: .*401 Unauthorized.*is not the collector's/);
  });

  it("answers a command with the token, from the flag or the environment", async () => {
    expect((await cli(["stats", "--json", "--dir", dir, "--token", "s3cret"])).code).toBe(0);
    const run = await cli(["gc", "--json", "--dir", dir], { TRACETIER_TOKEN: "s3cret" });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ bodiesDeleted: 0, chunksDeleted: 0 });
  });
});
