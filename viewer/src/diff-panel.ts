/**
 * "Changes since previous request": what an LLM request added to (or removed from, or edited in) the
 * previous request of its conversation, as the server computed it from the stored bodies
 * (`GET /v1/records/:id/diff`). Shown for requests the server compared by message; a text comparison
 * (bodies that are not LLM requests) is not shown.
 */
import { ApiError, api, type DiffMessage } from "./api.js";
import { MessageView } from "./body.js";
import { diffOutcome, NO_EARLIER, type PreviousRequest } from "./diff-data.js";
import { formatCount, formatTime, formatUtc } from "./format.js";
import { html } from "./html.js";
import { asMessage } from "./llm.js";
import { ErrorBox, useLoad } from "./load.js";
import { PagedList } from "./long-text.js";
import { turnHref } from "./router.js";

export function DiffPanel({ recordId }: { recordId: string }) {
  const { data, error, loading } = useLoad((signal) => api.diff(recordId, signal), [recordId]);
  // Asked for every span with a request body, before (and whatever the size of) the body itself: the
  // panel shows only once the server says the body is an LLM request (`messages`), so a span of another
  // kind, or a record without a stored body (404), shows no panel at all.
  if (loading) return null;
  if (error instanceof ApiError && error.status === 404) return null;
  if (!error && data?.format !== "messages") return null;
  const body = () => {
    if (error) return html`<${ErrorBox} error=${error} />`;
    if (!data) return null;
    const outcome = diffOutcome(data);
    if (outcome.kind === "none") return html`<div class="muted" data-testid="diff-none">${NO_EARLIER}</div>`;
    const p = outcome.previous;
    if (outcome.kind === "evicted")
      return html`<div class="muted" data-testid="diff-evicted">
        ${"The previous request ("}${time(p)}${p.turnId ? ", " : ""}${turnLink(p)}${") is evicted: its body is no longer stored, so there is nothing to compare."}
      </div>`;
    return html`
      <div class="diff-summary">
        ${"Since the request at "}${time(p)}${p.turnId ? html` (${turnLink(p)})` : null}${": "}
        <b>${data.added.length}</b>${" added, "}<b>${data.removed.length}</b>${" removed, "}
        <b>${data.edited.length}</b>${" edited, "}${formatCount(data.unchanged)}${" unchanged"}
        ${data.changedFields.length > 0 ? html`${"; fields changed: "}<code>${data.changedFields.join(", ")}</code>` : null}
      </div>
      <${PagedList} items=${data.removed} render=${(m: DiffMessage) => entry(m, "diff-removed", "removed")} />
      ${data.edited.map(
        (e) => html`<div class="diff-edit">
          ${entry(e.before, "diff-edited-before", "before")}
          ${entry(e.after, "diff-edited", "edited")}
        </div>`,
      )}
      <${PagedList} items=${data.added} render=${(m: DiffMessage) => entry(m, "diff-added", "added")} />`;
  };
  return html`<section class="request-diff" data-testid="request-diff">
    <h3>Changes since previous request</h3>
    ${body()}
  </section>`;
}

/** The previous request's time (UTC on hover). */
const time = (p: PreviousRequest) =>
  html`<span title=${formatUtc(p.timestamp)}>${formatTime(p.timestamp)}</span>`;

/** A link to the previous request's turn, when it has one. */
const turnLink = (p: PreviousRequest) => (p.turnId ? html`<a href=${turnHref(p.turnId)}>its turn</a>` : null);

function entry(m: DiffMessage, testid: string, what: string) {
  const msg = asMessage(m.message, m.role);
  return html`<div class=${`diff-entry diff-${what}`}>
    <div class="diff-label">${what} · message #${m.index}</div>
    <${MessageView} role=${m.role} name=${msg.name} parts=${msg.parts} testid=${testid} />
  </div>`;
}
