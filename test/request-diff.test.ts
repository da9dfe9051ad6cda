import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { TraceRecord } from "../src/index.js";
import { compareRequests, parseRequest } from "../src/read/request-diff.js";
import { ColdTier } from "../tiers/cold/tier.js";
import { tempCollector } from "./support/collector.js";
import { tempStore } from "./support/fixtures.js";

const FAR_FUTURE = Date.UTC(2100, 0, 1);
const T0 = Date.UTC(2026, 10, 1);

type Msg = { role: string; content: string };
const user = (content: string): Msg => ({ role: "user", content });
const assistant = (content: string): Msg => ({ role: "assistant", content });

/** An LLM request span-open with its body, in conversation c1. */
function request(n: number, body: unknown, over: Partial<TraceRecord> = {}): TraceRecord {
  return {
    kind: "span-open",
    spanId: `s${n}`,
    name: "llm.request",
    extensionId: "ext",
    conversationId: "c1",
    turnId: `turn-${n}`,
    timestamp: T0 + n * 60_000,
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...over,
  } as TraceRecord;
}

async function idOf(store: Awaited<ReturnType<typeof tempStore>>["store"], turnId: string): Promise<string> {
  const [r] = await store.getTurn(turnId, { bodies: false });
  return r!.id;
}

describe("request diff", () => {
  it("lists exactly the messages a request appended to the previous one", async () => {
    const { store } = await tempStore();
    const first = [user("hello"), assistant("hi, how can I help?")];
    const second = [...first, user("find invoice 4471"), assistant("searching")];
    await store.insertRecords([
      request(1, { model: "m", messages: first }),
      request(2, { model: "m", messages: second }),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.previous).toMatchObject({ recordId: await idOf(store, "turn-1"), turnId: "turn-1" });
    expect(diff?.format).toBe("messages");
    expect(diff?.added).toEqual([
      { index: 2, role: "user", message: second[2] },
      { index: 3, role: "assistant", message: second[3] },
    ]);
    expect(diff?.removed).toEqual([]);
    expect(diff?.edited).toEqual([]);
    expect(diff?.unchanged).toBe(2);
    expect(diff?.changedFields).toEqual([]);
  });

  it("reports the first request of a conversation as having no previous one", async () => {
    const { store } = await tempStore();
    await store.insertRecords([request(1, { messages: [user("a")] })]);
    const diff = await store.requestDiff(await idOf(store, "turn-1"));
    expect(diff).toMatchObject({ format: "messages", added: [], removed: [], unchanged: 0 });
    expect(diff?.previous).toBeUndefined();
  });

  it("reports messages dropped from the front of the context as removed", async () => {
    const { store } = await tempStore();
    const m = [user("1"), assistant("2"), user("3"), assistant("4")];
    await store.insertRecords([
      request(1, { messages: m }),
      request(2, { messages: [...m.slice(2), user("5")] }),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.removed.map((x) => x.index)).toEqual([0, 1]);
    expect(diff?.added).toEqual([{ index: 2, role: "user", message: user("5") }]);
    expect(diff?.unchanged).toBe(2);
  });

  it("pairs a message rewritten in place as an edit, and names changed top-level fields", async () => {
    const { store } = await tempStore();
    await store.insertRecords([
      request(1, {
        model: "a",
        system: "s",
        messages: [user("q"), assistant("long tool output"), user("x")],
      }),
      request(2, { model: "b", system: "s", messages: [user("q"), assistant("[truncated]"), user("x")] }),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.edited).toEqual([
      {
        before: { index: 1, role: "assistant", message: assistant("long tool output") },
        after: { index: 1, role: "assistant", message: assistant("[truncated]") },
      },
    ]);
    expect(diff?.added).toEqual([]);
    expect(diff?.changedFields).toEqual(["model"]);
  });

  it("skips earlier bodies that are not LLM requests and finds the previous request across both tiers", async () => {
    const { store } = await tempStore();
    const first = [user("hello")];
    await store.insertRecords([
      request(1, { messages: first }),
      request(2, "tool output, not a request", { name: "tool.search", spanId: "t2" }),
    ]);
    await store.compact({ now: FAR_FUTURE, olderThanMs: 0 });
    expect((await store.stats()).coldRecords).toBe(2);
    await store.insertRecords([request(3, { messages: [...first, assistant("hey")] })]);
    const diff = await store.requestDiff(await idOf(store, "turn-3"));
    expect(diff?.previous?.turnId).toBe("turn-1");
    expect(diff?.added.map((x) => x.message)).toEqual([assistant("hey")]);
  });

  it("finds the previous request when the model, and with it the span's name, changed", async () => {
    const { store } = await tempStore();
    const first = [user("hello")];
    await store.insertRecords([
      request(1, { model: "gpt-4o", messages: first }, { name: "chat gpt-4o" }),
      request(2, { model: "gpt-5", messages: [...first, assistant("hi")] }, { name: "chat gpt-5" }),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.previous?.turnId).toBe("turn-1");
    expect(diff?.changedFields).toEqual(["model"]);
    expect(diff?.added).toHaveLength(1);
  });

  it("says the previous request is evicted, rather than diffing against an older one", async () => {
    const { store } = await tempStore();
    const m = [user("a"), assistant("b"), user("c")];
    await store.insertRecords([
      request(1, { messages: m.slice(0, 1) }),
      request(2, { messages: m.slice(0, 2) }),
      request(3, { messages: m }, { timestamp: FAR_FUTURE - 1 }),
      // a recent record with turn-1's body keeps that body from eviction by age
      request(9, { messages: m.slice(0, 1) }, { conversationId: "c9", timestamp: FAR_FUTURE - 2 }),
    ]);
    await store.prune({ maxBodyAgeMs: 1 }, { now: T0 + 10 * 60_000 }); // evicts turn-2's body only
    expect(await store.getBody(await idOf(store, "turn-1"))).toBeDefined();
    const diff = await store.requestDiff(await idOf(store, "turn-3"));
    expect(diff?.previous).toMatchObject({ turnId: "turn-2", evicted: true });
    expect(diff?.added).toEqual([]);
  });

  it("finds the previous request through the conversation's turns, reading no other cold file", async () => {
    const { store } = await tempStore();
    const others = Array.from({ length: 48 }, (_, i) =>
      request(
        100 + i,
        { messages: [user(`other ${i}`)] },
        { conversationId: `c-other-${i}`, timestamp: T0 + i * 3_600_000 },
      ),
    );
    await store.insertRecords([
      ...others,
      request(1, { messages: [user("a")] }, { timestamp: T0 + 30 * 60_000 }),
    ]);
    await store.compact({ now: FAR_FUTURE, olderThanMs: 0 });
    expect((await store.stats()).coldPartitions).toBeGreaterThan(1);
    await store.insertRecords([
      request(2, { messages: [user("a"), assistant("b")] }, { timestamp: FAR_FUTURE - 1 }),
    ]);
    await store.turns({ conversationId: "c1", to: FAR_FUTURE }); // the turns list's index, built once
    const scans = vi.spyOn(ColdTier.prototype, "rangeRecords");
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.previous?.turnId).toBe("turn-1");
    expect(scans).not.toHaveBeenCalled();
    scans.mockRestore();
  });

  it("reads the OTel GenAI shape the collector stores, messages given as a JSON string", () => {
    const msgs = [{ role: "user", parts: [{ type: "text", content: "hi" }] }];
    const parsed = parseRequest(
      JSON.stringify({ messages: JSON.stringify(msgs), system_instructions: "be brief" }),
    );
    expect(parsed?.messages).toEqual(msgs);
    expect(parseRequest(JSON.stringify(msgs))?.messages).toEqual(msgs);
    expect(parseRequest("plain text")).toBeUndefined();
    expect(parseRequest(JSON.stringify({ messages: [1, 2] }))).toBeUndefined();
  });

  it("compares bodies that are not LLM requests as text", async () => {
    const { store } = await tempStore();
    await store.insertRecords([request(1, "the quick brown fox"), request(2, "the quick red fox")]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.format).toBe("text");
    expect(diff?.text).toEqual({ prefix: 10, suffix: 4, inserted: "red", deleted: "brown" });
  });

  it("compares as text when a message nests too deep to compare by message", async () => {
    const { store } = await tempStore();
    const deep = `${"[".repeat(50_000)}${"]".repeat(50_000)}`;
    await store.insertRecords([
      request(1, { messages: [user("a")] }),
      request(2, `{"messages":[{"role":"user","content":"a"},{"role":"tool","content":${deep}}]}`),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.format).toBe("text");
    expect(diff?.text?.inserted.length).toBeGreaterThan(100_000);
  });

  it("compares as text when a field other than the messages nests too deep to compare", async () => {
    const { store } = await tempStore();
    const deep = `${"[".repeat(50_000)}${"]".repeat(50_000)}`;
    await store.insertRecords([
      request(1, { messages: [user("a")] }),
      request(2, `{"tools":${deep},"messages":[{"role":"user","content":"a"}]}`),
    ]);
    const diff = await store.requestDiff(await idOf(store, "turn-2"));
    expect(diff?.format).toBe("text");
    expect(diff?.previous?.turnId).toBe("turn-1");
  });

  it("gives undefined for an unknown record, a malformed id and a record without a body", async () => {
    const { store } = await tempStore();
    await store.insertRecords([{ ...request(1, ""), body: undefined } as TraceRecord]);
    expect(await store.requestDiff("0123456789abcdef")).toBeUndefined();
    expect(await store.requestDiff("../../etc")).toBeUndefined();
    expect(await store.requestDiff(await idOf(store, "turn-1"))).toBeUndefined();
  });

  it("any two message lists: every message of each side is accounted for exactly once", () => {
    const message = fc.record({
      role: fc.constantFrom("user", "assistant", "tool"),
      content: fc.constantFrom("a", "b", "c", "d"),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), fc.array(message, { maxLength: 12 }), (a, b) => {
        const d = compareRequests({ messages: a, fields: new Map() }, { messages: b, fields: new Map() });
        const fromA = [...d.removed.map((m) => m.index), ...d.edited.map((e) => e.before.index)];
        const fromB = [...d.added.map((m) => m.index), ...d.edited.map((e) => e.after.index)];
        expect(fromA.length + d.unchanged).toBe(a.length);
        expect(fromB.length + d.unchanged).toBe(b.length);
        expect(new Set(fromA).size).toBe(fromA.length);
        expect(new Set(fromB).size).toBe(fromB.length);
        for (const m of d.added) expect(m.message).toBe(b[m.index]);
        for (const m of d.removed) expect(m.message).toBe(a[m.index]);
      }),
    );
  });

  it("a list with messages appended: exactly those are added", () => {
    const message = fc.record({
      role: fc.constantFrom("user", "assistant"),
      content: fc.string({ maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 10 }), fc.array(message, { maxLength: 5 }), (a, extra) => {
        const d = compareRequests(
          { messages: a, fields: new Map() },
          { messages: [...a, ...extra], fields: new Map() },
        );
        expect(d.added.map((m) => m.message)).toEqual(extra);
        expect(d.removed).toEqual([]);
        expect(d.edited).toEqual([]);
      }),
    );
  });
});

describe("GET /v1/records/:id/diff and ?bodies=sizes", () => {
  it("answers the diff as JSON, and 404 naming the record when it has no body", async () => {
    const { store, url } = await tempCollector();
    await store.insertRecords([
      request(1, { messages: [user("a")] }),
      request(2, { messages: [user("a"), assistant("b")] }),
    ]);
    const id = await idOf(store, "turn-2");
    const ok = await fetch(`${url}/v1/records/${id}/diff`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { added: unknown[] }).added).toHaveLength(1);
    const missing = await fetch(`${url}/v1/records/0123456789abcdef/diff`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "ERR_NOT_FOUND" } });
  });

  it("gives a turn's records without bodies but with each body's size, evicted ones marked", async () => {
    const { store, url } = await tempCollector();
    const text = "é".repeat(3000);
    await store.insertRecords([
      request(1, text, { turnId: "t" }),
      request(2, "small", { turnId: "t", timestamp: FAR_FUTURE - 1 }),
      { kind: "log", level: "info", msg: "no body", extensionId: "ext", turnId: "t", timestamp: T0 },
    ]);
    await store.prune({ maxBodyAgeMs: 1 }, { now: T0 + 10 * 60_000 });
    const res = await fetch(`${url}/v1/turns/t?bodies=sizes`);
    const records = (await res.json()) as Array<Record<string, unknown>>;
    const byMsg = (pred: (r: Record<string, unknown>) => boolean) => records.find(pred)!;
    expect(records.every((r) => r.body === undefined)).toBe(true);
    expect(byMsg((r) => r.spanId === "s1")).toMatchObject({ bodyBytes: 6000, bodyEvicted: true });
    expect(byMsg((r) => r.spanId === "s2")).toMatchObject({ bodyBytes: 5 });
    expect(byMsg((r) => r.spanId === "s2").bodyEvicted).toBeUndefined();
    expect(byMsg((r) => r.kind === "log").bodyBytes).toBeUndefined();
    const queried = await (await fetch(`${url}/v1/records?turnId=t&bodies=sizes`)).json();
    expect(queried).toEqual(records);
  });
});
