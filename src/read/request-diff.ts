/**
 * What an LLM request added to the one before it in its conversation. Both bodies are read from the
 * store and compared message by message (OpenAI and Anthropic `messages`, OpenAI Responses `input`, and
 * the OTel GenAI messages the collector stores as `{"messages": …}`); bodies that are not LLM requests
 * are compared as text, by their common prefix and suffix.
 */
import type { HotRecord } from "../../tiers/hot/values.js";
import type { DiffMessage, RequestDiff } from "../types.js";
import type { Reader } from "./reader.js";

/** Earlier records of the conversation looked at, and bodies read, before giving up on a previous one. */
const LOOK_BACK = 256;
const BODIES_TRIED = 16;
/** Past this many messages a side, the diff is by common prefix and suffix only (LCS is quadratic). */
const LCS_MAX = 2_000;

interface Request {
  messages: unknown[];
  fields: Map<string, string>;
}

export async function requestDiff(reader: Reader, recordId: string): Promise<RequestDiff | undefined> {
  const record = await reader.recordById(recordId);
  if (record === undefined) return undefined;
  const body = await reader.bodyOf(record);
  if (body === undefined) return undefined;
  const current = parseRequest(body);
  for (const prev of await earlier(reader, record)) {
    const before = await reader.bodyOf(prev);
    if (before === undefined) continue;
    const previous = { recordId: prev.id, turnId: prev.record.turnId, timestamp: prev.record.timestamp };
    const old = parseRequest(before);
    if (current && old) return { recordId, previous, ...compareParsed(old, current, before, body) };
    if (!current && !old) return { recordId, previous, ...compareText(before, body) };
  }
  const none = { added: [], removed: [], edited: [], unchanged: 0, changedFields: [] };
  return current ? { recordId, format: "messages", ...none } : { recordId, format: "text", ...none };
}

/**
 * The records that may be the previous request, latest first: same conversation (or, without one, same
 * turn), same kind and name, before this one in (timestamp, seq) order, with a body.
 */
async function earlier(reader: Reader, r: HotRecord): Promise<HotRecord[]> {
  const rec = r.record;
  const name = (rec as { name?: unknown }).name;
  const scope =
    rec.conversationId !== undefined ? { conversationId: rec.conversationId } : { turnId: rec.turnId };
  if (scope.conversationId === undefined && scope.turnId === undefined) return [];
  const rows = await reader.queryRecords({
    ...scope,
    kind: rec.kind,
    ...(typeof name === "string" ? { name } : {}),
    to: rec.timestamp + 1,
    order: "desc",
    limit: LOOK_BACK,
  });
  const before = (x: HotRecord) =>
    x.record.timestamp < rec.timestamp || (x.record.timestamp === rec.timestamp && x.seq < r.seq);
  return rows.filter((x) => x.id !== r.id && x.bodyHash != null && before(x)).slice(0, BODIES_TRIED);
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
  const fields = new Map<string, string>();
  for (const [k, v] of Object.entries(obj))
    if (k !== "messages" && k !== key) fields.set(k, JSON.stringify(v));
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
 * By message, unless a message nests too deep to stringify (JSON.parse takes depths that
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
  const a = old.messages.map((m) => JSON.stringify(m));
  const b = cur.messages.map((m) => JSON.stringify(m));
  const ops = align(a, b, old.messages.map(roleOf), cur.messages.map(roleOf));
  const msg = (list: unknown[], index: number): DiffMessage => ({
    index,
    role: roleOf(list[index]),
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
      out.edited.push({ before: msg(old.messages, op.i), after: msg(cur.messages, op.j) });
    else if (op.kind === "del") out.removed.push(msg(old.messages, op.i));
    else out.added.push(msg(cur.messages, op.j));
  }
  const keys = new Set([...old.fields.keys(), ...cur.fields.keys()]);
  const changedFields = [...keys].filter((k) => old.fields.get(k) !== cur.fields.get(k)).sort();
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
function align(a: string[], b: string[], rolesA: string[], rolesB: string[]): Op[] {
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

function middle(a: string[], b: string[], start: number, endA: number, endB: number): Op[] {
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
