/** Text that may be very large: the first `limit` characters, and a "show all" button for the rest. */
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
