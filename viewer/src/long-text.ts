/**
 * Content that may be very large, shown in part with a button for more: text (the first `limit`
 * characters) and lists (the first `page` items).
 */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { formatCount } from "./format.js";
import { html } from "./html.js";

export function LongText({
  text,
  limit = 20_000,
  inline = false,
}: {
  text: string;
  limit?: number;
  inline?: boolean;
}) {
  const [all, setAll] = useState(false);
  const cut = !all && text.length > limit;
  const shown = cut ? text.slice(0, limit) : text;
  const more = cut
    ? html`<button type="button" class="link show-all" onClick=${() => setAll(true)}>
        … show all (${formatCount(text.length - limit)} more characters)
      </button>`
    : null;
  if (inline) return html`<span class="long-text">${shown}${more}</span>`;
  return html`<div class="long-text"><pre>${shown}</pre>${more}</div>`;
}

/** Items of a long list (a conversation's messages): the first `page`, and a button for `page` more. */
export function PagedList<T>({
  items,
  render,
  page = 200,
}: {
  items: T[];
  render: (item: T, index: number) => ComponentChildren;
  page?: number;
}) {
  const [shown, setShown] = useState(page);
  const rest = items.length - shown;
  return html`${items.slice(0, shown).map(render)}${
    rest > 0
      ? html`<button type="button" class="link show-more" data-testid="show-more" onClick=${() => setShown(shown + page)}>
          show ${formatCount(Math.min(page, rest))} more of ${formatCount(rest)}
        </button>`
      : null
  }`;
}
