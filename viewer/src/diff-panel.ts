/**
 * "Changes since previous request": what an LLM request added to (or removed from, or edited in) the
 * previous request of its conversation, as the server computed it from the stored bodies
 * (`GET /v1/records/:id/diff`).
 */
import { ApiError, api, type DiffMessage } from "./api.js";
import { MessageView } from "./body.js";
import { formatCount, formatTime, formatUtc } from "./format.js";
import { html } from "./html.js";
import { asMessage } from "./llm.js";
import { ErrorBox, useLoad } from "./load.js";
import { LongText } from "./long-text.js";
import { turnHref } from "./router.js";

export function DiffPanel({ recordId }: { recordId: string }) {
  const { data, error, loading } = useLoad((signal) => api.diff(recordId, signal), [recordId]);
  const body = () => {
    if (loading) return html`<div class="muted">Comparing with the previous request…</div>`;
    if (error instanceof ApiError && error.status === 404) {
      return html`<div class="muted">No comparison available for this request.</div>`;
    }
    if (error) return html`<${ErrorBox} error=${error} />`;
    if (!data) return null;
    if (!data.previous)
      return html`<div class="muted">The first request of its conversation: nothing to compare.</div>`;
    const p = data.previous;
    return html`
      <div class="diff-summary">
        ${"Since the request at "}<span title=${formatUtc(p.timestamp)}>${formatTime(p.timestamp)}</span>
        ${p.turnId ? html` (<a href=${turnHref(p.turnId)}>its turn</a>)` : null}${": "}
        <b>${data.added.length}</b>${" added, "}<b>${data.removed.length}</b>${" removed, "}
        <b>${data.edited.length}</b>${" edited, "}${formatCount(data.unchanged)}${" unchanged"}
        ${data.changedFields.length > 0 ? html`${"; fields changed: "}<code>${data.changedFields.join(", ")}</code>` : null}
      </div>
      ${data.removed.map((m) => entry(m, "diff-removed", "removed"))}
      ${data.edited.map(
        (e) => html`<div class="diff-edit">
          ${entry(e.before, "diff-edited-before", "before")}
          ${entry(e.after, "diff-edited", "edited")}
        </div>`,
      )}
      ${data.added.map((m) => entry(m, "diff-added", "added"))}
      ${
        data.text
          ? html`<div class="diff-text">
              ${data.text.deleted ? html`<div class="diff-removed-text"><b>− deleted</b><${LongText} text=${data.text.deleted} limit=${6000} /></div>` : null}
              ${data.text.inserted ? html`<div class="diff-added-text"><b>+ inserted</b><${LongText} text=${data.text.inserted} limit=${6000} /></div>` : null}
            </div>`
          : null
      }`;
  };
  return html`<section class="request-diff" data-testid="request-diff">
    <h3>Changes since previous request</h3>
    ${body()}
  </section>`;
}

function entry(m: DiffMessage, testid: string, what: string) {
  const msg = asMessage(m.message, m.role);
  return html`<div class=${`diff-entry diff-${what}`}>
    <div class="diff-label">${what} · message #${m.index}</div>
    <${MessageView} role=${m.role} name=${msg.name} parts=${msg.parts} testid=${testid} />
  </div>`;
}
