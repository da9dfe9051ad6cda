// The viewer's pure logic, run in Node: LLM bodies as conversations (viewer/src/llm.ts) and a turn's
// records as a span tree (viewer/src/spans.ts). The browser tests check the rendering; these check the
// shapes the rendering relies on, one body format at a time.
import { describe, expect, it } from "vitest";
import { toConversation } from "../viewer/src/llm.js";
import { buildTurn } from "../viewer/src/spans.js";
import type { ThinRecord } from "../viewer/src/types.js";

const roles = (v: unknown) => toConversation(v)?.messages.map((m) => m.role);
const partTypes = (v: unknown) =>
  toConversation(v)?.messages.map((m) => m.parts.map((p) => p.type).join("+"));

describe("LLM bodies as conversations", () => {
  it("reads an OpenAI chat request with tool calls and a tool message answering one", () => {
    const body = {
      model: "gpt-5-mini",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "list files" }] },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "ls", arguments: '{"dir":"."}' } }],
        },
        { role: "tool", tool_call_id: "c1", content: "a.txt" },
      ],
    };
    const c = toConversation(body)!;
    expect(c).toMatchObject({ kind: "request", model: "gpt-5-mini" });
    expect(roles(body)).toEqual(["system", "user", "assistant", "tool"]);
    expect(c.messages[2]!.parts).toEqual([{ type: "tool_call", id: "c1", name: "ls", args: { dir: "." } }]);
    expect(c.messages[3]!.parts).toEqual([{ type: "tool_result", id: "c1", content: "a.txt" }]);
  });

  it("reads an OpenAI chat response's choices as the assistant's message", () => {
    const body = { choices: [{ index: 0, message: { role: "assistant", content: "done" } }], usage: {} };
    expect(toConversation(body)).toEqual({
      kind: "response",
      messages: [{ role: "assistant", parts: [{ type: "text", text: "done" }] }],
    });
  });

  it("reads an Anthropic request: system first, then tool_use and tool_result blocks", () => {
    const body = {
      model: "claude-sonnet-4-5",
      system: [{ type: "text", text: "you are a coder" }],
      tools: [{ name: "read_file" }],
      messages: [
        { role: "user", content: "fix it" },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "tu1", name: "read_file", input: { path: "x" } }],
        },
        {
          role: "user",
          content: [
            {
              type: "tool_result",
              tool_use_id: "tu1",
              content: [{ type: "text", text: "body" }],
              is_error: true,
            },
          ],
        },
      ],
    };
    const c = toConversation(body)!;
    expect(c.tools).toBe(1);
    expect(roles(body)).toEqual(["system", "user", "assistant", "user"]);
    expect(c.messages[1]!.parts).toEqual([{ type: "text", text: "fix it" }]);
    expect(c.messages[2]!.parts).toEqual([
      { type: "tool_call", id: "tu1", name: "read_file", args: { path: "x" } },
    ]);
    expect(c.messages[3]!.parts).toEqual([
      { type: "tool_result", id: "tu1", content: "body", isError: true },
    ]);
  });

  it("reads an Anthropic response's content blocks as one assistant message", () => {
    const body = {
      id: "msg_1",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "hi" }],
      usage: {},
    };
    expect(toConversation(body)).toMatchObject({
      kind: "response",
      messages: [{ role: "assistant", parts: [{ type: "text", text: "hi" }] }],
    });
  });

  it("reads OpenTelemetry GenAI messages of parts, also when the collector kept them as JSON text", () => {
    const messages = [
      { role: "user", parts: [{ type: "text", content: "weather?" }] },
      {
        role: "assistant",
        parts: [{ type: "tool_call", id: "t1", name: "weather", arguments: { city: "Oslo" } }],
      },
      { role: "tool", parts: [{ type: "tool_call_response", id: "t1", response: "rain" }] },
    ];
    expect(partTypes(messages)).toEqual(["text", "tool_call", "tool_result"]);
    const wrapped = {
      messages: JSON.stringify(messages),
      system_instructions: JSON.stringify([{ type: "text", content: "be nice" }]),
    };
    expect(roles(wrapped)).toEqual(["system", "user", "assistant", "tool"]);
    expect(toConversation(wrapped)!.messages[0]!.parts).toEqual([{ type: "text", text: "be nice" }]);
    expect(toConversation(wrapped)!.messages[3]!.parts).toEqual([
      { type: "tool_result", id: "t1", content: "rain" },
    ]);
  });

  it("reads the older GenAI events, whose role is in the event's name", () => {
    const events = [
      { event: "gen_ai.system.message", content: "rules" },
      { event: "gen_ai.user.message", content: "hello" },
    ];
    expect(roles(events)).toEqual(["system", "user"]);
  });

  it("leaves JSON that is not a conversation alone", () => {
    expect(toConversation({ error: { type: "overloaded_error" } })).toBeUndefined();
    expect(toConversation([1, 2, 3])).toBeUndefined();
    expect(toConversation({ messages: [{ text: "no role" }] })).toBeUndefined();
    expect(toConversation("text")).toBeUndefined();
  });
});

let seq = 0;
function rec(r: Record<string, unknown>): ThinRecord {
  return { id: `r${seq++}`, extensionId: "e", turnId: "t", ...r } as ThinRecord;
}
const open = (spanId: string, timestamp: number, parentSpanId?: string) =>
  rec({ kind: "span-open", spanId, name: spanId, timestamp, ...(parentSpanId ? { parentSpanId } : {}) });
const close = (spanId: string, timestamp: number, durationMs: number, status = "ok", parentSpanId?: string) =>
  rec({
    kind: "span-close",
    spanId,
    name: spanId,
    timestamp,
    durationMs,
    status,
    ...(parentSpanId ? { parentSpanId } : {}),
  });

describe("a turn's records as a span tree", () => {
  it("nests spans by parent, each parent before its children, siblings by start time", () => {
    const m = buildTurn([
      open("root", 0),
      open("b", 50, "root"),
      open("a", 10, "root"),
      open("a1", 20, "a"),
      close("a1", 30, 10, "ok", "a"),
      close("a", 40, 30, "ok", "root"),
      close("b", 60, 10, "error", "root"),
      close("root", 100, 100),
    ]);
    expect(m.rows.map((s) => `${s.spanId}@${s.depth}`)).toEqual(["root@0", "a@1", "a1@2", "b@1"]);
    expect(m.byId.get("b")).toMatchObject({ status: "error", start: 50, end: 60, durationMs: 10 });
    expect([m.start, m.end]).toEqual([0, 100]);
  });

  it("places a span known only by its close at its start, and keeps a span never closed open", () => {
    const m = buildTurn([open("root", 0), close("late", 500, 200, "ok", "root"), open("hung", 10, "root")]);
    expect(m.byId.get("late")).toMatchObject({ start: 300, end: 500, status: "ok" });
    expect(m.byId.get("hung")).toMatchObject({ status: "open", durationMs: undefined });
    expect(m.byId.get("root")!.end).toBe(500); // an open span ends where its last child does
  });

  it("puts each log under its span, and a log of no known span apart", () => {
    const m = buildTurn([
      open("s", 0),
      rec({ kind: "log", level: "warn", msg: "in s", spanId: "s", timestamp: 5 }),
      rec({ kind: "log", level: "info", msg: "loose", timestamp: 6 }),
      rec({ kind: "log", level: "info", msg: "elsewhere", spanId: "other", timestamp: 7 }),
      close("s", 10, 10),
    ]);
    expect(m.byId.get("s")!.logs.map((l) => (l.kind === "log" ? l.msg : ""))).toEqual(["in s"]);
    expect(m.looseLogs.map((l) => (l.kind === "log" ? l.msg : ""))).toEqual(["loose", "elsewhere"]);
  });

  it("shows every span once even when bad data makes parents a cycle", () => {
    const m = buildTurn([open("x", 0, "y"), open("y", 1, "x"), open("z", 2)]);
    expect(m.rows.map((s) => s.spanId).sort()).toEqual(["x", "y", "z"]);
  });
});
