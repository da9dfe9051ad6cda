/**
 * JSON pretty-printed and collapsible. Nodes below the first levels start collapsed, and a collapsed
 * node renders nothing of its children, so a large document costs only what is opened.
 */
import { useState } from "preact/hooks";
import { html } from "./html.js";
import { LongText } from "./long-text.js";

const OPEN_DEPTH = 2;
/** Children shown at once under one node; more behind a button. */
const PAGE = 200;

export function JsonTree({ value }: { value: unknown }) {
  return html`<div class="json-tree"><${JsonNode} value=${value} depth=${0} /></div>`;
}

function JsonNode({ value, depth, label }: { value: unknown; depth: number; label?: string }) {
  const key = label !== undefined ? html`<span class="json-key">${label}</span>: ` : null;
  if (value === null || typeof value !== "object") {
    return html`<div class="json-row">${key}<${Scalar} value=${value} /></div>`;
  }
  return html`<${Branch} value=${value as object} depth=${depth} label=${key} />`;
}

function Branch({ value, depth, label }: { value: object; depth: number; label: unknown }) {
  const [open, setOpen] = useState(depth < OPEN_DEPTH);
  const [limit, setLimit] = useState(PAGE);
  const isArray = Array.isArray(value);
  const entries: Array<[string, unknown]> = isArray
    ? (value as unknown[]).map((v, i) => [String(i), v])
    : Object.entries(value);
  const [l, r] = isArray ? ["[", "]"] : ["{", "}"];
  const summary = `${entries.length} ${isArray ? "item" : "key"}${entries.length === 1 ? "" : "s"}`;
  if (entries.length === 0) return html`<div class="json-row">${label}${l}${r}</div>`;
  return html`<div class="json-branch">
    <button type="button" class="json-toggle" aria-expanded=${open} onClick=${() => setOpen(!open)}>
      ${open ? "▾" : "▸"}
    </button>${label}${l}${open ? null : html`<span class="muted"> ${summary} </span>${r}`}
    ${
      open
        ? html`<div class="json-children">
            ${entries.slice(0, limit).map(([k, v]) => html`<${JsonNode} key=${k} label=${k} value=${v} depth=${depth + 1} />`)}
            ${
              entries.length > limit
                ? html`<button type="button" class="link" onClick=${() => setLimit(limit + PAGE * 5)}>
                    show ${Math.min(PAGE * 5, entries.length - limit)} more of ${entries.length - limit}
                  </button>`
                : null
            }
          </div>${r}`
        : null
    }
  </div>`;
}

function Scalar({ value }: { value: unknown }) {
  if (typeof value === "string") {
    return html`<span class="json-string">"<${LongText} text=${value} limit=${2000} inline=${true} />"</span>`;
  }
  return html`<span class=${`json-${value === null ? "null" : typeof value}`}>${String(value)}</span>`;
}
