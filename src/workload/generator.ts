/**
 * A realistic agent workload: conversations → turns → spans, logs, and LLM request/response bodies.
 *
 * Each LLM request carries the whole conversation so far (system prompt, tool definitions, every
 * message), so request N+1 is request N plus a few messages; bodies run from about 2 KB to a 200 KB
 * context cap (past it the oldest messages are dropped, as agents compact context). About 30% of
 * requests are sent again unchanged (retries after a provider error, cache-warming resends).
 * Deterministic for a given seed.
 *
 * The `diverse` profile repeats less, as a harder test of body storage: each conversation's system
 * prompt carries its own header (user profile, memory, date), tool outputs are structured and full of
 * unique ids and numbers, text draws from a larger vocabulary, only 10% of requests are resent, and
 * turns are heavier (2–6 model calls, so about 600 KB of bodies a turn).
 */
import type { Attributes, LogRecord, SpanCloseRecord, TraceRecord } from "../types.js";
import { Random } from "./random.js";
import { TextGen } from "./text.js";

export interface WorkloadOptions {
  seed?: number;
  conversations?: number;
  turnsPerConversation?: number;
  /** Timestamp of the first record (ms). Default 2026-11-01T00:00:00Z. */
  startTime?: number;
  /** Share of LLM requests sent twice with the same body. Default 0.3. */
  resendRate?: number;
  /** Context cap in bytes of request body. Default 200 KB. */
  maxRequestBytes?: number;
  /** `agent` (the default) or `diverse` (less repetition, heavier turns; see above). */
  profile?: WorkloadProfile;
}

export type WorkloadProfile = "agent" | "diverse";
export const WORKLOAD_PROFILES: readonly WorkloadProfile[] = ["agent", "diverse"];

interface Message {
  role: "user" | "assistant" | "tool";
  content: string;
}

const MODELS = ["claude-sonnet-4-5", "gpt-5-mini", "gemini-2.5-pro"];
const EXTENSIONS = ["coder", "researcher", "support-bot"];
const TOOLS = ["read_file", "run_tests", "search_web", "edit_file", "list_dir"];

/** Yields one turn's records at a time, conversations one after another, in time order. */
export function* generateTurns(opts: WorkloadOptions = {}): Generator<TraceRecord[]> {
  const rnd = new Random(opts.seed ?? 42);
  const diverse = opts.profile === "diverse";
  const text = new TextGen(rnd, diverse ? 12_000 : 3000);
  const conversations = opts.conversations ?? 10;
  const turns = opts.turnsPerConversation ?? 8;
  const ctx: Context = {
    rnd,
    text,
    diverse,
    now: opts.startTime ?? Date.UTC(2026, 10, 1),
    resendRate: opts.resendRate ?? (diverse ? 0.1 : 0.3),
    maxRequestBytes: opts.maxRequestBytes ?? 200_000,
    // Shared per extension, as an agent platform's system prompts and tool schemas are.
    systems: EXTENSIONS.map(() => text.prose(rnd.int(1500, 6000))),
    toolDefs: EXTENSIONS.map(() => toolDefinitions(rnd, text)),
  };
  for (let c = 0; c < conversations; c++) {
    const conv = new Conversation(ctx, rnd.int(0, EXTENSIONS.length - 1));
    for (let t = 0; t < turns; t++) yield conv.turn();
    ctx.now += rnd.int(1000, 60_000);
  }
}

/** The workload as a flat list of records. */
export function generateRecords(opts: WorkloadOptions = {}): TraceRecord[] {
  return [...generateTurns(opts)].flat();
}

interface Context {
  rnd: Random;
  text: TextGen;
  diverse: boolean;
  now: number;
  resendRate: number;
  maxRequestBytes: number;
  systems: string[];
  toolDefs: string[];
}

class Conversation {
  private readonly ctx: Context;
  private readonly ext: number;
  private readonly id: string;
  private readonly model: string;
  private readonly system: string;
  private readonly messages: Message[] = [];
  private out: TraceRecord[] = [];
  private turnId = "";

  constructor(ctx: Context, ext: number) {
    this.ctx = ctx;
    this.ext = ext;
    this.id = `conv-${ctx.rnd.hex(12)}`;
    this.model = ctx.rnd.pick(MODELS);
    this.system = ctx.diverse ? personalSystem(ctx, ctx.systems[ext]!) : ctx.systems[ext]!;
  }

  turn(): TraceRecord[] {
    const { rnd, text } = this.ctx;
    this.out = [];
    this.turnId = rnd.hex(32); // an OTLP trace id: one trace is one turn
    const root = rnd.hex(16);
    const start = this.ctx.now;
    this.emit({
      kind: "span-open",
      spanId: root,
      name: "agent.turn",
      attributes: { "agent.name": EXTENSIONS[this.ext]! },
    });
    this.messages.push({ role: "user", content: text.prose(rnd.int(80, 900)) });
    this.log("info", "turn started", root, { "user.message.bytes": this.messages.at(-1)!.content.length });
    const steps = this.ctx.diverse ? rnd.int(2, 6) : rnd.int(1, 4);
    for (let s = 0; s < steps; s++) {
      const wantsTool = s < steps - 1;
      this.llmCall(root, wantsTool);
      if (wantsTool) this.toolCall(root);
    }
    this.emit({
      kind: "span-close",
      spanId: root,
      name: "agent.turn",
      durationMs: this.ctx.now - start,
      status: "ok",
    });
    this.ctx.now += rnd.int(2000, 120_000); // the user reads and types
    return this.out;
  }

  private llmCall(parent: string, wantsTool: boolean): void {
    const { rnd, text } = this.ctx;
    this.trimContext();
    const request = JSON.stringify({
      model: this.model,
      max_tokens: 4096,
      system: this.system,
      tools: this.ctx.toolDefs[this.ext],
      messages: this.messages,
    });
    const attempts = rnd.chance(this.ctx.resendRate) ? 2 : 1;
    for (let a = 0; a < attempts; a++) {
      const failed = a < attempts - 1;
      const spanId = rnd.hex(16);
      const attrs: Attributes = {
        "gen_ai.request.model": this.model,
        "gen_ai.operation.name": "chat",
        attempt: a,
      };
      const start = this.ctx.now;
      this.emit({
        kind: "span-open",
        spanId,
        parentSpanId: parent,
        name: "llm.request",
        attributes: attrs,
        body: request,
      });
      this.log("debug", `sending ${request.length} bytes to ${this.model}`, spanId);
      this.ctx.now += rnd.int(400, 9000);
      if (failed) {
        this.log("warn", "provider returned 529 overloaded; retrying", spanId, { "http.status_code": 529 });
        this.close(
          spanId,
          parent,
          "llm.request",
          start,
          "error",
          JSON.stringify({ error: { type: "overloaded_error" } }),
        );
        continue;
      }
      const reply = wantsTool
        ? `I will call ${rnd.pick(TOOLS)} to check. ${text.prose(rnd.int(40, 400))}`
        : text.prose(rnd.int(300, 3000));
      const response = JSON.stringify({
        id: `msg_${rnd.hex(24)}`,
        model: this.model,
        content: [{ type: "text", text: reply }],
        usage: { input_tokens: Math.round(request.length / 4), output_tokens: Math.round(reply.length / 4) },
      });
      this.messages.push({ role: "assistant", content: reply });
      this.close(spanId, parent, "llm.request", start, "ok", response, {
        "gen_ai.usage.input_tokens": Math.round(request.length / 4),
        "gen_ai.usage.output_tokens": Math.round(reply.length / 4),
      });
    }
  }

  private toolCall(parent: string): void {
    const { rnd, text } = this.ctx;
    const spanId = rnd.hex(16);
    const tool = rnd.pick(TOOLS);
    const start = this.ctx.now;
    this.emit({
      kind: "span-open",
      spanId,
      parentSpanId: parent,
      name: `tool.${tool}`,
      attributes: { "tool.name": tool },
    });
    this.ctx.now += rnd.int(5, 2500);
    const failed = rnd.chance(0.05);
    const result = failed
      ? `error: ${text.prose(60)}`
      : this.ctx.diverse
        ? structuredOutput(rnd, text)
        : rnd.chance(0.5)
          ? text.code(rnd.int(300, 15_000))
          : text.prose(rnd.int(200, 6000));
    if (failed) this.log("error", `${tool} failed`, spanId, { "error.type": "ToolError" });
    else this.log("info", `${tool} returned ${result.length} bytes`, spanId);
    this.messages.push({ role: "tool", content: result });
    this.close(spanId, parent, `tool.${tool}`, start, failed ? "error" : "ok");
  }

  /** Drops the oldest messages once a request would pass the context cap. */
  private trimContext(): void {
    const fixed = this.system.length + (this.ctx.toolDefs[this.ext]?.length ?? 0) + 200;
    let total = this.messages.reduce((n, m) => n + m.content.length + 40, fixed);
    while (total > this.ctx.maxRequestBytes && this.messages.length > 1) {
      total -= this.messages.shift()!.content.length + 40;
    }
  }

  private close(
    spanId: string,
    parent: string,
    name: string,
    start: number,
    status: "ok" | "error",
    body?: string,
    attributes?: Attributes,
  ): void {
    const rec: Partial<SpanCloseRecord> & Pick<SpanCloseRecord, "kind"> = {
      kind: "span-close",
      spanId,
      parentSpanId: parent,
      name,
      durationMs: this.ctx.now - start,
      status,
    };
    if (attributes) rec.attributes = attributes;
    if (body !== undefined) rec.body = body;
    this.emit(rec as Stamped<SpanCloseRecord>);
  }

  private log(
    level: "debug" | "info" | "warn" | "error",
    msg: string,
    spanId: string,
    attributes?: Attributes,
  ): void {
    const rec: Stamped<LogRecord> = { kind: "log", level, msg, spanId };
    if (attributes) rec.attributes = attributes;
    this.emit(rec);
  }

  /** Stamps the common fields on a record and advances the clock a little. */
  private emit(partial: Stamped<TraceRecord>): void {
    const rec = {
      ...partial,
      timestamp: this.ctx.now,
      extensionId: EXTENSIONS[this.ext]!,
      conversationId: this.id,
      turnId: this.turnId,
    } as TraceRecord;
    this.out.push(rec);
    this.ctx.now += this.ctx.rnd.int(0, 3);
  }
}

/** A record without the fields `emit` stamps on it. */
type Stamped<T> = T extends unknown ? Omit<T, "timestamp" | "extensionId"> : never;

function toolDefinitions(rnd: Random, text: TextGen): string {
  return JSON.stringify(
    TOOLS.map((name) => ({
      name,
      description: text.prose(rnd.int(150, 600)),
      input_schema: { type: "object", properties: { path: { type: "string" }, query: { type: "string" } } },
    })),
  );
}

/** A conversation's own system prompt: a header of its user and memory, then the extension's prompt. */
function personalSystem(ctx: Context, base: string): string {
  const { rnd, text } = ctx;
  const memory = Array.from({ length: rnd.int(2, 12) }, () => `- ${text.prose(rnd.int(40, 300))}`);
  return [
    `Current date: ${new Date(ctx.now).toISOString()}. Session ${rnd.hex(20)}.`,
    `User: ${text.prose(rnd.int(20, 60))} (account ${rnd.int(10_000, 9_999_999)}).`,
    `Memory:\n${memory.join("\n")}`,
    base,
  ].join("\n\n");
}

/** A tool result full of unique values: search hits, a file listing, a test log, or code. */
function structuredOutput(rnd: Random, text: TextGen): string {
  const kind = rnd.int(0, 3);
  const n = rnd.int(3, 60);
  if (kind === 0) {
    const hits = Array.from({ length: n }, () => ({
      url: `https://${text.prose(8).split(" ")[0]}.example/${rnd.hex(10)}`,
      title: text.prose(rnd.int(20, 80)).trim(),
      snippet: text.prose(rnd.int(80, 400)).trim(),
      score: Number(rnd.next().toFixed(6)),
    }));
    return JSON.stringify({ results: hits, total: rnd.int(n, 100_000), took_ms: rnd.int(3, 900) });
  }
  if (kind === 1) {
    const lines = Array.from(
      { length: n * 4 },
      () =>
        `${rnd.hex(12)} ${String(rnd.int(0, 9_999_999)).padStart(8)} 2026-${String(rnd.int(1, 12)).padStart(2, "0")}-${String(rnd.int(1, 28)).padStart(2, "0")} src/${text.prose(8).split(" ")[0]}/${rnd.hex(6)}.ts`,
    );
    return lines.join("\n");
  }
  if (kind === 2) {
    const lines = Array.from(
      { length: n * 3 },
      (_, i) =>
        `${rnd.chance(0.9) ? "✓" : "✗"} test ${i + 1} ${text.prose(rnd.int(10, 50)).trim()} (${rnd.int(1, 4000)} ms) [${rnd.hex(8)}]`,
    );
    return lines.join("\n");
  }
  return text.code(rnd.int(300, 30_000));
}
