// The viewer's pure logic, run in Node: LLM bodies as conversations (viewer/src/llm.ts) and a turn's
// records as a span tree (viewer/src/spans.ts). The browser tests check the rendering; these check the
// shapes the rendering relies on, one body format at a time.
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, getToken, setToken, tokenSendable, turnRequest } from "../viewer/src/api.js";
import { diffOutcome } from "../viewer/src/diff-data.js";
import { formatAxis, formatDuration } from "../viewer/src/format.js";
import { hitHref, markWords, queryWords } from "../viewer/src/hits.js";
import { toConversation } from "../viewer/src/llm.js";
import { idOfSegment, idSegment, parseRoute, turnHref } from "../viewer/src/paths.js";
import { buildTurn, visibleRows } from "../viewer/src/spans.js";
import type { RequestDiff, ThinRecord, UsageRow } from "../viewer/src/types.js";
import { MAX_DAYS, OTHER, TOP_MODELS, usageChart } from "../viewer/src/usage-data.js";

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

  it("renders a text block with no text as empty text, and one with a non-string text as a value", () => {
    const body = {
      messages: [{ role: "user", content: [{ type: "text" }, { type: "text", text: { nested: 1 } }] }],
    };
    expect(toConversation(body)!.messages[0]!.parts).toEqual([
      { type: "text", text: "" },
      { type: "other", label: "text", value: { nested: 1 } },
    ]);
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

  it("walks a chain of 10,000 spans, each the parent of the next, without overflowing the stack", () => {
    const n = 10_000;
    const records = Array.from({ length: n }, (_, i) => open(`s${i}`, i, i > 0 ? `s${i - 1}` : undefined));
    const m = buildTurn(records);
    expect(m.rows).toHaveLength(n);
    expect(m.rows[n - 1]).toMatchObject({ spanId: `s${n - 1}`, depth: n - 1 });
  });

  it("hides the rows under a folded span, down to its next sibling", () => {
    const m = buildTurn([open("root", 0), open("a", 1, "root"), open("a1", 2, "a"), open("b", 3, "root")]);
    const ids = (collapsed: string[]) => visibleRows(m.rows, new Set(collapsed)).map((s) => s.spanId);
    expect(ids([])).toEqual(["root", "a", "a1", "b"]);
    expect(ids(["a"])).toEqual(["root", "a", "b"]);
    expect(ids(["root"])).toEqual(["root"]);
  });

  it("shows every span once even when bad data makes parents a cycle", () => {
    const m = buildTurn([open("x", 0, "y"), open("y", 1, "x"), open("z", 2)]);
    expect(m.rows.map((s) => s.spanId).sort()).toEqual(["x", "y", "z"]);
  });
});

describe("durations as the viewer prints them", () => {
  it("prints a negative duration with a minus sign and the usual units", () => {
    expect(formatDuration(-5000)).toBe("−5.00 s");
    expect(formatDuration(-840)).toBe("−840 ms");
    expect(formatDuration(840)).toBe("840 ms");
    expect(formatDuration(1234)).toBe("1.23 s");
  });

  it("keeps axis labels short however long the turn", () => {
    expect(formatAxis(250)).toBe("250 ms");
    expect(formatAxis(1500)).toBe("1.5 s");
    expect(formatAxis(12 * 60_000)).toBe("12 min");
    expect(formatAxis(3.25 * 3_600_000)).toBe("3.3 h");
    expect(formatAxis(400 * 86_400_000)).toBe("400 d");
    for (const ms of [0.5, 999, 59_999, 10 ** 12]) expect(formatAxis(ms).length).toBeLessThanOrEqual(8);
  });
});

describe("ids in viewer URLs and API calls", () => {
  const route = (href: string) => {
    // as the browser resolves it: dot-segments removed, then the app parses the path
    const url = new URL(href, "http://127.0.0.1:4318/");
    return parseRoute({ pathname: url.pathname, search: url.search });
  };

  it("opens every turn id from its link, dot-only ids and ids starting with ~ included", () => {
    for (const id of [".", "..", "...", "~", "~..", "a/b", "50%", "t-1", "é ü"]) {
      expect(route(turnHref(id)), id).toMatchObject({ view: "turn", id });
      expect(idOfSegment(decodeURIComponent(idSegment(id))), id).toBe(id);
    }
    expect(turnHref("abc")).toBe("/turns/abc"); // ordinary ids keep their plain links
  });

  it("asks /v1/records by query for a dot-only turn id, which no path segment can carry", () => {
    for (const id of [".", ".."]) {
      const [path, params] = turnRequest(id);
      expect(new URL(path, "http://x/").pathname).toBe("/v1/records");
      expect(params).toEqual({ turnId: id, bodies: "sizes" });
    }
    expect(turnRequest("t/1")).toEqual(["/v1/turns/t%2F1", { bodies: "sizes" }]);
  });
});

describe("the API client's token", () => {
  afterEach(() => vi.unstubAllGlobals());

  function stubStorage() {
    const items = new Map<string, string>();
    vi.stubGlobal("sessionStorage", {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => items.set(k, v),
      removeItem: (k: string) => items.delete(k),
    });
  }

  it("keeps a token accepted while an older request was out, when that request comes back 401", async () => {
    stubStorage();
    setToken("old");
    let answer: (r: Response) => void = () => {};
    vi.stubGlobal("fetch", () => new Promise<Response>((resolve) => (answer = resolve)));
    const stale = api.turns({});
    setToken("new"); // the user entered a new token meanwhile
    answer(
      new Response(JSON.stringify({ error: { code: "ERR_UNAUTHORIZED", message: "no" } }), { status: 401 }),
    );
    await expect(stale).rejects.toMatchObject({ status: 401 });
    expect(getToken()).toBe("new");
  });

  it("forgets the token a 401 answered", async () => {
    stubStorage();
    setToken("bad");
    vi.stubGlobal("fetch", async () => new Response("{}", { status: 401 }));
    await expect(api.turns({})).rejects.toMatchObject({ status: 401 });
    expect(getToken()).toBeNull();
  });

  it("tells a token a header can carry (Latin-1) from one it cannot", () => {
    expect(tokenSendable("s3cret-ÿ")).toBe(true);
    expect(tokenSendable("пароль")).toBe(false);
    expect(tokenSendable("a\nb")).toBe(false);
  });
});

describe("usage shaped for the chart", () => {
  const row = (date: string, model: string, inputTokens: number, outputTokens = 0): UsageRow => ({
    date,
    model,
    calls: 1,
    inputTokens,
    outputTokens,
  });

  it("draws the top models by tokens in their own colour and sums the rest as one", () => {
    const rows = Array.from({ length: 20 }, (_, i) => row("2026-11-01", `m${i}`, 100 + i));
    const c = usageChart(rows, "", Date.parse("2026-11-02"));
    expect(c.models).toHaveLength(TOP_MODELS);
    expect(c.models.slice(0, 3)).toEqual(["m19", "m18", "m17"]);
    expect(c.models.at(-1)).toBe(OTHER);
    const other = c.totals.find(([m]) => m === OTHER)![1];
    expect(other.inputTokens).toBe(
      rows.slice(0, 20 - (TOP_MODELS - 1)).reduce((n, r) => n + r.inputTokens, 0),
    );
    expect(c.byDay.get("2026-11-01")!.get(OTHER)!.calls).toBe(20 - (TOP_MODELS - 1));
  });

  it("handles 150,000 rows of 5,000 models in linear time, drawing the newest days", () => {
    const rows: UsageRow[] = [];
    for (let d = 0; d < 30; d++) {
      const date = new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString().slice(0, 10);
      for (let m = 0; m < 5000; m++) rows.push(row(date, `model-${m}`, m, 1));
    }
    const t0 = performance.now();
    const c = usageChart(rows, "", Date.UTC(2026, 5, 1));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(c.days).toHaveLength(30);
    expect(c.models).toHaveLength(TOP_MODELS);
    expect(c.byDay.get("2026-01-30")!.size).toBe(TOP_MODELS);
  });

  it("spans the relative range to today, newest MAX_DAYS days at most", () => {
    const today = Date.UTC(2026, 10, 29, 12);
    expect(usageChart([], "-7d", today).days).toEqual([
      "2026-11-23",
      "2026-11-24",
      "2026-11-25",
      "2026-11-26",
      "2026-11-27",
      "2026-11-28",
      "2026-11-29",
    ]);
    expect(usageChart([row("2020-01-01", "m", 1)], "", today).days).toEqual(["2020-01-01"]);
    expect(usageChart([row("2020-01-01", "m", 1)], "-7d", today).days).toHaveLength(MAX_DAYS);
  });
});

describe("what a request diff says about the previous request", () => {
  const diff = (previous?: RequestDiff["previous"]): RequestDiff => ({
    recordId: "r2",
    ...(previous !== undefined ? { previous } : {}),
    format: "messages",
    added: [],
    removed: [],
    edited: [],
    unchanged: 0,
    changedFields: [],
  });

  it("finds nothing to compare when no earlier request has a stored body", () => {
    expect(diffOutcome(diff())).toEqual({ kind: "none" });
  });

  it("reports the previous request as evicted when the server says its body was", () => {
    const previous = { recordId: "r1", turnId: "t1", timestamp: 1_700_000_000_000, evicted: true as const };
    expect(diffOutcome(diff(previous))).toEqual({ kind: "evicted", previous });
  });

  it("compares with a previous request whose body is stored", () => {
    const previous = { recordId: "r1", timestamp: 1_700_000_000_000 };
    expect(diffOutcome(diff(previous))).toEqual({ kind: "compared", previous });
  });
});

describe("search hits as the viewer shows them", () => {
  it("marks the query's positive words in a snippet, in any case, as whole words", () => {
    const words = queryWords('Timeout "could not" -retry name:llm attr.tool.name:grep');
    expect(words.sort()).toEqual(["could", "grep", "llm", "not", "timeout"]);
    const parts = markWords("A TIMEOUT: could not retry (timeouts)", words);
    expect(parts.filter((p) => p.marked).map((p) => p.text)).toEqual(["TIMEOUT", "could", "not"]);
    expect(parts.map((p) => p.text).join("")).toBe("A TIMEOUT: could not retry (timeouts)");
  });

  it("links a span hit to its span, a log hit to its log, and a record without a turn nowhere", () => {
    const base = { recordId: "00ff", timestamp: 1, name: "", where: "msg" as const, snippet: "" };
    expect(hitHref({ ...base, turnId: "t1", kind: "span-open", spanId: "s 1" })).toBe("/turns/t1?span=s%201");
    expect(hitHref({ ...base, turnId: "..", kind: "log" })).toBe("/turns/~..?log=00ff");
    expect(hitHref({ ...base, turnId: "", kind: "log" })).toBeUndefined();
  });
});
