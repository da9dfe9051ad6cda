/** Keyboard navigation of a list (the turns, a turn's spans): j/k or the arrows move, Enter opens. */
import { useEffect, useRef } from "preact/hooks";

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
      if (el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName))) return;
      // A focused button keeps Enter and Space (they press it); j/k and the arrows still move.
      if (el?.tagName === "BUTTON" && (e.key === "Enter" || e.key === " ")) return;
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
