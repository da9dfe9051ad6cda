/**
 * A History-API router: the app's state is its URL (`/`, `/?filters`, `/turns/<id>`,
 * `/conversations/<id>`, `/usage?range`), so every view is a link that survives a reload, and the back
 * button walks the views. Same-origin link clicks are taken over here (no page load).
 */
import { useEffect, useState } from "preact/hooks";

export {
  conversationHref,
  idOfSegment,
  idSegment,
  parseRoute,
  type Route,
  turnHref,
} from "./paths.js";

import { parseRoute, type Route } from "./paths.js";

const listeners = new Set<() => void>();

/** Goes to `href` inside the app; `replace` rewrites the current history entry (filter edits). */
export function navigate(href: string, replace = false): void {
  const here = location.pathname + location.search;
  if (href === here) return;
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  for (const fn of listeners) fn();
}

/** The current route, re-rendered on navigation and on back/forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location));
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** Takes over plain left-clicks on same-origin links, so they navigate without a page load. */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith("/v1/")) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
