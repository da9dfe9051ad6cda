/**
 * LLM bodies as conversations: OpenAI chat (`messages` with `tool_calls` and `role: tool`; responses
 * with `choices`), Anthropic (`system` + `messages` of content blocks; responses with `content`
 * blocks) and OpenTelemetry GenAI (`gen_ai.input.messages` of `{role, parts}`, the older prompt and
 * choice events), all normalized to one message shape for display. Anything else is not a conversation.
 */

export type Part =
  | { type: "text"; text: string }
  | { type: "tool_call"; id?: string; name: string; args: unknown }
  | { type: "tool_result"; id?: string; content: unknown; isError?: boolean }
  | { type: "other"; label: string; value: unknown };

export interface Message {
  role: string;
  name?: string;
  parts: Part[];
}

export interface Conversation {
  /** `request` when it has the messages sent to a model; `response` for a model's answer. */
  kind: "request" | "response";
  model?: string;
  /** Tool definitions the request offered (their count). */
  tools?: number;
  messages: Message[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** A value that may itself be JSON text (GenAI attributes often carry JSON as a string). */
function unwrap(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if (!(t.startsWith("[") || t.startsWith("{"))) return v;
  try {
    return JSON.parse(t);
  } catch {
    return v;
  }
}

export function toConversation(value: unknown): Conversation | undefined {
  if (Array.isArray(value)) {
    const messages = messageList(value);
    return messages ? { kind: "request", messages } : undefined;
  }
  if (!isObj(value)) return undefined;
  const model = str(value.model);
  const tools = Array.isArray(value.tools) ? value.tools.length : undefined;
  const withModel = (c: Conversation): Conversation => ({
    ...c,
    ...(model ? { model } : {}),
    ...(tools ? { tools } : {}),
  });
  const input = value["gen_ai.input.messages"] ?? value.messages ?? value.prompt;
  if (input !== undefined) {
    const messages = messageList(unwrap(input));
    if (messages) {
      const system = systemMessages(
        value.system ?? value.system_instructions ?? value["gen_ai.system_instructions"],
      );
      const output = value["gen_ai.output.messages"];
      const out = output !== undefined ? (messageList(unwrap(output)) ?? []) : [];
      return withModel({ kind: "request", messages: [...system, ...messages, ...out] });
    }
  }
  const output = value["gen_ai.output.messages"];
  if (output !== undefined) {
    const messages = messageList(unwrap(output));
    if (messages) return withModel({ kind: "response", messages });
  }
  if (Array.isArray(value.choices)) {
    const messages = value.choices.flatMap((c) => {
      const m = isObj(c) ? (c.message ?? c.delta) : undefined;
      const one = isObj(m) ? toMessage(m) : undefined;
      return one ? [one] : [];
    });
    if (messages.length > 0) return withModel({ kind: "response", messages });
  }
  if (Array.isArray(value.content) && value.content.every((b) => isObj(b) && typeof b.type === "string")) {
    const role = str(value.role) ?? "assistant";
    return withModel({ kind: "response", messages: [{ role, parts: blocks(value.content) }] });
  }
  return undefined;
}

/** Messages, if every entry of `list` is one (a role, or a GenAI event name that implies one). */
function messageList(list: unknown): Message[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const out: Message[] = [];
  for (const item of list) {
    const m = isObj(item) ? toMessage(item) : undefined;
    if (!m) return undefined;
    out.push(m);
  }
  return out;
}

function systemMessages(system: unknown): Message[] {
  const v = unwrap(system);
  if (typeof v === "string") return v === "" ? [] : [{ role: "system", parts: [{ type: "text", text: v }] }];
  if (Array.isArray(v) && v.length > 0) return [{ role: "system", parts: blocks(v) }];
  return [];
}

const EVENT_ROLE = /^gen_ai\.(system|user|assistant|tool)\.message$/;

/** One message in any of the shapes above (a request diff's message), or undefined. */
export function asMessage(raw: unknown, role: string): Message {
  const m = isObj(raw) ? toMessage(raw.role === undefined ? { role, ...raw } : raw) : undefined;
  if (m) return m;
  return {
    role,
    parts: [
      typeof raw === "string" ? { type: "text", text: raw } : { type: "other", label: "message", value: raw },
    ],
  };
}

function toMessage(m: Obj): Message | undefined {
  if (isObj(m.message) && m.role === undefined) {
    // a gen_ai.choice event: { index, finish_reason, message }
    return toMessage({ role: "assistant", ...m.message });
  }
  const role = str(m.role) ?? EVENT_ROLE.exec(str(m.event) ?? "")?.[1];
  if (!role) return undefined;
  const parts: Part[] = [];
  const content = unwrap(m.content);
  if (typeof content === "string") {
    if (content !== "") parts.push({ type: "text", text: content });
  } else if (Array.isArray(content)) parts.push(...blocks(content));
  else if (content !== undefined && content !== null)
    parts.push({ type: "other", label: "content", value: content });
  if (Array.isArray(m.parts)) parts.push(...blocks(m.parts));
  if (Array.isArray(m.tool_calls)) parts.push(...m.tool_calls.map(openAiToolCall));
  if (isObj(m.function_call)) parts.push(openAiToolCall({ function: m.function_call }));
  const normalizedRole = role === "function" ? "tool" : role === "developer" ? "system" : role;
  if (normalizedRole === "tool" && parts.length > 0 && (m.tool_call_id !== undefined || m.id !== undefined)) {
    // an OpenAI tool message answers one call: show its text as that call's result
    const id = str(m.tool_call_id) ?? str(m.id);
    const text = parts.map((p) => (p.type === "text" ? p.text : JSON.stringify(p))).join("\n");
    return {
      role: "tool",
      ...named(m),
      parts: [{ type: "tool_result", ...(id ? { id } : {}), content: text }],
    };
  }
  return { role: normalizedRole, ...named(m), parts };
}

const named = (m: Obj) => (typeof m.name === "string" ? { name: m.name } : {});

function openAiToolCall(c: unknown): Part {
  const call = isObj(c) ? c : {};
  const fn = isObj(call.function) ? call.function : call;
  const id = str(call.id);
  return { type: "tool_call", ...(id ? { id } : {}), name: str(fn.name) ?? "?", args: unwrap(fn.arguments) };
}

/** Content blocks or parts (Anthropic, OpenAI content parts, GenAI parts) as display parts. */
function blocks(list: unknown[]): Part[] {
  return list.map((b): Part => {
    if (typeof b === "string") return { type: "text", text: b };
    if (!isObj(b)) return { type: "other", label: "part", value: b };
    const type = str(b.type) ?? "";
    const id = str(b.id) ?? str(b.tool_use_id) ?? str(b.tool_call_id);
    const withId = id ? { id } : {};
    switch (type) {
      case "text":
      case "input_text":
      case "output_text":
        return textPart(b);
      case "thinking":
      case "reasoning":
        return { type: "other", label: type, value: b.thinking ?? b.content ?? b.text };
      case "tool_use":
      case "tool_call":
      case "function_call":
        return {
          type: "tool_call",
          ...withId,
          name: str(b.name) ?? "?",
          args: unwrap(b.input ?? b.arguments),
        };
      case "tool_result":
      case "tool_call_response":
      case "function_call_output":
        return {
          type: "tool_result",
          ...withId,
          content: resultContent(b.content ?? b.response ?? b.result ?? b.output),
          ...(b.is_error === true ? { isError: true } : {}),
        };
      default:
        return { type: "other", label: type || "part", value: b };
    }
  });
}

/**
 * A text block's text. A block with no string text (none at all, or an object) must still give a part
 * the view can render: an empty text, or the value as an `other` part.
 */
function textPart(b: Obj): Part {
  const text = str(b.text) ?? str(b.content);
  if (text !== undefined) return { type: "text", text };
  const value = b.text ?? b.content;
  return value === undefined || value === null
    ? { type: "text", text: "" }
    : { type: "other", label: "text", value };
}

/** A tool result's content: text blocks joined as text, anything else as it is. */
function resultContent(c: unknown): unknown {
  const v = unwrap(c);
  if (Array.isArray(v) && v.every((b) => isObj(b) && b.type === "text" && typeof b.text === "string")) {
    return v.map((b) => (b as { text: string }).text).join("\n");
  }
  return v;
}

/** The data-role a message shows with (the viewer's tests select on system, user, assistant, tool). */
export function roleOf(role: string): string {
  return role.toLowerCase();
}
