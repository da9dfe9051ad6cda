/** One conversation: its turns oldest first (`/v1/turns?conversationId=…&order=asc`), paged. */
import { useMemo } from "preact/hooks";
import { html } from "./html.js";
import { ErrorBox } from "./load.js";
import { usePagedTurns } from "./paged-turns.js";
import { TurnsTable } from "./turns-table.js";

export function ConversationView({ id }: { id: string }) {
  const params = useMemo(() => ({ conversationId: id, order: "asc" }), [id]);
  const { turns, cursor, loading, error, next } = usePagedTurns(params, id);
  const tokensIn = turns.reduce((n, t) => n + t.inputTokens, 0);
  const tokensOut = turns.reduce((n, t) => n + t.outputTokens, 0);
  return html`<section class="page">
    <h1>Conversation <span class="mono">${id}</span></h1>
    <p class="muted">
      ${turns.length} turn${turns.length === 1 ? "" : "s"} shown, oldest first${
        tokensIn || tokensOut
          ? ` · ${tokensIn.toLocaleString("en-US")} tokens in, ${tokensOut.toLocaleString("en-US")} out`
          : ""
      }
    </p>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    ${turns.length > 0 ? html`<${TurnsTable} turns=${turns} showConversation=${false} />` : null}
    ${!loading && !error && turns.length === 0 ? html`<p class="empty">No turns in this conversation.</p>` : null}
    <div class="pager">
      ${loading ? html`<span class="muted">Loading…</span>` : null}
      ${cursor && !loading ? html`<button data-testid="next-page" onClick=${next}>Next page</button>` : null}
    </div>
  </section>`;
}
