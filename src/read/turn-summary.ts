/**
 * What a turn's records add up to (TurnSummary) and what its LLM calls used (usage), from the records
 * alone: the one definition both the turns list's indexes (turns.ts) and its exact recomputations use.
 *
 * A span's LLM call is joined across its records: OTLP and the workload put `gen_ai.request.model` on
 * the span-open record and `gen_ai.usage.*` on the span-close record, so a call is a span (by turn and
 * span id) whose records name a model or carry tokens; it is dated by its span-open record (else its
 * earliest record) and counted under "unknown" when no record of it names a model. A record with
 * tokens and no span is a call of its own.
 */
import type { TierRecord } from "../../tiers/record.js";
import type { Attributes, TraceRecord, TurnSummary } from "../types.js";

/** A record as the summaries read it: the record without its body, and its insertion order. */
export type Thin = Pick<TierRecord, "record" | "seq">;

const INPUT_KEYS = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"] as const;
const OUTPUT_KEYS = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"] as const;
const MODEL_KEYS = ["gen_ai.request.model", "gen_ai.response.model"] as const;

export const UNKNOWN_MODEL = "unknown";

/**
 * The first usable token count among `keys` (not negative, at most 2^53: a count past that is no
 * count, and two near Number.MAX_VALUE would sum to Infinity, which JSON writes as null), else 0.
 */
function tokens(attrs: Attributes | undefined, keys: readonly string[]): number {
  if (attrs === undefined) return 0;
  for (const k of keys) {
    const v = attrs[k];
    if (typeof v === "number" && v >= 0 && v <= Number.MAX_SAFE_INTEGER) return v;
  }
  return 0;
}

/** Models a record names (request model first). */
function modelsOf(attrs: Attributes | undefined): string[] {
  if (attrs === undefined) return [];
  const out: string[] = [];
  for (const k of MODEL_KEYS) {
    const v = attrs[k];
    if (typeof v === "string" && v !== "" && !out.includes(v)) out.push(v);
  }
  return out;
}

function hasTokenKey(attrs: Attributes | undefined): boolean {
  if (attrs === undefined) return false;
  return [...INPUT_KEYS, ...OUTPUT_KEYS].some((k) => attrs[k] !== undefined);
}

/** Records of one turn in (timestamp, seq) order: its summary. */
export function summarize(turnId: string, records: readonly Thin[]): TurnSummary {
  const first = records[0]!.record;
  let conversationId: string | undefined;
  let end = first.timestamp;
  let logs = 0;
  let errors = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  const models = new Set<string>();
  const spans = new Map<string, SpanSeen>();
  for (const { record } of records) {
    const r = record as TraceRecord; // the union, without its body (Omit does not distribute)
    conversationId ??= r.conversationId;
    end = Math.max(end, r.timestamp);
    for (const m of modelsOf(r.attributes)) models.add(m);
    inputTokens += tokens(r.attributes, INPUT_KEYS);
    outputTokens += tokens(r.attributes, OUTPUT_KEYS);
    if (r.kind === "log") {
      logs++;
      if (r.level === "error") errors++;
      continue;
    }
    const s: SpanSeen = spans.get(r.spanId) ?? { name: r.name, openTs: r.timestamp };
    if (r.parentSpanId !== undefined) s.parent ??= r.parentSpanId;
    if (r.kind === "span-open") s.openTs = Math.min(s.openTs, r.timestamp);
    else {
      s.duration = r.durationMs;
      if (r.status === "error") errors++;
    }
    spans.set(r.spanId, s);
  }
  const root = rootOf(spans);
  const summary: TurnSummary = {
    turnId,
    extensionId: first.extensionId,
    start: first.timestamp,
    end,
    durationMs: root?.duration ?? end - first.timestamp,
    records: records.length,
    spans: spans.size,
    logs,
    errors,
    models: [...models].sort(),
    inputTokens,
    outputTokens,
  };
  if (conversationId !== undefined) summary.conversationId = conversationId;
  if (root !== undefined) summary.name = root.name;
  return summary;
}

interface SpanSeen {
  parent?: string;
  name: string;
  openTs: number;
  duration?: number;
}

/** The root span: no parent, or a parent that is not a span of the turn; the earliest if several. */
function rootOf<S extends { parent?: string; openTs: number }>(spans: Map<string, S>): S | undefined {
  let root: S | undefined;
  for (const s of spans.values()) {
    if (s.parent !== undefined && spans.has(s.parent)) continue;
    if (root === undefined || s.openTs < root.openTs) root = s;
  }
  return root;
}

/** One LLM call's usage, before it is bucketed by day. */
export interface Call {
  /** When the call started: its span-open record, else its earliest record. */
  ts: number;
  extensionId: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** A record without a turn is a call of its own: its seq (both tiers may hold it mid-compaction). */
  seq?: number;
}

/**
 * The LLM calls among a turn's records (in (timestamp, seq) order; records without a turn each stand
 * alone): spans joined by span id, each a call when a record of it names a model or has a token count.
 */
export function callsOf(records: readonly Thin[]): Call[] {
  const bySpan = new Map<string, { call: Call; used: boolean; named: boolean; opened: boolean }>();
  const out: Call[] = [];
  for (const { record: r, seq } of records) {
    const models = modelsOf(r.attributes);
    const used = models.length > 0 || hasTokenKey(r.attributes);
    const spanId = r.turnId === undefined ? undefined : r.spanId;
    if (spanId === undefined) {
      if (!used) continue;
      const call = callOf(r.timestamp, r.extensionId, models, r.attributes);
      if (r.turnId === undefined) call.seq = seq;
      out.push(call);
      continue;
    }
    let s = bySpan.get(spanId);
    if (s === undefined) {
      s = {
        call: callOf(r.timestamp, r.extensionId, [], undefined),
        used: false,
        named: false,
        opened: false,
      };
      bySpan.set(spanId, s);
    }
    if (r.kind === "span-open" && !s.opened) {
      s.opened = true;
      s.call.ts = r.timestamp;
    }
    if (!used) continue;
    s.used = true;
    if (!s.named && models.length > 0) {
      s.named = true;
      s.call.model = models[0]!;
    }
    s.call.inputTokens += tokens(r.attributes, INPUT_KEYS);
    s.call.outputTokens += tokens(r.attributes, OUTPUT_KEYS);
  }
  for (const s of bySpan.values()) if (s.used) out.push(s.call);
  return out;
}

function callOf(ts: number, extensionId: string, models: string[], attrs: Attributes | undefined): Call {
  return {
    ts,
    extensionId,
    model: models[0] ?? UNKNOWN_MODEL,
    inputTokens: tokens(attrs, INPUT_KEYS),
    outputTokens: tokens(attrs, OUTPUT_KEYS),
  };
}
