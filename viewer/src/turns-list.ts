/**
 * The home page: recent turns, newest first, with filters kept in the URL's query string (so a filtered
 * list is a link) and a "next page" button that follows the API's cursor. A search (`q`) replaces the
 * turns with the records that match, under the same range, extension and conversation filters.
 */
import { useEffect, useState } from "preact/hooks";
import { fromLocalInput, toLocalInput } from "./format.js";
import { html } from "./html.js";
import { ErrorBox } from "./load.js";
import { usePagedTurns } from "./paged-turns.js";
import { navigate } from "./router.js";
import { FIRST_LIMIT, SearchResults } from "./search-results.js";
import { TurnsTable } from "./turns-table.js";

/** The list's state in the URL: the filters, and `limit` (a page's size; no control, but a link may set it). */
const FILTER_KEYS = [
  "q",
  "from",
  "to",
  "extensionId",
  "conversationId",
  "errors",
  "model",
  "limit",
  "hits",
] as const;
/** The filters a search takes (errors and model are the turns list's). */
const SEARCH_KEYS = ["q", "from", "to", "extensionId", "conversationId"] as const;
const PRESETS = ["-1h", "-24h", "-7d"];

/** The API's parameters from the page's query string (only the filters it knows). */
function filtersOf(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of FILTER_KEYS) {
    const v = query.get(k);
    if (v) out[k] = v;
  }
  return out;
}

function hrefFor(filters: Record<string, string>): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) q.set(k, filters[k]);
  const s = q.toString();
  return s ? `/?${s}` : "/";
}

export function TurnsList({ query }: { query: URLSearchParams }) {
  const filters = filtersOf(query);
  const set = (k: string, v: string | undefined) => navigate(hrefFor({ ...filters, [k]: v ?? "" }));
  const setMany = (f: Record<string, string>) => navigate(hrefFor(f));
  const search = (q: string) => navigate(hrefFor({ ...filters, q, hits: "" }));
  if (filters.q) {
    const params: Record<string, string> = {};
    for (const k of SEARCH_KEYS) if (filters[k]) params[k] = filters[k];
    const limit = Number(filters.hits) || FIRST_LIMIT;
    return html`<section class="page">
      <h1>Search</h1>
      <${SearchBox} q=${filters.q} search=${search} />
      <${Filters} filters=${filters} set=${set} setMany=${setMany} searching=${true} />
      <${SearchResults} params=${params} limit=${limit} more=${(n: number) => set("hits", String(n))} />
    </section>`;
  }
  return html`<${Turns} filters=${filters} set=${set} setMany=${setMany} search=${search} />`;
}

function SearchBox({ q, search }: { q: string; search: (q: string) => void }) {
  return html`<form class="search" role="search" onSubmit=${(e: Event) => {
    e.preventDefault();
    const input = (e.currentTarget as HTMLFormElement).elements.namedItem("q") as HTMLInputElement;
    search(input.value.trim());
  }}>
    <input type="search" name="q" data-testid="search-box" value=${q} aria-label="Search"
      placeholder='Search bodies, messages, names, attributes: words, "a phrase", -word, name:x, model:x, attr.key:value' />
    <button type="submit" data-testid="search-submit">Search</button>
  </form>`;
}

interface TurnsProps {
  filters: Record<string, string>;
  set: (k: string, v: string | undefined) => void;
  setMany: (f: Record<string, string>) => void;
  search: (q: string) => void;
}

function Turns({ filters, set, setMany, search }: TurnsProps) {
  const key = hrefFor(filters);
  const { turns, cursor, loading, error, next } = usePagedTurns(filters, key);
  return html`<section class="page">
    <h1>Turns</h1>
    <${SearchBox} q="" search=${search} />
    <${Filters} filters=${filters} set=${set} setMany=${setMany} />
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    ${turns.length > 0 ? html`<${TurnsTable} turns=${turns} />` : null}
    ${!loading && !error && turns.length === 0 ? html`<p class="empty">No turns match.</p>` : null}
    <div class="pager">
      ${loading ? html`<span class="muted">Loading…</span>` : null}
      ${cursor && !loading ? html`<button data-testid="next-page" onClick=${next}>Next page</button>` : null}
      <span class="muted">${turns.length} turn${turns.length === 1 ? "" : "s"} shown · j/k or ↑/↓ to move, Enter to open</span>
    </div>
  </section>`;
}

interface FiltersProps {
  filters: Record<string, string>;
  set: (k: string, v: string | undefined) => void;
  setMany: (f: Record<string, string>) => void;
  /** A search is shown: the filters that only the turns list has are left out. */
  searching?: boolean;
}

function Filters({ filters, set, setMany, searching = false }: FiltersProps) {
  const from = filters.from ?? "";
  const range = from === "" && !filters.to ? "" : PRESETS.includes(from) && !filters.to ? from : "custom";
  const [custom, setCustom] = useState(range === "custom");
  // The URL is the state: when it changes the range (back, forward, a link), the inputs follow it. A
  // "custom" chosen but with no dates yet leaves the URL as it was, so it stays until a date is set.
  useEffect(() => setCustom(range === "custom"), [range]);
  const mode = custom ? "custom" : range;
  const onRange = (v: string) => {
    setCustom(v === "custom");
    if (v === "custom") return; // wait for the dates
    setMany({ ...filters, from: v, to: "" });
  };
  const setTime = (k: "from" | "to", v: string) => {
    const t = fromLocalInput(v);
    set(k, t === undefined ? undefined : new Date(t).toISOString());
  };
  const asInput = (v: string | undefined) => {
    if (!v || v.startsWith("-")) return "";
    const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    return Number.isFinite(t) ? toLocalInput(t) : "";
  };
  const text = (name: string, key: string, label: string) =>
    html`<label>${label}
      <input
        type="text"
        data-testid=${`filter-${name}`}
        value=${filters[key] ?? ""}
        placeholder="any"
        onChange=${(e: Event) => set(key, (e.target as HTMLInputElement).value.trim())}
      />
    </label>`;
  return html`<form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
    <label>Range
      <select data-testid="filter-range" value=${mode} onChange=${(e: Event) => onRange((e.target as HTMLSelectElement).value)}>
        <option value="">All time</option>
        <option value="-1h">Last hour</option>
        <option value="-24h">Last 24 hours</option>
        <option value="-7d">Last 7 days</option>
        <option value="custom">Custom…</option>
      </select>
    </label>
    ${
      mode === "custom"
        ? html`<label>From <input type="datetime-local" data-testid="filter-from" value=${asInput(filters.from)}
              onChange=${(e: Event) => setTime("from", (e.target as HTMLInputElement).value)} /></label>
            <label>To <input type="datetime-local" data-testid="filter-to" value=${asInput(filters.to)}
              onChange=${(e: Event) => setTime("to", (e.target as HTMLInputElement).value)} /></label>`
        : null
    }
    ${text("extension", "extensionId", "Extension")}
    ${text("conversation", "conversationId", "Conversation")}
    ${
      searching
        ? null
        : html`${text("model", "model", "Model")}
          <label class="check">
            <input type="checkbox" data-testid="filter-errors" checked=${filters.errors === "true"}
              onChange=${(e: Event) => set("errors", (e.target as HTMLInputElement).checked ? "true" : undefined)} />
            Errors only
          </label>`
    }
  </form>`;
}
