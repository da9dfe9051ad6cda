/**
 * A record's body, fetched only when shown (`GET /v1/records/:id/body`) and rendered by what it is: an
 * LLM request or response as a conversation, other JSON as a collapsible tree, anything else as text.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type ThinRecord } from "./api.js";
import { formatBytes } from "./format.js";
import { html } from "./html.js";
import { JsonTree } from "./json-tree.js";
import { type Conversation, type Message, type Part, roleOf, toConversation } from "./llm.js";
import { ErrorBox, Guard } from "./load.js";
import { LongText, PagedList } from "./long-text.js";

/**
 * Bodies fetched lately, by record id (a body never changes once stored), least recently used first,
 * capped by their size (UTF-16 code units, 2 bytes each, as the page holds them) rather than count.
 */
const cache = new Map<string, { text: Promise<string>; bytes: number }>();
const CACHE_BYTES = 32 * 1024 * 1024;
let cachedBytes = 0;
/** Characters of one message part shown before "show all" (a system prompt can be many pages). */
const TEXT_LIMIT = 1500;
/** Bodies up to this many bytes load as soon as their span is selected; larger ones on a click. */
const AUTO_MAX = 2 * 1024 * 1024;

export function fetchBody(recordId: string): Promise<string> {
  const hit = cache.get(recordId);
  if (hit) {
    cache.delete(recordId); // to the end: most recently used
    cache.set(recordId, hit);
    return hit.text;
  }
  const entry = { text: api.body(recordId), bytes: 0 };
  cache.set(recordId, entry);
  entry.text.then(
    (text) => {
      if (cache.get(recordId) !== entry) return;
      entry.bytes = text.length * 2;
      cachedBytes += entry.bytes;
      for (const [id, e] of cache) {
        if (cachedBytes <= CACHE_BYTES) break;
        cache.delete(id);
        cachedBytes -= e.bytes;
      }
    },
    () => {
      if (cache.get(recordId) === entry) cache.delete(recordId); // failed: ask again next time
    },
  );
  return entry.text;
}

/** A body's size in UTF-8 bytes as the turn endpoint reported it (or as the body itself measures). */
export function bodySize(r: ThinRecord): number | undefined {
  if (typeof r.bodyBytes === "number") return r.bodyBytes;
  if (typeof r.body === "string") return new TextEncoder().encode(r.body).length;
  return undefined;
}

export function hasBody(r: ThinRecord): boolean {
  return r.bodyEvicted === true || bodySize(r) !== undefined;
}

export interface Parsed {
  text: string;
  json: unknown;
  isJson: boolean;
  conversation: Conversation | undefined;
}

export function parseBody(text: string): Parsed {
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      const json: unknown = JSON.parse(text);
      return { text, json, isJson: true, conversation: toConversation(json) };
    } catch {
      // not JSON after all: text
    }
  }
  return { text, json: undefined, isJson: false, conversation: undefined };
}

interface SectionProps {
  record: ThinRecord;
  label: string;
  /** Fetch at once (the span was selected); otherwise on "load". */
  auto?: boolean;
}

/** A titled body: its size, evicted or loading state, then the rendered body. */
export function BodySection({ record, label, auto = true }: SectionProps) {
  const size = bodySize(record);
  // A body past AUTO_MAX waits for a click: fetching and parsing many megabytes would stall the page.
  const eager = auto && (size ?? 0) <= AUTO_MAX;
  // A section shows one record: its parent keys it by record (a span's details by span id).
  const [wanted, setWanted] = useState(eager);
  const [state, setState] = useState<{ parsed?: Parsed; error?: Error }>({});
  useEffect(() => {
    if (!wanted || record.bodyEvicted) return;
    let live = true;
    const got = typeof record.body === "string" ? Promise.resolve(record.body) : fetchBody(record.id);
    got.then(
      (text) => live && setState({ parsed: parseBody(text) }),
      (error: Error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [wanted, record.id]);
  const head = html`<h3>${label} <span class="muted">${size !== undefined ? formatBytes(size) : ""}</span></h3>`;
  if (record.bodyEvicted) {
    return html`<section class="body-section">${head}
      <div class="evicted" data-testid="body-evicted">Body evicted by retention: only its metadata is kept.</div>
    </section>`;
  }
  if (!wanted) {
    return html`<section class="body-section">${head}
      <button type="button" data-testid="load-body" onClick=${() => setWanted(true)}>
        Load body${size !== undefined ? ` (${formatBytes(size)})` : ""}
      </button></section>`;
  }
  return html`<section class="body-section">${head}
    ${state.error ? html`<${ErrorBox} error=${state.error} />` : null}
    ${!state.parsed && !state.error ? html`<div class="muted">Loading body…</div>` : null}
    ${
      state.parsed
        ? html`<${Guard} what="this body"><${BodyView} recordId=${record.id} parsed=${state.parsed} /></${Guard}>`
        : null
    }
  </section>`;
}

export function BodyView({ recordId, parsed }: { recordId: string; parsed: Parsed }) {
  const [raw, setRaw] = useState(false);
  let content: ComponentChildren;
  let kind: string;
  if (parsed.conversation && !raw) {
    kind = "conversation";
    content = html`<${MessagesView} conversation=${parsed.conversation} />`;
  } else if (parsed.isJson) {
    kind = "json";
    content = html`<${JsonTree} value=${parsed.json} />`;
  } else {
    kind = "text";
    content = html`<${LongText} text=${parsed.text} />`;
  }
  return html`<div class="body-view" data-testid="body-view" data-record-id=${recordId} data-format=${kind}>
    ${
      parsed.conversation
        ? html`<div class="body-tools">
            <button type="button" class="link" onClick=${() => setRaw(!raw)}>${raw ? "as conversation" : "as JSON"}</button>
          </div>`
        : null
    }
    ${content}
  </div>`;
}

/** A body's conversation: its model, then its messages (a page at a time: a body may hold thousands). */
function MessagesView({ conversation }: { conversation: Conversation }) {
  return html`<div class="conversation">
    ${
      conversation.model || conversation.tools
        ? html`<div class="muted">${[
            conversation.model ? `model ${conversation.model}` : "",
            conversation.tools
              ? `${conversation.tools} tool${conversation.tools === 1 ? "" : "s"} offered`
              : "",
          ]
            .filter(Boolean)
            .join(" · ")}</div>`
        : null
    }
    <${PagedList}
      items=${conversation.messages}
      render=${(m: Message, i: number) => html`<${MessageView} key=${i} role=${m.role} name=${m.name} parts=${m.parts} />`}
    />
  </div>`;
}

interface MessageProps {
  role: string;
  name?: string;
  parts: Part[];
  /** The element's test hook: `message` in a body, `diff-added` (…) in the request diff. */
  testid?: string;
  extraClass?: string;
}

export function MessageView({ role, name, parts, testid = "message", extraClass = "" }: MessageProps) {
  const r = roleOf(role);
  return html`<div class=${`message role-${r} ${extraClass}`} data-testid=${testid} data-role=${r}>
    <div class="message-role">${r}${name ? html` <span class="muted">(${name})</span>` : null}</div>
    ${parts.map((p, i) => html`<${PartView} key=${i} part=${p} />`)}
  </div>`;
}

function PartView({ part }: { part: Part }) {
  switch (part.type) {
    case "text":
      return html`<${LongText} text=${part.text} limit=${TEXT_LIMIT} />`;
    case "tool_call":
      return html`<div class="tool-call">
        <div class="part-head">→ tool call <b>${part.name}</b>${part.id ? html` <span class="muted">${part.id}</span>` : null}</div>
        ${valueView(part.args)}
      </div>`;
    case "tool_result":
      return html`<div class=${`tool-result${part.isError ? " is-error" : ""}`}>
        <div class="part-head">← tool result${part.id ? html` <span class="muted">${part.id}</span>` : null}${
          part.isError ? html` <span class="err-mark">error</span>` : null
        }</div>
        ${valueView(part.content)}
      </div>`;
    default:
      return html`<div class="other-part"><div class="part-head">${part.label}</div>${valueView(part.value)}</div>`;
  }
}

function valueView(v: unknown) {
  if (typeof v === "string") return html`<${LongText} text=${v} limit=${TEXT_LIMIT} />`;
  if (v === undefined) return null;
  return html`<${JsonTree} value=${v} />`;
}
