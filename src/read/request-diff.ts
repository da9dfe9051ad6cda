/**
 * What an LLM request added to the one before it in its conversation. Both bodies are read from the
 * store and compared message by message (OpenAI and Anthropic `messages`, OpenAI Responses `input`, and
 * the OTel GenAI messages the collector stores as `{"messages": …}`); bodies that are not LLM requests
 * are compared as text, by their common prefix and suffix.
 */
import type { HotRecord } from "../../tiers/hot/values.js";
import type { DiffMessage, RequestDiff } from "../types.js";
import type { Reader } from "./reader.js";

/** Turns of the conversation searched (newest first), and bodies read, before giving up on a previous one. */
const TURNS_SEARCHED = 64;
const TURNS_PER_STEP = 8;
const BODIES_TRIED = 32;
/** Past this many messages a side, the diff is by common prefix and suffix only (LCS is quadratic). */
const LCS_MAX = 2_000;

interface Request {
  messages: unknown[];
  /** The other top-level fields, as parsed (stringified only to compare, under compareParsed's guard). */
  fields: Map<string, unknown>;
}

/**
 * The ids of the conversation's turns that started before `to` (exclusive), newest first: the turns
 * list's index, so that finding them reads no cold file (a conversation has no cold index of its own).
 */
export type TurnsBefore = (conversationId: string, to: number, limit: number) => Promise<string[]>;

const NONE = { added: [], removed: [], edited: [], unchanged: 0, changedFields: [] };

export async function requestDiff(
  reader: Reader,
  turnsBefore: TurnsBefore,
  recordId: string,
): Promise<RequestDiff | undefined> {
  const record = await reader.recordById(recordId);
  if (record === undefined) return undefined;
  const body = await reader.bodyOf(record);
  if (body === undefined) return undefined;
  const current = parseRequest(body);
  const format = current ? "messages" : "text";
  const name = nameOf(record);
  let tried = 0;
  for await (const prev of earlier(reader, turnsBefore, record)) {
    if (tried++ >= BODIES_TRIED) break;
    const previous = { recordId: prev.id, turnId: prev.record.turnId, timestamp: prev.record.timestamp };
    const before = await reader.bodyOf(prev);
    if (before === undefined) {
      // The nearest earlier request of the same name is gone: diffing against an older one would
      // report messages as added that the evicted request already had.
      if (nameOf(prev) === name)
        return { recordId, previous: { ...previous, evicted: true }, format, ...NONE };
      continue;
    }
    const old = parseRequest(before);
    if (current && old) return { recordId, previous, ...compareParsed(old, current, before, body) };
    if (!current && !old && nameOf(prev) === name)
      return { recordId, previous, ...compareText(before, body) };
  }
  return { recordId, format, ...NONE };
}

function nameOf(r: HotRecord): unknown {
  return (r.record as { name?: unknown }).name;
}

/**
 * The records that may be the previous request, latest first: of the same kind, with a body, before
 * this one in (timestamp, seq) order, in the turns of its conversation (or, without one, its own turn).
 * The name is not required to match: GenAI spans are named for their model (`chat gpt-4o`), and a
 * conversation may switch models. Turns are read a few at a time (through their turn filters in the
 * cold tier), and each step's records are sorted together, since turns of one conversation may overlap.
 */
async function* earlier(reader: Reader, turnsBefore: TurnsBefore, r: HotRecord): AsyncGenerator<HotRecord> {
  const rec = r.record;
  const turnIds =
    rec.conversationId === undefined
      ? []
      : await turnsBefore(rec.conversationId, rec.timestamp + 1, TURNS_SEARCHED);
  if (rec.turnId !== undefined && !turnIds.includes(rec.turnId)) turnIds.unshift(rec.turnId);
  const before = (x: HotRecord) =>
    x.record.timestamp < rec.timestamp || (x.record.timestamp === rec.timestamp && x.seq < r.seq);
  for (let i = 0; i < turnIds.length; i += TURNS_PER_STEP) {
    const step: HotRecord[] = [];
    for (const turnId of turnIds.slice(i, i + TURNS_PER_STEP))
      for (const x of await reader.turnRecords(turnId))
        if (x.id !== r.id && x.record.kind === rec.kind && x.bodyHash != null && before(x)) step.push(x);
    step.sort((a, b) => b.record.timestamp - a.record.timestamp || b.seq - a.seq);
    yield* step;
  }
}

/** The body as an LLM request (its messages and other top-level fields), or undefined if it is not one. */
export function parseRequest(body: string): Request | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (Array.isArray(value))
    return value.every(isMessage) ? { messages: value, fields: new Map() } : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  const obj = value as Record<string, unknown>;
  const key = Array.isArray(obj.messages) ? "messages" : Array.isArray(obj.input) ? "input" : undefined;
  const messages = key ? (obj[key] as unknown[]) : nestedMessages(obj.messages);
  if (!messages?.every(isMessage)) return undefined;
  const fields = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) if (k !== "messages" && k !== key) fields.set(k, v);
  return { messages, fields };
}

/** The OTel content mapper stores a messages attribute that was a JSON string as that string. */
function nestedMessages(v: unknown): unknown[] | undefined {
  if (typeof v !== "string") return undefined;
  try {
    const parsed: unknown = JSON.parse(v);
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isMessage(m: unknown): boolean {
  return typeof m === "object" && m !== null && !Array.isArray(m);
}

function roleOf(m: unknown): string {
  const o = m as Record<string, unknown>;
  const role = o.role ?? o.type ?? o.event;
  return typeof role === "string" ? role : "unknown";
}

/**
 * By message, unless a message or field nests too deep to stringify (JSON.parse takes depths that
 * JSON.stringify's recursion does not): then as text, rather than fail the request.
 */
function compareParsed(
  old: Request,
  cur: Request,
  before: string,
  after: string,
): Omit<RequestDiff, "recordId" | "previous"> {
  try {
    return compareRequests(old, cur);
  } catch (err) {
    if (err instanceof RangeError) return compareText(before, after);
    throw err;
  }
}

export function compareRequests(old: Request, cur: Request): Omit<RequestDiff, "recordId" | "previous"> {
  // Each distinct message becomes a small integer, so that the alignment compares numbers, not texts
  // (two 2,000-message requests of 10 KB messages took 4.5 s comparing strings).
  const ids = new Map<string, number>();
  const idOf = (m: unknown) => {
    const key = JSON.stringify(m);
    const known = ids.get(key);
    if (known !== undefined) return known;
    ids.set(key, ids.size);
    return ids.size - 1;
  };
  const a = old.messages.map(idOf);
  const b = cur.messages.map(idOf);
  const rolesA = old.messages.map(roleOf);
  const rolesB = cur.messages.map(roleOf);
  const ops = align(a, b, rolesA, rolesB);
  const msg = (list: unknown[], roles: string[], index: number): DiffMessage => ({
    index,
    role: roles[index]!,
    message: list[index],
  });
  const out = {
    added: [] as DiffMessage[],
    removed: [] as DiffMessage[],
    edited: [] as RequestDiff["edited"],
  };
  let unchanged = 0;
  for (const op of ops) {
    if (op.kind === "same") unchanged++;
    else if (op.kind === "edit")
      out.edited.push({ before: msg(old.messages, rolesA, op.i), after: msg(cur.messages, rolesB, op.j) });
    else if (op.kind === "del") out.removed.push(msg(old.messages, rolesA, op.i));
    else out.added.push(msg(cur.messages, rolesB, op.j));
  }
  const keys = new Set([...old.fields.keys(), ...cur.fields.keys()]);
  const text = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));
  const changedFields = [...keys].filter((k) => text(old.fields.get(k)) !== text(cur.fields.get(k))).sort();
  return { format: "messages", ...out, unchanged, changedFields };
}

type Op =
  | { kind: "same"; i: number; j: number }
  | { kind: "edit"; i: number; j: number }
  | { kind: "del"; i: number }
  | { kind: "add"; j: number };

/**
 * An alignment of two message lists: their common prefix and suffix, then a longest common subsequence
 * of the middle. A run of deletions next to a run of additions is paired up as edits, in order, where
 * the roles agree (a message rewritten in place: a truncated tool result, a redacted prompt).
 */
function align(a: number[], b: number[], rolesA: string[], rolesB: string[]): Op[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf])
    suf++;
  const ops: Op[] = [];
  for (let k = 0; k < pre; k++) ops.push({ kind: "same", i: k, j: k });
  ops.push(...pairEdits(middle(a, b, pre, a.length - suf, b.length - suf), rolesA, rolesB));
  for (let k = suf; k > 0; k--) ops.push({ kind: "same", i: a.length - k, j: b.length - k });
  return ops;
}

function middle(a: number[], b: number[], start: number, endA: number, endB: number): Op[] {
  const n = endA - start;
  const m = endB - start;
  if (n > LCS_MAX || m > LCS_MAX || n === 0 || m === 0) return replaceAll(start, endA, endB);
  // lengths[i][j]: LCS of a[start+i..endA) and b[start+j..endB), filled from the end.
  const lengths = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lengths[i]![j] =
        a[start + i] === b[start + j]
          ? lengths[i + 1]![j + 1]! + 1
          : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j])
      ops.push({ kind: "same", i: start + i++, j: start + j++ });
    else if (j < m && (i === n || lengths[i]![j + 1]! >= lengths[i + 1]![j]!))
      ops.push({ kind: "add", j: start + j++ });
    else ops.push({ kind: "del", i: start + i++ });
  }
  return ops;
}

function replaceAll(start: number, endA: number, endB: number): Op[] {
  const ops: Op[] = [];
  for (let i = start; i < endA; i++) ops.push({ kind: "del", i });
  for (let j = start; j < endB; j++) ops.push({ kind: "add", j });
  return ops;
}

/** Between two unchanged messages, deletions and additions with the same role, in order, are edits. */
function pairEdits(ops: Op[], rolesA: string[], rolesB: string[]): Op[] {
  const out: Op[] = [];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.kind === "same") {
      out.push(ops[k++]!);
      continue;
    }
    const dels: number[] = [];
    const adds: number[] = [];
    for (; k < ops.length && ops[k]!.kind !== "same"; k++) {
      const op = ops[k]!;
      if (op.kind === "del") dels.push(op.i);
      else if (op.kind === "add") adds.push(op.j);
    }
    const pairs = Math.min(dels.length, adds.length);
    let p = 0;
    while (p < pairs && rolesA[dels[p]!] === rolesB[adds[p]!]) {
      out.push({ kind: "edit", i: dels[p]!, j: adds[p]! });
      p++;
    }
    for (const i of dels.slice(p)) out.push({ kind: "del", i });
    for (const j of adds.slice(p)) out.push({ kind: "add", j });
  }
  return out;
}

function compareText(before: string, after: string): Omit<RequestDiff, "recordId" | "previous"> {
  let prefix = 0;
  const max = Math.min(before.length, after.length);
  while (prefix < max && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < max - prefix &&
    before.charCodeAt(before.length - 1 - suffix) === after.charCodeAt(after.length - 1 - suffix)
  )
    suffix++;
  const text = {
    prefix,
    suffix,
    inserted: after.slice(prefix, after.length - suffix),
    deleted: before.slice(prefix, before.length - suffix),
  };
  return { format: "text", added: [], removed: [], edited: [], unchanged: 0, changedFields: [], text };
}
