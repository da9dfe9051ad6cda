import { describe, expect, it } from "vitest";
import { parseBytes, parseDuration, parseTime } from "../src/base/units.js";
import { serveConfig } from "../src/collector/config.js";
import { DEFAULT_RETENTION } from "../src/index.js";

describe("serve settings", () => {
  it("has documented defaults", () => {
    expect(serveConfig({}, {})).toEqual({
      dir: "./tracetier-data",
      host: "127.0.0.1",
      port: 4318,
      journals: [],
      token: undefined,
      bodyLimit: 64 * 2 ** 20,
      durability: "sync",
      chunkCacheBytes: 64 * 2 ** 20,
      compact: { schedule: "*/15 * * * *", olderThanMs: 86_400_000 },
      prune: { schedule: "0 * * * *", policy: DEFAULT_RETENTION },
    });
  });

  it("takes a TRACETIER_* variable over the default and a flag over both", () => {
    const env = {
      TRACETIER_PORT: "9000",
      TRACETIER_MAX_AGE: "3d",
      TRACETIER_JOURNAL: "/a.ndjson:/b.ndjson",
      TRACETIER_TOKEN: "t",
    };
    const fromEnv = serveConfig({}, env);
    expect(fromEnv).toMatchObject({ port: 9000, journals: ["/a.ndjson", "/b.ndjson"], token: "t" });
    expect(fromEnv.prune?.policy.maxAgeMs).toBe(3 * 86_400_000);
    const fromFlags = serveConfig(
      { port: "9001", journal: ["/c.ndjson"], "max-age": "12h", "max-cold-bytes": "10GB" },
      env,
    );
    expect(fromFlags).toMatchObject({ port: 9001, journals: ["/c.ndjson"] });
    expect(fromFlags.prune?.policy).toMatchObject({ maxAgeMs: 12 * 3_600_000, maxColdBytes: 10e9 });
  });

  it("takes the chunk cache's size with units, and 0 to turn it off", () => {
    expect(serveConfig({ "chunk-cache": "16MiB" }, {}).chunkCacheBytes).toBe(16 * 2 ** 20);
    expect(serveConfig({}, { TRACETIER_CHUNK_CACHE: "0" }).chunkCacheBytes).toBe(0);
    expect(() => serveConfig({ "chunk-cache": "lots" }, {})).toThrow(/chunk-cache/);
    expect(() => serveConfig({ "chunk-cache": "99999999TiB" }, {})).toThrow(/chunk-cache.*too large/);
  });

  it("turns a job off with the schedule off", () => {
    expect(serveConfig({ "compact-schedule": "off", "prune-schedule": "off" }, {})).toMatchObject({
      compact: undefined,
      prune: undefined,
    });
  });

  it("names the setting that does not parse", () => {
    expect(() => serveConfig({ port: "http" }, {})).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION", message: expect.stringContaining("port") }),
    );
    expect(() => serveConfig({}, { TRACETIER_BODY_LIMIT: "lots" })).toThrow(
      expect.objectContaining({ message: expect.stringContaining("body-limit") }),
    );
  });
});

describe("human units", () => {
  it("reads sizes in decimal and binary units", () => {
    expect(parseBytes("256MiB", "x")).toBe(256 * 2 ** 20);
    expect(parseBytes("10GB", "x")).toBe(10e9);
    expect(parseBytes("1.5kb", "x")).toBe(1500);
    expect(parseBytes("4096", "x")).toBe(4096);
    expect(() => parseBytes("10 parsecs", "x")).toThrow(
      expect.objectContaining({ code: "ERR_INVALID_OPTION" }),
    );
  });

  it("reads durations and times, relative ones against now", () => {
    expect(parseDuration("90s", "x")).toBe(90_000);
    expect(parseDuration("7d", "x")).toBe(7 * 86_400_000);
    expect(parseTime("-2h", "x", 10_000_000)).toBe(10_000_000 - 7_200_000);
    expect(parseTime("2026-11-01", "x")).toBe(Date.UTC(2026, 10, 1));
    expect(parseTime("1795338000000", "x")).toBe(1795338000000);
    expect(() => parseTime("yesterday", "from")).toThrow(
      expect.objectContaining({ message: expect.stringContaining("from") }),
    );
  });
});
