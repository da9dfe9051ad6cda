import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, type TraceRecord } from "../src/index.js";
import { tempStore } from "./support/fixtures.js";

const base = { extensionId: "e", turnId: "t" };
const open = (spanId: string, ts: number, over: object = {}): TraceRecord =>
  ({ kind: "span-open", spanId, name: spanId, timestamp: ts, ...base, ...over }) as TraceRecord;
const close = (spanId: string, ts: number, durationMs: number, over: object = {}): TraceRecord =>
  ({
    kind: "span-close",
    spanId,
    name: spanId,
    timestamp: ts,
    durationMs,
    status: "ok",
    ...base,
    ...over,
  }) as TraceRecord;

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [0.5, "0.5ms"],
    [850, "850ms"],
    [999.6, "1.0s"],
    [1500, "1.5s"],
    [59_999, "1m0s"],
    [119_999, "2m0s"],
    [119_499, "1m59s"],
    [3_599_999, "1h0m"],
    [3_900_000, "1h5m"],
  ])("formats %d ms as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("formatBytes", () => {
  it.each([
    [512, "512b"],
    [2150, "2.1k"],
    [3 * 1024 * 1024, "3.0M"],
  ])("formats %d bytes as %s", (n, text) => expect(formatBytes(n)).toBe(text));
});

describe("easyView", () => {
  it("orders children by time at every depth, not only the first two", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      open("root", 1),
      open("mid", 2, { parentSpanId: "root" }),
      open("late", 9, { parentSpanId: "mid" }),
      open("deep-b", 8, { parentSpanId: "late" }),
      open("deep-a", 7, { parentSpanId: "late" }),
      open("early", 3, { parentSpanId: "mid" }),
    ]);
    expect(await store.easyView("t")).toBe(
      [
        "- root (open)",
        "  - mid (open)",
        "    - early (open)",
        "    - late (open)",
        "      - deep-a (open)",
        "      - deep-b (open)",
      ].join("\n"),
    );
  });

  it("shows duration, ERR, three attributes with long strings cut, and UTF-8 body sizes", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      open("llm", 1, {
        attributes: { a: 1, b: "x".repeat(60), c: true, d: "hidden" },
        body: "ü".repeat(1100),
      }),
      { kind: "log", level: "warn", msg: "slow", timestamp: 2, spanId: "llm", ...base } as TraceRecord,
      close("llm", 3, 119_999, { status: "error", body: "ok" }),
    ]);
    expect(await store.easyView("t")).toBe(
      [`- llm 2m0s ERR {a=1, b=${"x".repeat(39)}…, c=true} [body 2.1k] [result 2b]`, "  - [warn] slow"].join(
        "\n",
      ),
    );
  });

  it("is empty for an unknown turn", async () => {
    const { store } = await tempStore();
    expect(await store.easyView("nope")).toBe("");
  });
});
