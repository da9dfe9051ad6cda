/**
 * The command line while `tracetier serve` holds the store (issue 15): every command gives the same
 * output and exit code through the collector as on the store opened directly, maintenance runs inside
 * the collector under its maintenance lock, tokens are checked, and a killed collector's serve.json is
 * ignored.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunRecord } from "../src/collector/maintenance-log.js";
import { openStore, type TraceRecord } from "../src/index.js";
import { type CliRun, cli } from "./support/cli.js";
import { log, multiDayTurns, tempDir } from "./support/fixtures.js";
import { type ServeProcess, serveProcess } from "./support/serve-process.js";
import { exited } from "./support/spawn.js";

const QUIET = ["--compact-schedule", "off", "--prune-schedule", "off"];

/** A TCP gate in front of the collector: connections wait, their bytes kept, until `open()`. */
async function gate(target: URL): Promise<{ url: string; held(): number; open(): void; close(): void }> {
  let opened = false;
  const waiting: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const chunks: Buffer[] = [];
    const keep = (d: Buffer) => chunks.push(d);
    client.on("data", keep);
    client.on("error", () => client.destroy());
    const pass = () => {
      const upstream = connect(Number(target.port), target.hostname, () => {
        client.off("data", keep);
        for (const c of chunks) upstream.write(c);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      sockets.add(upstream);
      upstream.on("error", () => client.destroy());
    };
    if (opened) pass();
    else waiting.push(pass);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => waiting.length,
    open() {
      opened = true;
      for (const pass of waiting.splice(0)) pass();
    },
    close() {
      for (const so of sockets) so.destroy();
      server.close();
    },
  };
}

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
    // `dump wal` first: each later direct command opens the store, which starts a new WAL segment
    // (so does a clean close: its number is the one thing that differs, and is masked below)
    commands = [
      ["dump", "wal"],
      ["turn", turnId],
      ["turn", turnId, "--json", "--bodies"],
      ["turn", "no-such-turn", "--json"],
      ["query", "--limit", "40"],
      ["query", "--json", "--bodies", "--kind", "span-close", "--order", "desc"],
      ["query", "--order", "sideways"],
      ["search", "request", "--limit", "0"],
      ["dump", "partition", ".."],
      ["search", "request", "--limit", "5"],
      ["search", "request", "--json", "--order", "asc"],
      ["stats"],
      ["dump", "manifest", "--json"],
      ["dump", "partition", day, "--rows", "2", "--json"],
      ["dump", "body", bodied!.id],
    ];
    const s = serveProcess(["--dir", dir, ...QUIET]);
    await s.url;
    const runs = await Promise.all(commands.map((c) => cli([...c, "--dir", dir, "--debug"])));
    for (const [i, c] of commands.entries()) viaCollector.set(c.join(" "), runs[i]!);
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
      const wal = (out: string) => out.replace(/wal\/\d{20}\.wal/g, "wal/N.wal");
      expect({ cmd: c, code: remote.code, out: wal(remote.out) }).toEqual({
        cmd: c,
        code: direct.code,
        out: wal(direct.out),
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

describe("maintenance through a running collector", () => {
  it("verifies read-only inside the collector, with the report the closed store gives", async () => {
    const { dir } = await storeWithBothTiers();
    const s = serveProcess(["--dir", dir, ...QUIET]);
    await s.url;
    const live = await cli(["verify", "--json", "--dir", dir, "--debug"]);
    const repair = await cli(["verify", "--repair", "--dir", dir]);
    await stop(s);
    const closed = await cli(["verify", "--json", "--dir", dir]);
    expect(live.err).toMatch(/through the collector/);
    expect([live.code, closed.code]).toEqual([0, 0]);
    const [a, b] = [JSON.parse(live.out), JSON.parse(closed.out)];
    expect(a.problems).toEqual(b.problems);
    expect({ ...a.checked, walFrames: 0 }).toEqual({ ...b.checked, walFrames: 0 });
    expect(a.notes.join(" ")).toMatch(/while .*open/);
    expect(repair.code).toBe(1);
    expect(repair.err).toMatch(/ERR_LOCKED: verify --repair needs the store closed.*stop it/);
  }, 90_000);

  it("runs compact inside the collector after its scheduled compaction, never beside it", async () => {
    const dir = tempDir();
    const store = await openStore({ dir, durability: "none" });
    const base = Date.UTC(2026, 9, 1);
    for (let b = 0; b < 8; b++)
      await store.insertRecords(
        Array.from({ length: 5000 }, (_, i) =>
          log(`build line ${b}-${i}`, base + (b * 5000 + i) * 1000, { turnId: `t${i % 300}` }),
        ),
      );
    await store.close();
    // One tick, about 12 s from now (a cron second field): its run moves 40,000 records, which takes
    // seconds. The command's request is held at a gate until that run holds the lock, so that its
    // arrival during the run does not depend on how fast a command starts on a loaded machine.
    const second = new Date(Date.now() + 12_000).getSeconds();
    const s = serveProcess([
      "--dir",
      dir,
      "--compact-schedule",
      `${second} * * * * *`,
      "--compact-older-than",
      "0s",
      "--prune-schedule",
      "off",
    ]);
    const url = await s.url;
    const maintenance = async () =>
      (await fetch(`${url}/v1/admin/maintenance`)).json() as Promise<{
        running: { job: string; trigger: string } | null;
        runs: RunRecord[];
      }>;
    const g = await gate(new URL(url));
    const running = cli(["compact", "--older-than", "0s", "--json", "--url", g.url]);
    while (g.held() === 0) await new Promise((r) => setTimeout(r, 20));
    while ((await maintenance()).running?.trigger !== "schedule") await new Promise((r) => setTimeout(r, 20));
    g.open();
    const run = await running;
    expect(run.code).toBe(0);
    // runs only grow: the counter read between two readings of the log lies between their counts
    const compacts = (runs: RunRecord[]) =>
      runs.filter((r) => r.job === "compact" && r.outcome === "ok").length;
    const before = (await maintenance()).runs;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const after = (await maintenance()).runs;
    await stop(s);
    g.close();
    const admin = before.find((r) => r.trigger === "admin")!;
    const first = before.find((r) => r.trigger === "schedule")!;
    expect(admin).toMatchObject({ job: "compact", outcome: "ok" });
    expect(first).toMatchObject({ job: "compact", outcome: "ok" });
    // it was asked for while the scheduled run held the lock, and began only once that run ended
    expect(admin.queuedAt).toBeLessThan(first.finishedAt);
    expect(admin.startedAt).toBeGreaterThanOrEqual(first.finishedAt);
    const sorted = [...after].sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]!.startedAt).toBeGreaterThanOrEqual(sorted[i - 1]!.finishedAt);
    const counted = Number(
      /tracetier_maintenance_runs_total\{job="compact",outcome="ok"\} (\d+)/.exec(metrics)?.[1],
    );
    expect(counted).toBeGreaterThanOrEqual(2);
    expect(counted).toBeGreaterThanOrEqual(compacts(before));
    expect(counted).toBeLessThanOrEqual(compacts(after));
    // the scheduled run had moved everything by the time this one began
    expect(JSON.parse(run.out).recordsMoved).toBe(0);
  }, 120_000);
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
