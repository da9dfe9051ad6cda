/**
 * A table of turn summaries (the home list and the conversation view), with keyboard navigation:
 * j/k or the arrow keys move the selection, Enter opens the selected turn.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { TurnSummary } from "./api.js";
import { formatDuration, formatTime, formatTokens, formatUtc } from "./format.js";
import { html } from "./html.js";
import { useListKeys } from "./keys.js";
import { conversationHref, navigate, turnHref } from "./router.js";

interface Props {
  turns: TurnSummary[];
  showConversation?: boolean;
}

export function TurnsTable({ turns, showConversation = true }: Props) {
  const [selected, setSelected] = useState(-1);
  const body = useRef<HTMLTableSectionElement>(null);
  useListKeys(turns.length, selected, setSelected, (i) => navigate(turnHref(turns[i]!.turnId)));
  useEffect(() => {
    const row = body.current?.children[selected] as HTMLElement | undefined;
    row?.scrollIntoView?.({ block: "nearest" });
  }, [selected]);
  const open = (e: MouseEvent, t: TurnSummary) => {
    if ((e.target as Element).closest("a")) return; // the link itself navigates
    navigate(turnHref(t.turnId));
  };
  return html`<table class="turns">
    <thead>
      <tr>
        <th>Time</th><th>Extension</th>${showConversation ? html`<th>Conversation</th>` : null}<th>Name</th>
        <th class="num">Spans</th><th class="num">Duration</th><th>Err</th><th>Models</th>
        <th class="num">Tokens in / out</th>
      </tr>
    </thead>
    <tbody ref=${body}>
      ${turns.map(
        (t, i) => html`<tr
          key=${t.turnId}
          data-testid="turn-row"
          data-turn-id=${t.turnId}
          class=${i === selected ? "selected" : ""}
          aria-selected=${i === selected}
          onClick=${(e: MouseEvent) => open(e, t)}
        >
          <td title=${formatUtc(t.start)}><a href=${turnHref(t.turnId)}>${formatTime(t.start)}</a></td>
          <td>${t.extensionId}</td>
          ${
            showConversation
              ? html`<td class="ellipsis">${
                  t.conversationId
                    ? html`<a href=${conversationHref(t.conversationId)} title=${t.conversationId}>${t.conversationId}</a>`
                    : "–"
                }</td>`
              : null
          }
          <td class="ellipsis">${t.name ?? "–"}</td>
          <td class="num">${t.spans}</td>
          <td class="num">${formatDuration(t.durationMs)}</td>
          <td>${t.errors > 0 ? html`<span class="err-mark" title=${`${t.errors} error(s)`}>✖ ${t.errors}</span>` : ""}</td>
          <td class="ellipsis">${t.models.join(", ")}</td>
          <td class="num">${
            t.inputTokens || t.outputTokens
              ? `${formatTokens(t.inputTokens)} / ${formatTokens(t.outputTokens)}`
              : "–"
          }</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
