import { gzipSync } from "node:zlib";
import { ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_ANY_VALUE_DEPTH } from "../src/collector/otlp/check.js";
import { decodeLogs, decodeTraces } from "../src/collector/otlp/decode.js";
import {
  MAX_ATTRIBUTE_KEY_LENGTH,
  MAX_ATTRIBUTES_PER_SET,
  MAX_ITEMS_PER_REQUEST,
  MAX_MESSAGES_PER_REQUEST,
} from "../src/collector/otlp/limits.js";
import { mapLogs, mapTraces } from "../src/collector/otlp/map.js";
import { messages } from "../src/collector/otlp/schema.js";
import type { StoredRecord } from "../src/index.js";
import { tempCollector } from "./support/collector.js";

const PROMPT = JSON.stringify([
  { role: "user", parts: [{ type: "text", content: "Why is the build red?" }] },
]);
const COMPLETION = JSON.stringify([
  { role: "assistant", parts: [{ type: "text", content: "A flaky test." }] },
]);

/** An agent turn as an instrumented framework emits it: a root span and an LLM call with GenAI attributes. */
async function exportTurn(
  exporter: SpanExporter,
): Promise<{ traceId: string; rootId: string; chatId: string }> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "coder-agent" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("test");
  const t0 = Date.UTC(2026, 10, 22, 9, 0, 0);
  const root = tracer.startSpan("agent.turn", {
    startTime: t0,
    attributes: { "gen_ai.conversation.id": "conv-7" },
  });
  const ctx = trace.setSpan(ROOT_CONTEXT, root);
  const chat = tracer.startSpan(
    "chat claude",
    {
      startTime: t0 + 10,
      kind: 2, // client
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.input.messages": PROMPT,
      },
    },
    ctx,
  );
  chat.setAttribute("gen_ai.output.messages", COMPLETION);
  chat.addEvent("retry", { attempt: 2 }, t0 + 20);
  chat.end(t0 + 860);
  const tool = tracer.startSpan("tool.run_tests", { startTime: t0 + 870 }, ctx);
  tool.setStatus({ code: SpanStatusCode.ERROR, message: "3 failed" });
  tool.end(t0 + 1870);
  root.end(t0 + 2000);
  await provider.forceFlush();
  await provider.shutdown();
  return {
    traceId: root.spanContext().traceId,
    rootId: root.spanContext().spanId,
    chatId: chat.spanContext().spanId,
  };
}

describe("OTLP/HTTP ingest from the OpenTelemetry SDK", () => {
  for (const [encoding, make] of [
    ["JSON", (url: string) => new JsonExporter({ url: `${url}/v1/traces` })],
    [
      "gzip-compressed protobuf",
      (url: string) => new ProtoExporter({ url: `${url}/v1/traces`, compression: CompressionAlgorithm.GZIP }),
    ],
  ] as const) {
    it(`stores a trace exported as ${encoding} as one turn, with spans, durations, status and GenAI content as bodies`, async () => {
      const { store, url } = await tempCollector();
      const { traceId, rootId, chatId } = await exportTurn(make(url));
      const turn = (await (await fetch(`${url}/v1/turns/${traceId}`)).json()) as StoredRecord[];
      expect(turn.map((r) => `${r.kind} ${"name" in r ? r.name : r.msg}`)).toEqual([
        "span-open agent.turn",
        "span-open chat claude",
        "log retry",
        "span-close chat claude",
        "span-open tool.run_tests",
        "span-close tool.run_tests",
        "span-close agent.turn",
      ]);
      expect(turn.every((r) => r.turnId === traceId && r.extensionId === "coder-agent")).toBe(true);
      expect(turn.every((r) => r.conversationId === "conv-7" || r.spanId !== rootId)).toBe(true);
      const chatOpen = turn.find((r) => r.kind === "span-open" && r.spanId === chatId)!;
      expect(chatOpen).toMatchObject({ parentSpanId: rootId, body: PROMPT });
      expect(chatOpen.attributes).toEqual({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 1200,
        "otel.span.kind": "client",
      });
      const chatClose = turn.find((r) => r.kind === "span-close" && r.spanId === chatId)!;
      expect(chatClose).toMatchObject({ durationMs: 850, status: "ok", body: COMPLETION });
      const toolClose = turn.find((r) => r.kind === "span-close" && r.name === "tool.run_tests")!;
      expect(toolClose).toMatchObject({
        durationMs: 1000,
        status: "error",
        attributes: { "otel.status_message": "3 failed" },
      });
      expect(await store.easyView(traceId)).toContain("chat claude 850ms");
    });
  }

  it("moves the older GenAI content forms (indexed attributes, prompt and completion events) into bodies", async () => {
    const { store, url } = await tempCollector();
    const str = (stringValue: string) => ({ stringValue });
    const span = (spanId: string, attributes: unknown[], events: unknown[]) => ({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId,
      name: "llm",
      startTimeUnixNano: "1795338000000000000",
      endTimeUnixNano: "1795338001000000000",
      attributes,
      events,
    });
    const spans = [
      span(
        "00f067aa0ba902b1",
        [
          { key: "gen_ai.prompt.0.role", value: str("user") },
          { key: "gen_ai.prompt.0.content", value: str("hello") },
          { key: "gen_ai.completion.0.content", value: str("hi!") },
          { key: "llm.vendor", value: str("x") },
        ],
        [],
      ),
      span(
        "00f067aa0ba902b2",
        [],
        [
          {
            name: "gen_ai.content.prompt",
            timeUnixNano: "1795338000100000000",
            attributes: [{ key: "gen_ai.prompt", value: str("ping") }],
          },
          {
            name: "gen_ai.content.completion",
            timeUnixNano: "1795338000900000000",
            attributes: [{ key: "gen_ai.completion", value: str("pong") }],
          },
        ],
      ),
    ];
    const body = { resourceSpans: [{ scopeSpans: [{ spans }] }] };
    const res = await fetch(`${url}/v1/traces`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    expect(await res.json()).toEqual({});
    const turn = await store.getTurn("4bf92f3577b34da6a3ce929d0e0e4736");
    const bodies = turn.map((r) => `${r.kind} ${r.spanId?.slice(-1)} ${r.body ?? "-"}`);
    expect(bodies.sort()).toEqual([
      'span-close 1 [{"content":"hi!"}]',
      "span-close 2 pong",
      'span-open 1 [{"role":"user","content":"hello"}]',
      "span-open 2 ping",
    ]);
    expect(turn.find((r) => r.spanId?.endsWith("1") && r.kind === "span-open")!.attributes).toEqual({
      "llm.vendor": "x",
    });
  });

  it("stores OTLP/JSON log records as log records, with levels and trace context", async () => {
    const { store, url } = await tempCollector();
    const traceId = "5b8efff798038103d269b633813fc60c";
    const body = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "worker" } }] },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: "1795338000000000000",
                  severityNumber: 17,
                  body: { stringValue: "boom" },
                  traceId,
                  spanId: "eee19b7ec3c1b174",
                },
                {
                  observedTimeUnixNano: "1795338000001000000",
                  severityText: "WARN",
                  body: { kvlistValue: { values: [{ key: "k", value: { intValue: "3" } }] } },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(`${url}/v1/logs`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const all = await store.query({});
    expect(all).toMatchObject([
      {
        kind: "log",
        level: "error",
        msg: "boom",
        timestamp: 1795338000000,
        extensionId: "worker",
        turnId: traceId,
        spanId: "eee19b7ec3c1b174",
      },
      { kind: "log", level: "warn", msg: '{"k":3}', timestamp: 1795338000001 },
    ]);
  });

  it("rejects only the spans it cannot map, and says so in partialSuccess", async () => {
    const { store, url } = await tempCollector();
    const span = (traceId: string, name: string) => ({
      traceId,
      spanId: "00f067aa0ba902b7",
      name,
      startTimeUnixNano: "1795338000000000000",
      endTimeUnixNano: "1795338000500000000",
    });
    const body = {
      resourceSpans: [
        { scopeSpans: [{ spans: [span("4bf92f3577b34da6a3ce929d0e0e4736", "ok"), span("not-hex", "bad")] }] },
      ],
    };
    const res = await fetch(`${url}/v1/traces`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringContaining("traceId") },
    });
    expect((await store.stats()).hotRecords).toBe(2);
  });

  it("answers a body that is not OTLP with 400 and an rpc status, and one of another type with 415", async () => {
    const { url } = await tempCollector();
    const bad = await fetch(`${url}/v1/traces`, {
      method: "POST",
      body: "[1,2",
      headers: { "content-type": "application/json" },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 3, message: expect.stringContaining("OTLP/JSON") });
    const proto = await fetch(`${url}/v1/traces`, {
      method: "POST",
      body: Buffer.from([0xff, 0xff, 0xff]),
      headers: { "content-type": "application/x-protobuf" },
    });
    expect(proto.status).toBe(400);
    expect(proto.headers.get("content-type")).toBe("application/x-protobuf");
    const other = await fetch(`${url}/v1/traces`, {
      method: "POST",
      body: "x",
      headers: { "content-type": "text/plain" },
    });
    expect(other.status).toBe(415);
  });
});

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

function okSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE_ID,
    spanId: "00f067aa0ba902b7",
    name: "op",
    startTimeUnixNano: "1795338000000000000",
    endTimeUnixNano: "1795338000500000000",
    ...over,
  };
}

const traces = (spans: unknown[]) => ({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
const logs = (logRecords: unknown) => ({ resourceLogs: [{ scopeLogs: [{ logRecords }] }] });

async function postOtlp(
  url: string,
  signal: "traces" | "logs",
  body: string | Buffer,
  type = "application/json",
  extra: Record<string, string> = {},
) {
  const res = await fetch(`${url}/v1/${signal}`, {
    method: "POST",
    body,
    headers: { "content-type": type, ...extra },
  });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/** AnyValue JSON nested `depth` levels, as text (JSON.stringify itself overflows on thousands). */
function nestedKvlist(depth: number): string {
  const open = '{"kvlistValue":{"values":[{"key":"k","value":';
  return `${open.repeat(depth - 1)}{"stringValue":"leaf"}${"}]}}".repeat(depth - 1)}`;
}

describe("OTLP requests checked against the schema", () => {
  const cases: [string, "traces" | "logs", unknown, string][] = [
    ["resourceSpans as an object", "traces", { resourceSpans: {} }, "resourceSpans"],
    ["a null span", "traces", traces([okSpan(), null]), "resourceSpans[0].scopeSpans[0].spans[1]"],
    [
      "a null attribute",
      "traces",
      traces([okSpan({ attributes: [null] })]),
      "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]",
    ],
    [
      "a fractional start time",
      "traces",
      traces([okSpan(), okSpan(), okSpan(), okSpan({ startTimeUnixNano: 1000000.5 })]),
      "resourceSpans[0].scopeSpans[0].spans[3].startTimeUnixNano",
    ],
    [
      "a time out of the 64-bit range",
      "traces",
      traces([okSpan({ endTimeUnixNano: "18446744073709551616" })]),
      "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano",
    ],
    [
      "a number where a string is",
      "traces",
      traces([okSpan({ name: 5 })]),
      "resourceSpans[0].scopeSpans[0].spans[0].name",
    ],
    ["logRecords as a number", "logs", logs(5), "resourceLogs[0].scopeLogs[0].logRecords"],
    [
      "an object as eventName",
      "logs",
      logs([{ timeUnixNano: "1", eventName: {} }]),
      "resourceLogs[0].scopeLogs[0].logRecords[0].eventName",
    ],
    [
      "an AnyValue with two values",
      "logs",
      logs([{ timeUnixNano: "1", body: { stringValue: "a", intValue: "1" } }]),
      "resourceLogs[0].scopeLogs[0].logRecords[0].body.intValue",
    ],
  ];
  for (const [name, signal, body, path] of cases) {
    it(`refuses ${name} with 400 ERR_INVALID_OTLP naming ${path}, and stores nothing`, async () => {
      const { store, url } = await tempCollector();
      const r = await postOtlp(url, signal, JSON.stringify(body));
      expect(r.status).toBe(400);
      const status = JSON.parse(r.body.toString()) as { code: number; message: string };
      expect(status.code).toBe(3);
      expect(status.message.startsWith(`${path} must`) || status.message.startsWith(`${path} cannot`)).toBe(
        true,
      );
      expect((await store.stats()).hotRecords).toBe(0);
    });
  }

  it("names the field in a JSON error too, for a caller that reads the mapping directly", () => {
    expect(() => decodeTraces(Buffer.from(JSON.stringify(traces([okSpan({ kind: 1.5 })]))), "json")).toThrow(
      expect.objectContaining({
        code: "ERR_INVALID_OTLP",
        details: { field: "resourceSpans[0].scopeSpans[0].spans[0].kind" },
      }),
    );
  });

  it("takes nulls as absent fields and enum names, decimal strings and NaN where proto3 JSON allows them", async () => {
    const { store, url } = await tempCollector();
    const span = okSpan({
      parentSpanId: null,
      kind: "SPAN_KIND_SERVER",
      status: { code: "STATUS_CODE_ERROR" },
      attributes: [
        { key: "d", value: { doubleValue: "NaN" } },
        { key: "n", value: null },
      ],
    });
    const r = await postOtlp(url, "traces", JSON.stringify(traces([span])));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({});
    const turn = await store.getTurn(TRACE_ID);
    expect(turn.map((x) => x.kind)).toEqual(["span-open", "span-close"]);
    expect(turn[0]!.attributes).toEqual({ d: "NaN", n: null, "otel.span.kind": "server" });
    expect(turn[1]).toMatchObject({ status: "error" });
  });

  it(`takes AnyValues nested ${MAX_ANY_VALUE_DEPTH} deep and refuses one more level with a 400`, async () => {
    const { url } = await tempCollector();
    const withBody = (depth: number) =>
      `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1795338000000000000","body":${nestedKvlist(depth)}}]}]}]}`;
    expect((await postOtlp(url, "logs", withBody(MAX_ANY_VALUE_DEPTH))).status).toBe(200);
    const over = await postOtlp(url, "logs", withBody(MAX_ANY_VALUE_DEPTH + 1));
    expect(over.status).toBe(400);
    expect(over.body.toString()).toContain(`deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
  });

  it("refuses kvlists 5,000 levels deep with a 400, in JSON, without overflowing the stack", async () => {
    const { url } = await tempCollector();
    const attr = `{"key":"deep","value":${nestedKvlist(5000)}}`;
    const span = JSON.stringify(okSpan()).replace(/}$/, `,"attributes":[${attr}]}`);
    const r = await postOtlp(url, "traces", `{"resourceSpans":[{"scopeSpans":[{"spans":[${span}]}]}]}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 3 });
  });

  it("takes protobuf AnyValues nested as deep as JSON ones", async () => {
    const { store, url } = await tempCollector();
    const value = JSON.parse(nestedKvlist(MAX_ANY_VALUE_DEPTH)) as unknown;
    const req = traces([
      {
        ...okSpan(),
        traceId: Buffer.from(TRACE_ID, "hex"),
        spanId: Buffer.from("00f067aa0ba902b7", "hex"),
        attributes: [{ key: "deep", value }],
      },
    ]);
    const t = messages.traceRequest;
    const body = Buffer.from(t.encode(t.fromObject(req)).finish());
    const r = await postOtlp(url, "traces", body, "application/x-protobuf");
    expect(r.status).toBe(200);
    expect((await store.stats()).hotRecords).toBe(2);
  });

  it("answers random and bit-flipped protobuf with 200 or 400, never a server error", async () => {
    const { url } = await tempCollector();
    const t = messages.traceRequest;
    const span = {
      ...okSpan(),
      traceId: Buffer.from(TRACE_ID, "hex"),
      spanId: Buffer.from("00f067aa0ba902b7", "hex"),
    };
    const valid = Buffer.from(t.encode(t.fromObject(traces([span]))).finish());
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.nat({ max: valid.length * 8 - 1 }), { minLength: 1, maxLength: 8 }).map((bits) => {
            const b = Buffer.from(valid);
            for (const bit of bits) b[bit >> 3] = b[bit >> 3]! ^ (1 << (bit & 7));
            return b;
          }),
        ),
        async (bytes) => {
          const r = await postOtlp(url, "traces", Buffer.from(bytes), "application/x-protobuf");
          expect([200, 400]).toContain(r.status);
          if (r.status === 400) expect(messages.status.decode(r.body).toJSON()).toMatchObject({ code: 3 });
        },
      ),
      { numRuns: 150, seed: 10 },
    );
  });
});

describe("OTLP mapping of hostile but well-formed content", () => {
  it("keeps an attribute named __proto__ as an own key of the attributes", () => {
    const kv = (key: string) => ({ key, value: { stringValue: key } });
    const { records } = mapTraces(
      traces([okSpan({ attributes: [kv("__proto__"), kv("constructor"), kv("toString")] })]) as never,
    );
    const attrs = records[0]!.attributes!;
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.keys(attrs).sort()).toEqual(["__proto__", "constructor", "toString"]);
    expect(Object.getOwnPropertyDescriptor(attrs, "__proto__")?.value).toBe("__proto__");
  });

  it("collects indexed prompt attributes by index, however large, in order", () => {
    const str = (stringValue: string) => ({ stringValue });
    const started = performance.now();
    const { records } = mapTraces(
      traces([
        okSpan({
          attributes: [
            { key: "gen_ai.prompt.4294967294.content", value: str("last") },
            { key: "gen_ai.prompt.2.content", value: str("first") },
          ],
        }),
      ]) as never,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(records[0]!.body).toBe('[{"content":"first"},{"content":"last"}]');
  });
});

describe("OTLP enums: one table for the check and the mapping", () => {
  const mapOne = (span: Record<string, unknown>) =>
    mapTraces(decodeTraces(Buffer.from(JSON.stringify(traces([okSpan(span)]))), "json"));

  it('maps a status code sent as the decimal string "2" to an error, as the number 2 is', () => {
    const { records } = mapOne({ status: { code: "2" } });
    expect(records[1]).toMatchObject({ kind: "span-close", status: "error" });
  });

  it("maps span kind and severity names to what their numbers map to", () => {
    const { records } = mapOne({ kind: "SPAN_KIND_SERVER" });
    expect(records[0]!.attributes).toEqual({ "otel.span.kind": "server" });
    const log = (severityNumber: unknown) =>
      mapLogs(decodeLogs(Buffer.from(JSON.stringify(logs([{ timeUnixNano: "1", severityNumber }]))), "json"))
        .records[0];
    expect(log("SEVERITY_NUMBER_ERROR")).toMatchObject({ level: "error" });
    expect(log("SEVERITY_NUMBER_WARN2")).toMatchObject({ level: "warn" });
    expect(log("17")).toMatchObject({ level: "error" });
  });

  it("refuses an enum name that is not one of the enum's, naming the field", () => {
    for (const [over, field] of [
      [{ kind: "FOO" }, "kind"],
      [{ status: { code: "SPAN_KIND_SERVER" } }, "status.code"],
    ] as const) {
      expect(() => mapOne(over)).toThrow(
        expect.objectContaining({
          code: "ERR_INVALID_OTLP",
          details: { field: `resourceSpans[0].scopeSpans[0].spans[0].${field}` },
        }),
      );
    }
  });
});

describe("OTLP attributes with an absent or empty key", () => {
  it('keeps them under the empty key, in JSON (absent or "") and protobuf (where proto3 drops "")', () => {
    const value = { stringValue: "v" };
    for (const attributes of [[{ value }], [{ key: "", value }]]) {
      const m = mapTraces(
        decodeTraces(Buffer.from(JSON.stringify(traces([okSpan({ attributes })]))), "json"),
      );
      expect(m.rejected).toBe(0);
      expect(m.records[0]!.attributes).toEqual({ "": "v" });
    }
    const t = messages.traceRequest;
    const span = {
      ...okSpan(),
      traceId: Buffer.from(TRACE_ID, "hex"),
      spanId: Buffer.from("00f067aa0ba902b7", "hex"),
    };
    const proto = Buffer.from(
      t.encode(t.fromObject(traces([{ ...span, attributes: [{ key: "", value }] }]))).finish(),
    );
    const m = mapTraces(decodeTraces(proto, "protobuf"));
    expect(m.rejected).toBe(0);
    expect(m.records[0]!.attributes).toEqual({ "": "v" });
  });
});

describe("OTLP mapping logs what it did not expect", () => {
  it("rejects an item whose mapping throws a TypeError, and writes the detail to the log", () => {
    const span = okSpan();
    Object.defineProperty(span, "events", {
      get() {
        throw new TypeError("a mapper bug");
      },
    });
    const lines: string[] = [];
    const m = mapTraces(traces([span, okSpan({ spanId: "00f067aa0ba902b8" })]) as never, (l) =>
      lines.push(l),
    );
    expect(m).toMatchObject({ rejected: 1, firstError: "an item could not be mapped to records" });
    expect(m.records).toHaveLength(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("TypeError: a mapper bug");
  });

  it("does not log an item it rejects for a known reason", () => {
    const lines: string[] = [];
    const m = mapTraces(traces([okSpan({ spanId: "xyz" })]) as never, (l) => lines.push(l));
    expect(m.rejected).toBe(1);
    expect(lines).toEqual([]);
  });
});

describe("OTLP limits: no request can make the collector do superlinear work or exhaust its heap", () => {
  const kv = (key: string, value: unknown = { stringValue: "x" }) => ({ key, value });
  const jsonTraces = (spans: unknown[]) => Buffer.from(JSON.stringify(traces(spans)));

  it("maps 4,000 indexed prompt fields of one message in linear time (they took 8 s when each copied the entry)", () => {
    const attributes = Array.from({ length: 4000 }, (_, i) => kv(`gen_ai.prompt.0.f${i}`));
    const started = performance.now();
    const m = mapTraces(decodeTraces(jsonTraces([okSpan({ attributes })]), "json"));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(m.rejected).toBe(0);
    expect(Object.keys(JSON.parse(m.records[0]!.body as string)[0])).toHaveLength(4000);
  });

  it(`rejects a span with over ${MAX_ATTRIBUTES_PER_SET} attributes alone, and quickly`, () => {
    const attributes = Array.from({ length: 8000 }, (_, i) => kv(`gen_ai.prompt.0.f${i}`));
    const started = performance.now();
    const m = mapTraces(
      decodeTraces(jsonTraces([okSpan({ attributes }), okSpan({ spanId: "00f067aa0ba902b8" })]), "json"),
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(m).toMatchObject({
      rejected: 1,
      firstError: expect.stringContaining(`over the limit of ${MAX_ATTRIBUTES_PER_SET}`),
    });
    expect(m.records).toHaveLength(2);
  });

  it(`takes a flattened key of ${MAX_ATTRIBUTE_KEY_LENGTH} characters and rejects the span with one more`, () => {
    const nested = (prefix: number, leaf: string) =>
      kv("p".repeat(prefix), { kvlistValue: { values: [kv(leaf)] } });
    const at = (prefix: number) =>
      mapTraces(decodeTraces(jsonTraces([okSpan({ attributes: [nested(prefix, "k")] })]), "json"));
    const fits = at(MAX_ATTRIBUTE_KEY_LENGTH - 2); // prefix + "." + "k"
    expect(fits.rejected).toBe(0);
    expect(Object.keys(fits.records[0]!.attributes!)[0]).toHaveLength(MAX_ATTRIBUTE_KEY_LENGTH);
    expect(at(MAX_ATTRIBUTE_KEY_LENGTH - 1).firstError).toContain(
      `over the limit of ${MAX_ATTRIBUTE_KEY_LENGTH}`,
    );
  });

  it("rejects a 64 KiB key over 1,000 nested children before building the children's keys", () => {
    const children = Array.from({ length: 1000 }, (_, i) => kv(String(i)));
    const attributes = [kv("k".repeat(64 * 1024), { kvlistValue: { values: children } })];
    const started = performance.now();
    const m = mapTraces(decodeTraces(jsonTraces([okSpan({ attributes })]), "json"));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(m).toMatchObject({
      rejected: 1,
      firstError: expect.stringContaining("flattens to 65536 characters"),
    });
  });

  it("refuses a request whose resource attributes are over a limit with 400 naming them", async () => {
    const { store, url } = await tempCollector();
    const body = {
      resourceSpans: [
        { resource: { attributes: [kv("r".repeat(2000))] }, scopeSpans: [{ spans: [okSpan()] }] },
      ],
    };
    const r = await postOtlp(url, "traces", JSON.stringify(body));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString())).toMatchObject({
      code: 3,
      message: expect.stringMatching(/^resourceSpans\[0\]\.resource\.attributes is over a limit/),
    });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it(`refuses a gzipped protobuf body of over ${MAX_MESSAGES_PER_REQUEST} empty messages with 413 before decoding it`, async () => {
    const { store, url } = await tempCollector();
    const raw = Buffer.alloc((MAX_MESSAGES_PER_REQUEST + 1) * 2);
    for (let i = 0; i < raw.length; i += 2) raw[i] = 0x0a; // 0a 00: an empty ResourceSpans
    const started = performance.now();
    expect(() => decodeTraces(raw, "protobuf")).toThrow(expect.objectContaining({ status: 413 }));
    expect(performance.now() - started).toBeLessThan(1000);
    const r = await postOtlp(url, "traces", gzipSync(raw), "application/x-protobuf", {
      "content-encoding": "gzip",
    });
    expect(r.status).toBe(413);
    expect(messages.status.decode(r.body).toJSON()).toMatchObject({ code: 8 });
    expect((await store.stats()).hotRecords).toBe(0);
  });

  it(`refuses OTLP/JSON of over ${MAX_MESSAGES_PER_REQUEST} objects with 413 before parsing it`, () => {
    const values = `{}${",{}".repeat(MAX_MESSAGES_PER_REQUEST)}`;
    const body = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":{"arrayValue":{"values":[${values}]}}}]}]}]}]}`;
    const started = performance.now();
    expect(() => decodeTraces(Buffer.from(body), "json")).toThrow(
      expect.objectContaining({ status: 413, message: expect.stringContaining("JSON objects and arrays") }),
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it(`counts braces inside JSON strings as text, not objects`, () => {
    const braces = "{[".repeat(MAX_MESSAGES_PER_REQUEST);
    const m = mapTraces(
      decodeTraces(jsonTraces([okSpan({ attributes: [kv("b", { stringValue: braces })] })]), "json"),
    );
    expect(m.records[0]!.attributes).toEqual({ b: braces });
  });

  it(`refuses an OTLP/JSON request of over ${MAX_ITEMS_PER_REQUEST} spans with 413`, async () => {
    const { url } = await tempCollector();
    const spans = `{}${",{}".repeat(MAX_ITEMS_PER_REQUEST)}`;
    const r = await postOtlp(url, "traces", `{"resourceSpans":[{"scopeSpans":[{"spans":[${spans}]}]}]}`);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString()).message).toContain(
      `over ${MAX_ITEMS_PER_REQUEST} spans or log records`,
    );
  });
});
