/**
 * The command line's client of a running collector, against a server that answers what it is told:
 * an admin stream's last line becomes the error the job raised there, and a malformed answer is a
 * coded error naming the collector, never a crash or a code outside ErrorCode.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CollectorClient } from "../src/cli/remote.js";
import { runInCollector } from "../src/cli/remote-store.js";
import { readServeFile } from "../src/collector/serve-file.js";
import { tempDir } from "./support/fixtures.js";

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A collector stand-in whose admin answer is `body`, as NDJSON. */
async function answering(body: string): Promise<CollectorClient> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return new CollectorClient({ url: `http://127.0.0.1:${port}`, token: undefined, via: "--url" });
}

describe("an admin job's answer", () => {
  it("gives the result of its done line, past the events before it and split anywhere", async () => {
    const c = await answering(
      '{"event":"started","waitedMs":0}\r\n{"event":"done","result":{"bodiesDeleted":1}}',
    );
    expect(await runInCollector(c, "gc", {})).toEqual({ bodiesDeleted: 1 });
  });

  it("throws a failed line with one of the store's codes as that code and message", async () => {
    const c = await answering(
      '{"event":"failed","error":{"code":"ERR_DISK_FULL","message":"the disk is full: x"}}\n',
    );
    await expect(runInCollector(c, "gc", {})).rejects.toMatchObject({
      code: "ERR_DISK_FULL",
      message: "the disk is full: x",
    });
  });

  it("throws any other failed line as ERR_REMOTE keeping the collector's code, whatever its shape", async () => {
    for (const error of [
      '{"code":"ERR_INTERNAL","message":"boom"}',
      '{"code":"__proto__"}',
      "null",
      '"text"',
    ]) {
      const c = await answering(`{"event":"failed","error":${error}}\n`);
      const err = await runInCollector(c, "gc", {}).catch((e: unknown) => e);
      expect(err, error).toMatchObject({ code: "ERR_REMOTE" });
    }
  });

  it("throws ERR_REMOTE naming the line for an answer that is not JSON, and for one cut before its end", async () => {
    const bad = await answering('{"event":"started","waitedMs":0}\nnot json\n');
    await expect(runInCollector(bad, "gc", {})).rejects.toMatchObject({
      code: "ERR_REMOTE",
      message: expect.stringMatching(/line 2 of the collector's answer/),
    });
    const cut = await answering('{"event":"started","waitedMs":0}\n');
    await expect(runInCollector(cut, "gc", {})).rejects.toMatchObject({ code: "ERR_UNREACHABLE" });
  });
});

describe("serve.json as read", () => {
  it("is no hint when its pid is 0 or negative (process groups, which kill(pid, 0) calls alive)", async () => {
    for (const pid of [0, -1, 1.5]) {
      const dir = tempDir();
      mkdirSync(join(dir, "collector"));
      const file = {
        version: 1,
        url: "http://127.0.0.1:1",
        pid,
        startedAt: "2026-11-29T00:00:00Z",
        token: false,
      };
      writeFileSync(join(dir, "collector", "serve.json"), JSON.stringify(file));
      expect(await readServeFile(dir), String(pid)).toBeUndefined();
    }
  });
});
