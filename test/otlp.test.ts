import { ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
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
