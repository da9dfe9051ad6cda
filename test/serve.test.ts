/** `tracetier serve` as a real process: startup, graceful shutdown, the bind rule. */
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, stableId } from "../src/index.js";
import { log, tempDir } from "./support/fixtures.js";
import { rawRequest, sendRaw } from "./support/raw-http.js";
import { serveProcess } from "./support/serve-process.js";
import { exited } from "./support/spawn.js";

const batch = (b: number) =>
  Array.from({ length: 50 }, (_, i) =>
    log(`b${b} r${i}`, 1_000_000 + b * 100 + i, {
      turnId: `t${b % 9}`,
      body: `payload ${b} ${i} `.repeat(40),
    }),
  );

describe("tracetier serve", () => {
  it("finishes requests in flight on SIGTERM, exits 0, and keeps every acknowledged record", async () => {
    const dir = tempDir();
    const s = serveProcess(["--dir", dir]);
    const url = await s.url;
    const acked: number[] = [];
    let stopped = false;
    let next = 0;
    const client = async () => {
      while (!stopped) {
        const b = next++;
        try {
          const res = await fetch(`${url}/v1/records`, {
            method: "POST",
            body: batch(b)
              .map((r) => JSON.stringify(r))
              .join("\n"),
            headers: { "content-type": "application/x-ndjson" },
          });
          if (res.status === 200) acked.push(b);
        } catch {
          stopped = true; // the server stopped accepting
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    while (acked.length < 20) await new Promise((r) => setTimeout(r, 5));
    s.child.kill("SIGTERM");
    expect(await exited(s.child)).toBe(0);
    stopped = true;
    await Promise.all(clients);
    expect(s.stderr()).toContain("shutting down");
    const store = await openStore({ dir });
    for (const b of acked) {
      for (const r of batch(b).slice(0, 3)) expect(await store.getBody(stableId(r))).toBe(r.body);
    }
    expect((await store.stats()).hotRecords).toBeGreaterThanOrEqual(acked.length * 50);
    await store.close();
  });

  it("exits at once on a second signal while a request is still in flight", async () => {
    const s = serveProcess(["--dir", tempDir()]);
    const url = new URL(await s.url);
    // A request whose body never finishes: the graceful shutdown would wait for it.
    const req = request({
      host: url.hostname,
      port: url.port,
      path: "/v1/records",
      method: "POST",
      headers: { "content-length": "1000", "content-type": "application/x-ndjson" },
    });
    req.on("error", () => {});
    req.write("{");
    await new Promise((r) => setTimeout(r, 100));
    s.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    expect(s.child.exitCode).toBeNull(); // still waiting for the request
    s.child.kill("SIGTERM");
    expect(await exited(s.child)).toBe(130);
    req.destroy();
  });

  it("drains its journals one last time when it stops", async () => {
    const dir = tempDir();
    const journal = join(tempDir(), "agent.ndjson");
    writeFileSync(journal, "");
    const s = serveProcess(["--dir", dir, "--journal", journal]);
    await s.url;
    const lines = batch(1);
    writeFileSync(journal, lines.map((r) => `${JSON.stringify(r)}\n`).join(""));
    s.child.kill("SIGINT");
    expect(await exited(s.child)).toBe(0);
    const store = await openStore({ dir });
    expect((await store.stats()).hotRecords).toBe(50);
    await store.close();
  });

  it("survives the requests that used to kill it, with no uncaught exception or unhandled rejection", async () => {
    const s = serveProcess(["--dir", tempDir()]);
    const url = await s.url;
    const deep = `${'{"kvlistValue":{"values":[{"key":"k","value":'.repeat(5000)}{"stringValue":"x"}${"}]}}".repeat(5000)}`;
    const otlp = (path: string, body: string) =>
      rawRequest("POST", path, { "content-type": "application/json" }, body);
    const killers = [
      Buffer.from("GET http://[::1 HTTP/1.1\r\nhost: x\r\n\r\n"),
      Buffer.from("GET //[::1 HTTP/1.1\r\nhost: x\r\n\r\n"),
      rawRequest("GET", "/v1/turns/%ZZ", {}),
      rawRequest("GET", "/v1/records/%E0%A4%A/body", {}),
      rawRequest("GET", "/v1/records?from=%C0%AF", {}),
      otlp("/v1/traces", '{"resourceSpans":{}}'),
      otlp("/v1/traces", '{"resourceSpans":[{"scopeSpans":[{"spans":[null]}]}]}'),
      otlp("/v1/logs", '{"resourceLogs":[{"scopeLogs":[{"logRecords":5}]}]}'),
      otlp(
        "/v1/logs",
        `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":${deep}}]}]}]}`,
      ),
      rawRequest(
        "POST",
        "/v1/traces",
        { "content-type": "application/x-protobuf" },
        Buffer.from([0x0a, 0xff, 0xff, 0x7f]),
      ),
    ];
    for (const request of killers) {
      const a = await sendRaw(url, { pieces: [request] });
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(500);
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(s.crashes()).toEqual([]);
    expect(s.child.exitCode).toBeNull();
    s.child.kill("SIGTERM");
    expect(await exited(s.child)).toBe(0);
  });

  it("refuses to listen on a non-loopback address without a token", async () => {
    const s = serveProcess(["--dir", tempDir(), "--host", "0.0.0.0"]);
    s.url.catch(() => {});
    expect(await exited(s.child)).toBe(1);
    expect(s.stderr()).toContain("ERR_INVALID_OPTION");
    expect(s.stderr()).toContain("token");
  });
});
