/**
 * A table of turn summaries (the home list and the conversation view), with keyboard navigation:
 * j/k or the arrow keys move the selection, Enter opens the selected turn.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { TurnSummary } from "./api.js";
import { formatDuration, formatTime, formatTokens, formatUtc } from "./format.js";
import { html } from "./html.js";
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

/**
 * j/k/arrows/Enter on the page, unless the focus is in a form field. The listener reads the latest
 * props through a ref, so fast repeated keys each move one step (no stale selection between renders).
 */
export function useListKeys(
  count: number,
  selected: number,
  setSelected: (i: number) => void,
  open: (i: number) => void,
): void {
  const latest = useRef({ count, selected, setSelected, open });
  latest.current = { count, selected, setSelected, open };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const el = e.target as HTMLElement | null;
      if (el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(el.tagName))) return;
      if (e.key === "Enter" && el?.closest("a")) return; // a focused link opens itself
      const cur = latest.current;
      let next = cur.selected;
      if (e.key === "j" || e.key === "ArrowDown") next = Math.min(cur.count - 1, cur.selected + 1);
      else if (e.key === "k" || e.key === "ArrowUp") next = Math.max(0, cur.selected - 1);
      else if (e.key === "Enter" && cur.selected >= 0 && cur.selected < cur.count) {
        e.preventDefault();
        cur.open(cur.selected);
        return;
      } else return;
      e.preventDefault();
      if (next === cur.selected) return;
      // Seen by the next key even before the re-render.
      latest.current = { ...cur, selected: next };
      cur.setSelected(next);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}
