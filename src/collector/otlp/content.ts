/**
 * GenAI prompt and completion content, moved out of a span's attributes and events into the bodies of
 * its records (request body on the span-open, response body on the span-close), where it is stored
 * content-addressed and chunked like any body. Recognized, per the GenAI semantic conventions, old and
 * new: the `gen_ai.input.messages` / `gen_ai.output.messages` and `gen_ai.system_instructions`
 * attributes; the older `gen_ai.prompt` / `gen_ai.completion` attributes, whole or indexed
 * (`gen_ai.prompt.0.content`); and the prompt/completion events (`gen_ai.content.prompt`,
 * `gen_ai.content.completion`, `gen_ai.{system,user,assistant,tool}.message`, `gen_ai.choice`,
 * `gen_ai.client.inference.operation.details`).
 */
import type { Attributes } from "../../types.js";
import { ItemLimitError, type KeyBudget, MAX_ATTRIBUTES_PER_SET } from "./limits.js";
import type { KeyValue } from "./types.js";
import { flatten, plain } from "./values.js";

interface SpanEvent {
  name?: string;
  attributes?: KeyValue[];
}

export interface Content {
  input: string | undefined;
  output: string | undefined;
  /** The span's attributes without the content. */
  attributes: Attributes;
  /** The span's events that carried no content. */
  events: SpanEvent[];
}

const INPUT_EVENTS = new Set([
  "gen_ai.system.message",
  "gen_ai.user.message",
  "gen_ai.assistant.message",
  "gen_ai.tool.message",
]);

export function extractContent(
  attrs: readonly KeyValue[] | undefined,
  events: readonly SpanEvent[] | undefined,
  budget: KeyBudget,
): Content {
  capped(attrs);
  const input: Record<string, unknown> = {};
  const output: Record<string, unknown> = {};
  const kept: KeyValue[] = [];
  const prompts = new Map<number, Record<string, unknown>>();
  const completions = new Map<number, Record<string, unknown>>();
  for (const kv of attrs ?? []) {
    const k = kv.key ?? "";
    if (k === "gen_ai.input.messages" || k === "gen_ai.prompt") input.messages = plain(kv.value);
    else if (k === "gen_ai.system_instructions") input.system_instructions = plain(kv.value);
    else if (k === "gen_ai.output.messages" || k === "gen_ai.completion") output.messages = plain(kv.value);
    else if (!indexed(k, "gen_ai.prompt.", kv, prompts) && !indexed(k, "gen_ai.completion.", kv, completions))
      kept.push(kv);
  }
  if (prompts.size > 0) input.messages ??= inOrder(prompts);
  if (completions.size > 0) output.messages ??= inOrder(completions);
  const rest: SpanEvent[] = [];
  const inputEvents: unknown[] = [];
  const outputEvents: unknown[] = [];
  for (const e of events ?? []) {
    const name = e.name ?? "";
    const a = Object.fromEntries(capped(e.attributes).map((kv) => [kv.key ?? "", plain(kv.value)]));
    if (name === "gen_ai.content.prompt") input.messages ??= a["gen_ai.prompt"];
    else if (name === "gen_ai.content.completion") output.messages ??= a["gen_ai.completion"];
    else if (INPUT_EVENTS.has(name)) inputEvents.push({ event: name, ...a });
    else if (name === "gen_ai.choice") outputEvents.push(a);
    else if (name === "gen_ai.client.inference.operation.details") {
      if (a["gen_ai.input.messages"] !== undefined) input.messages ??= a["gen_ai.input.messages"];
      if (a["gen_ai.output.messages"] !== undefined) output.messages ??= a["gen_ai.output.messages"];
    } else rest.push(e);
  }
  if (inputEvents.length > 0) input.messages ??= inputEvents;
  if (outputEvents.length > 0) output.messages ??= outputEvents;
  return { input: bodyOf(input), output: bodyOf(output), attributes: flatten(kept, budget), events: rest };
}

/** The set, if it is within MAX_ATTRIBUTES_PER_SET (else the item is rejected before any work on it). */
function capped(attrs: readonly KeyValue[] | undefined): readonly KeyValue[] {
  if (attrs !== undefined && attrs.length > MAX_ATTRIBUTES_PER_SET)
    throw new ItemLimitError(
      `an attribute set has ${attrs.length} attributes, over the limit of ${MAX_ATTRIBUTES_PER_SET}`,
    );
  return attrs ?? [];
}

/**
 * `gen_ai.prompt.<n>.<field>` collected into entry n of `into`. Returns whether the key was one. A
 * map, not an array: an index such as 4294967294 must not make a four-billion-slot array. The entry is
 * updated in place (copying it per field made n fields of one entry cost n² time: 8,000 took 19 s);
 * defineProperty, so that a field named `__proto__` is an own key, as JSON.parse would make it.
 */
function indexed(
  key: string,
  prefix: string,
  kv: KeyValue,
  into: Map<number, Record<string, unknown>>,
): boolean {
  if (!key.startsWith(prefix)) return false;
  const m = /^(\d+)\.(.+)$/.exec(key.slice(prefix.length));
  if (!m) return false;
  const n = Number(m[1]);
  let entry = into.get(n);
  if (entry === undefined) {
    entry = {};
    into.set(n, entry);
  }
  Object.defineProperty(entry, m[2]!, {
    value: plain(kv.value),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return true;
}

/** The entries by ascending index (the indexes need not be contiguous). */
function inOrder(entries: Map<number, Record<string, unknown>>): Record<string, unknown>[] {
  return [...entries.keys()].sort((a, b) => a - b).map((n) => entries.get(n)!);
}

/** The body text: a lone string as it is (it usually is JSON already), anything else as JSON. */
function bodyOf(parts: Record<string, unknown>): string | undefined {
  const keys = Object.keys(parts).filter((k) => parts[k] !== undefined);
  if (keys.length === 0) return undefined;
  if (keys.length === 1 && keys[0] === "messages") {
    const v = parts.messages;
    return typeof v === "string" ? v : JSON.stringify(v);
  }
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, parts[k]])));
}
