/**
 * Search hits over the turns list's filters (`/?q=…`): each hit links to its turn with the span or log
 * selected, and shows where it matched and the text around the match, the query's words marked.
 */
import { api, type SearchHit } from "./api.js";
import { formatTime, formatUtc } from "./format.js";
import { hitHref, markWords, queryWords } from "./hits.js";
import { html } from "./html.js";
import { ErrorBox, useLoad } from "./load.js";

/** Shown at first; "More hits" doubles it up to the API's maximum. */
export const FIRST_LIMIT = 50;
const MAX_LIMIT = 1000;

interface Props {
  params: Record<string, string>;
  limit: number;
  more: (limit: number) => void;
}

export function SearchResults({ params, limit, more }: Props) {
  const key = JSON.stringify([params, limit]);
  const { data, error, loading } = useLoad(
    (signal) => api.search({ ...params, limit: String(limit) }, signal),
    [key],
  );
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p class="muted">Searching…</p>`;
  const words = queryWords(params.q ?? "");
  return html`<div data-testid="search-results">
    ${data.hits.length === 0 ? html`<p class="empty">No records match.</p>` : null}
    <ol class="hits">${data.hits.map((h) => html`<${Hit} key=${h.recordId} hit=${h} words=${words} />`)}</ol>
    <div class="pager">
      ${loading ? html`<span class="muted">Searching…</span>` : null}
      ${
        data.truncated && limit < MAX_LIMIT && !loading
          ? html`<button data-testid="more-hits" onClick=${() => more(Math.min(limit * 2, MAX_LIMIT))}>More hits</button>`
          : null
      }
      <span class="muted">${data.hits.length} hit${data.hits.length === 1 ? "" : "s"}${data.truncated ? " (more match)" : ""}</span>
    </div>
  </div>`;
}

function Hit({ hit, words }: { hit: SearchHit; words: string[] }) {
  const href = hitHref(hit);
  const label = `${hit.kind}${hit.name ? ` ${hit.name}` : ""}`;
  return html`<li class="hit" data-testid="search-hit" data-record-id=${hit.recordId} data-turn-id=${hit.turnId}
      data-where=${hit.where}>
    <div class="hit-head">
      <span title=${formatUtc(hit.timestamp)}>${formatTime(hit.timestamp)}</span>
      ${href ? html`<a href=${href}>${label}</a>` : html`<span>${label}</span>`}
      <span class="tag">${hit.where}</span>
      ${hit.conversationId ? html`<span class="muted ellipsis">${hit.conversationId}</span>` : null}
    </div>
    <div class="snippet" data-testid="snippet">${markWords(hit.snippet, words).map((p) =>
      p.marked ? html`<mark>${p.text}</mark>` : p.text,
    )}</div>
  </li>`;
}
