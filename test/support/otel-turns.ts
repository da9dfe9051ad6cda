/**
 * Agent turns exported to a collector through the OpenTelemetry SDK (BasicTracerProvider +
 * OTLPTraceExporter, as an instrumented agent would), for the viewer's browser tests: a conversation
 * of two turns whose second LLM request repeats the first's messages and appends two, nested spans, an
 * error span, GenAI usage attributes, a turn of another extension and model, and a turn of 200 spans.
 * Each function returns what it exported (ids, times, durations, messages) for the tests to compare.
 */
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** A message in the OTel GenAI shape (`gen_ai.input.messages`). */
export interface GenAiMessage {
  role: "system" | "user" | "assistant" | "tool";
  parts: Array<{ type: "text"; content: string }>;
}

export interface ExportedSpan {
  spanId: string;
  name: string;
  parentSpanId?: string;
  start: number;
  durationMs: number;
  status: "ok" | "error";
}

export interface ExportedTurn {
  turnId: string;
  extensionId: string;
  conversationId?: string;
  start: number;
  /** In start order. */
  spans: ExportedSpan[];
  /** The turn's LLM call, if it has one: its span and its request's messages. */
  llm?: { spanId: string } & LlmCall;
}

export interface Scenario {
  /** Oldest first. */
  turns: ExportedTurn[];
  conversationId: string;
  /** The second turn of the conversation, whose request appended `appended` to the first's. */
  first: ExportedTurn;
  second: ExportedTurn;
  appended: GenAiMessage[];
  /** The turn with an error span, and that span. */
  errorTurn: ExportedTurn;
  errorSpanId: string;
  /** Bodies of other shapes, in the third turn: OpenAI and Anthropic requests, JSON and plain text. */
  shapes: { turn: ExportedTurn } & Shapes;
  /** A log (a span event) inside the first turn's LLM call span. */
  log: { turn: ExportedTurn; spanId: string; msg: string };
  models: string[];
}

const text = (role: GenAiMessage["role"], content: string): GenAiMessage => ({
  role,
  parts: [{ type: "text", content }],
});

/** A tracer whose spans go to `url` as OTLP/JSON; `flush` sends them and shuts the provider down. */
function tracerFor(
  url: string,
  service: string,
  token: string | undefined,
): { tracer: Tracer; flush: () => Promise<void> } {
  const exporter = new OTLPTraceExporter({
    url: `${url}/v1/traces`,
    ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, maxQueueSize: 4096 })],
  });
  return {
    tracer: provider.getTracer("tracetier-viewer-test"),
    flush: async () => {
      await provider.forceFlush();
      await provider.shutdown();
    },
  };
}

/** An LLM call: its model, request and response messages, and [input, output] token counts. */
export interface LlmCall {
  model: string;
  input: GenAiMessage[];
  output: GenAiMessage[];
  tokens: [number, number];
}

/** Builds one turn's spans from a plan, ending each at its start + duration. */
class TurnBuilder {
  readonly spans: ExportedSpan[] = [];
  private readonly open: Array<{ span: Span; end: number }> = [];
  constructor(
    private readonly tracer: Tracer,
    private readonly conversationId: string | undefined,
  ) {}

  span(
    name: string,
    start: number,
    durationMs: number,
    opts: {
      parent?: Span;
      error?: string;
      attributes?: Record<string, string | number>;
      kind?: number;
    } = {},
  ): Span {
    const ctx: Context = opts.parent ? trace.setSpan(ROOT_CONTEXT, opts.parent) : ROOT_CONTEXT;
    const attributes: Record<string, string | number> = { ...opts.attributes };
    if (this.conversationId !== undefined) attributes["gen_ai.conversation.id"] = this.conversationId;
    const span = this.tracer.startSpan(
      name,
      { startTime: start, attributes, ...(opts.kind !== undefined ? { kind: opts.kind } : {}) },
      ctx,
    );
    if (opts.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: opts.error });
    const parentSpanId = opts.parent?.spanContext().spanId;
    this.spans.push({
      spanId: span.spanContext().spanId,
      name,
      ...(parentSpanId !== undefined ? { parentSpanId } : {}),
      start,
      durationMs,
      status: opts.error !== undefined ? "error" : "ok",
    });
    this.open.push({ span, end: start + durationMs });
    return span;
  }

  /** An LLM call span with GenAI attributes; its request and response become the records' bodies. */
  llm(start: number, durationMs: number, parent: Span, call: LlmCall): Span {
    return this.span(`chat ${call.model}`, start, durationMs, {
      parent,
      kind: 2, // client
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": call.model,
        "gen_ai.usage.input_tokens": call.tokens[0],
        "gen_ai.usage.output_tokens": call.tokens[1],
        "gen_ai.input.messages": JSON.stringify(call.input),
        "gen_ai.output.messages": JSON.stringify(call.output),
      },
    });
  }

  /** Ends every span (children before parents, as an instrumented program does). */
  end(): void {
    for (const { span, end } of this.open.reverse()) span.end(end);
  }

  turnId(): string {
    return this.open[0]!.span.spanContext().traceId;
  }

  inStartOrder(): ExportedSpan[] {
    return [...this.spans].sort((a, b) => a.start - b.start);
  }
}

const CLAUDE = "claude-sonnet-4-5";
const GPT = "gpt-4o-mini";
const SYSTEM = text("system", "You are a careful coding agent working in the tracetier repository.");
const ASK = text("user", "Why is the build red on main?");
const ANSWER = text("assistant", "The tokenizer change broke three tests in parser.test.ts.");
const FOLLOW_UP = text("user", "Fix the tokenizer and rerun the tests.");
const RETRY = "rate limited, retrying";
const FIXED = text("assistant", "I fixed the tokenizer; the tests still fail on Windows line endings.");

/**
 * The scenario, `base` ms since the epoch being the first turn's start (the turns follow it by
 * minutes), exported to the collector at `url`.
 */
export async function exportScenario(url: string, base: number, token?: string): Promise<Scenario> {
  const conversationId = "conv-build-red";
  const coder = tracerFor(url, "coder-agent", token);

  // Turn 1: the question; a file read nested two deep.
  const a = new TurnBuilder(coder.tracer, conversationId);
  const aRoot = a.span("agent.turn", base, 3000);
  const aCall: LlmCall = { model: CLAUDE, input: [SYSTEM, ASK], output: [ANSWER], tokens: [1200, 90] };
  const aChat = a.llm(base + 10, 850, aRoot, aCall);
  // A span event: the collector stores it as a log record inside the span.
  aChat.addEvent(RETRY, { attempt: 2 }, base + 20);
  const read = a.span("tool.read_file", base + 900, 400, { parent: aRoot });
  a.span("fs.read", base + 950, 120, { parent: read });
  a.end();

  // Turn 2, five minutes later: the request repeats turn 1's messages and appends the answer and a
  // follow-up; the test run fails (an error span, with a nested child).
  const t2 = base + 5 * 60_000;
  const b = new TurnBuilder(coder.tracer, conversationId);
  const bRoot = b.span("agent.turn", t2, 4200);
  const appended = [ANSWER, FOLLOW_UP];
  const bCall: LlmCall = {
    model: CLAUDE,
    input: [...aCall.input, ...appended],
    output: [FIXED],
    tokens: [1800, 140],
  };
  b.llm(t2 + 15, 1230, bRoot, bCall);
  const tests = b.span("tool.run_tests", t2 + 1300, 2400, { parent: bRoot, error: "3 failed" });
  b.span("process.spawn", t2 + 1310, 2300, { parent: tests });
  b.end();
  await coder.flush();

  // Turn 3, another extension and model, in a conversation of its own.
  const t3 = base + 10 * 60_000;
  const reviewer = tracerFor(url, "review-bot", token);
  const c = new TurnBuilder(reviewer.tracer, "conv-pr-42");
  const cRoot = c.span("review.turn", t3, 900);
  const cCall: LlmCall = {
    model: GPT,
    input: [text("user", "Summarize pull request 42 in one sentence.")],
    output: [text("assistant", "It speeds up the parser by caching tokens.")],
    tokens: [300, 25],
  };
  c.llm(t3 + 5, 640, cRoot, cCall);
  const shapes = exportShapes(c, cRoot, t3 + 650);
  c.end();
  await reviewer.flush();

  const turn = (builder: TurnBuilder, extensionId: string, conv: string, start: number, call: LlmCall) => {
    const spans = builder.inStartOrder();
    const llmSpan = spans.find((s) => s.name === `chat ${call.model}`)!;
    return {
      turnId: builder.turnId(),
      extensionId,
      conversationId: conv,
      start,
      spans,
      llm: { spanId: llmSpan.spanId, ...call },
    };
  };
  const first = turn(a, "coder-agent", conversationId, base, aCall);
  const second = turn(b, "coder-agent", conversationId, t2, bCall);
  const third = turn(c, "review-bot", "conv-pr-42", t3, cCall);
  return {
    turns: [first, second, third],
    conversationId,
    first,
    second,
    appended,
    errorTurn: second,
    errorSpanId: second.spans.find((s) => s.name === "tool.run_tests")!.spanId,
    log: { turn: first, spanId: first.llm.spanId, msg: RETRY },
    shapes: { turn: third, ...shapes(third) },
    models: [CLAUDE, GPT],
  };
}

/** A request body as the viewer should show it: each message's role and a text it contains. */
export interface ShownRequest {
  spanId: string;
  messages: Array<{ role: string; text: string }>;
}

export interface Shapes {
  openai: ShownRequest;
  anthropic: ShownRequest;
  /** A tool span whose request body is plain text and whose response body is a JSON object. */
  tool: {
    spanId: string;
    command: string;
    result: { ok: boolean; problems: Array<Record<string, unknown>> };
  };
  /** An LLM call whose request (one user message, `bytes` long, starting with `head`) is over 2 MiB. */
  big: { spanId: string; bytes: number; head: string };
}

/**
 * Spans carrying bodies in the older `gen_ai.prompt` / `gen_ai.completion` attributes (the collector
 * stores such a string as the body, verbatim): an OpenAI chat request with a tool call and its result,
 * an Anthropic messages request with a tool_use and its tool_result, a tool span with a plain-text
 * request and a JSON response, and an LLM call with a 3 MiB request. Returns, once the turn is built, what the viewer should show.
 */
function exportShapes(t: TurnBuilder, parent: Span, start: number): (turn: ExportedTurn) => Shapes {
  const openaiRequest = {
    model: GPT,
    messages: [
      { role: "system", content: "You review pull requests." },
      { role: "user", content: "Does PR 42 pass lint?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "run_lint", arguments: '{"path":"src/"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "2 problems in src/parser.ts" },
    ],
  };
  t.span("openai.chat.completions", start, 100, {
    parent,
    attributes: {
      "gen_ai.prompt": JSON.stringify(openaiRequest),
      "gen_ai.completion": JSON.stringify({
        choices: [{ index: 0, message: { role: "assistant", content: "No: two lint problems remain." } }],
      }),
    },
  });
  const anthropicRequest = {
    model: "claude-haiku-4-5",
    system: "You summarize diffs.",
    messages: [
      { role: "user", content: [{ type: "text", text: "Summarize the parser diff." }] },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: "tu_1", name: "read_diff", input: { file: "parser.ts" } }],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "tu_1", content: "+ cache tokens" }] },
    ],
  };
  t.span("anthropic.messages", start + 110, 80, {
    parent,
    attributes: { "gen_ai.prompt": JSON.stringify(anthropicRequest) },
  });
  const command = "biome lint src/ --max-diagnostics=2";
  const result = {
    ok: false,
    problems: [
      { file: "src/parser.ts", line: 12, rule: "noVar" },
      { file: "src/parser.ts", line: 40, rule: "useConst" },
    ],
  };
  t.span("tool.lint", start + 200, 30, {
    parent,
    attributes: { "gen_ai.prompt": command, "gen_ai.completion": JSON.stringify(result) },
  });
  // A request over the viewer's 2 MiB eager-load limit: 3 MiB of a file pasted into the prompt.
  const bigText = `BIG-START ${"const x = 1; // line of a large file\n".repeat(88_000)} BIG-END`;
  t.span("chat big-context", start + 235, 10, {
    parent,
    attributes: { "gen_ai.input.messages": JSON.stringify([text("user", bigText)]) },
  });
  return (turn) => {
    const id = (name: string) => turn.spans.find((s) => s.name === name)!.spanId;
    return {
      openai: {
        spanId: id("openai.chat.completions"),
        messages: [
          { role: "system", text: "You review pull requests." },
          { role: "user", text: "Does PR 42 pass lint?" },
          { role: "assistant", text: "run_lint" },
          { role: "tool", text: "2 problems in src/parser.ts" },
        ],
      },
      anthropic: {
        spanId: id("anthropic.messages"),
        messages: [
          { role: "system", text: "You summarize diffs." },
          { role: "user", text: "Summarize the parser diff." },
          { role: "assistant", text: "read_diff" },
          { role: "user", text: "+ cache tokens" },
        ],
      },
      tool: { spanId: id("tool.lint"), command, result },
      big: { spanId: id("chat big-context"), bytes: Buffer.byteLength(bigText), head: "BIG-START" },
    };
  };
}

/**
 * A turn of `count` spans (a root, groups under it and steps in the groups, 7 ms apart), starting at
 * `start`, with one span event (a log) in each span.
 */
export async function exportWideTurn(url: string, start: number, count: number): Promise<ExportedTurn> {
  const t = tracerFor(url, "load-test", undefined);
  const w = new TurnBuilder(t.tracer, undefined);
  const root = w.span("batch.turn", start, count * 7 + 50);
  // A span event in every span: the collector stores each as a log record inside its span.
  root.addEvent("batch.started", { spans: count }, start + 1);
  // Every tenth span is a group that the next nine nest in.
  let group = root;
  for (let i = 1; i < count; i++) {
    const isGroup = i % 10 === 1;
    const s = w.span(isGroup ? `group ${i}` : `step ${i}`, start + i * 7, isGroup ? 70 : 5, {
      parent: isGroup ? root : group,
    });
    s.addEvent(`progress ${i}`, { step: i }, start + i * 7 + 1);
    if (isGroup) group = s;
  }
  w.end();
  await t.flush();
  return { turnId: w.turnId(), extensionId: "load-test", start, spans: w.inStartOrder() };
}

/** One single-span turn per start time (extension `cron-agent`), for paging and time-range filters. */
export async function exportSmallTurns(url: string, starts: number[]): Promise<ExportedTurn[]> {
  const t = tracerFor(url, "cron-agent", undefined);
  const turns = starts.map((start, i) => {
    const b = new TurnBuilder(t.tracer, undefined);
    b.span(`cron.run ${i}`, start, 20);
    b.end();
    return { turnId: b.turnId(), extensionId: "cron-agent", start, spans: b.inStartOrder() };
  });
  await t.flush();
  return turns;
}

/** A turn of one LLM call (extension `cron-agent`), its request and response stored as bodies. */
export async function exportLlmTurn(url: string, start: number): Promise<ExportedTurn> {
  const t = tracerFor(url, "cron-agent", undefined);
  const b = new TurnBuilder(t.tracer, undefined);
  const root = b.span("cron.summarize", start, 500);
  const call: LlmCall = {
    model: GPT,
    input: [text("user", "Summarize last night's failed jobs.")],
    output: [text("assistant", "Two backups timed out.")],
    tokens: [80, 12],
  };
  b.llm(start + 10, 400, root, call);
  b.end();
  await t.flush();
  const spans = b.inStartOrder();
  const llm = { spanId: spans.find((s) => s.name === `chat ${GPT}`)!.spanId, ...call };
  return { turnId: b.turnId(), extensionId: "cron-agent", start, spans, llm };
}
