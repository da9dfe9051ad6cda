/** One conversation: its turns oldest first (`/v1/turns?conversationId=…&order=asc`), paged. */
import { useEffect, useState } from "preact/hooks";
import { api, type TurnSummary } from "./api.js";
import { html } from "./html.js";
import { ErrorBox } from "./load.js";
import { TurnsTable } from "./turns-table.js";

export function ConversationView({ id }: { id: string }) {
  const [turns, setTurns] = useState<TurnSummary[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<Error | undefined>();
  const load = async (after: string | undefined, signal?: AbortSignal) => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.turns({ conversationId: id, order: "asc", cursor: after }, signal);
      if (signal?.aborted) return;
      setTurns((prev) => (after ? [...prev, ...page.turns] : page.turns));
      setCursor(page.nextCursor);
    } catch (err) {
      if (!signal?.aborted) setError(err as Error);
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  };
  useEffect(() => {
    const ctl = new AbortController();
    setTurns([]);
    void load(undefined, ctl.signal);
    return () => ctl.abort();
  }, [id]);
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
      ${cursor && !loading ? html`<button data-testid="next-page" onClick=${() => load(cursor)}>Next page</button>` : null}
    </div>
  </section>`;
}
