/**
 * A History-API router: the app's state is its URL (`/`, `/?filters`, `/turns/<id>`,
 * `/conversations/<id>`, `/usage?range`), so every view is a link that survives a reload, and the back
 * button walks the views. Same-origin link clicks are taken over here (no page load).
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { view: "turns"; query: URLSearchParams }
  | { view: "turn"; id: string; query: URLSearchParams }
  | { view: "conversation"; id: string; query: URLSearchParams }
  | { view: "usage"; query: URLSearchParams }
  | { view: "missing"; path: string };

export function parseRoute(loc: { pathname: string; search: string }): Route {
  const query = new URLSearchParams(loc.search);
  const path = loc.pathname;
  if (path === "/" || path === "") return { view: "turns", query };
  if (path === "/usage") return { view: "usage", query };
  const m = /^\/(turns|conversations)\/([^/]+)$/.exec(path);
  if (m) {
    const id = idOfSegment(safeDecode(m[2]!));
    return m[1] === "turns" ? { view: "turn", id, query } : { view: "conversation", id, query };
  }
  return { view: "missing", path };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * An id as one path segment of a viewer URL. An id of dots only (`.`, `..`) would be a dot-segment,
 * which the browser's URL parser removes (also when escaped as `%2E`), so such an id gets a `~` in
 * front; so does an id that starts with `~`, so that the `~` read back is always this escape.
 */
export function idSegment(id: string): string {
  const escaped = /^(\.+|~.*)$/s.test(id) ? `~${id}` : id;
  return encodeURIComponent(escaped);
}

/** The id a (decoded) path segment names: the inverse of idSegment. */
export function idOfSegment(segment: string): string {
  return segment.startsWith("~") ? segment.slice(1) : segment;
}

export const turnHref = (id: string) => `/turns/${idSegment(id)}`;
export const conversationHref = (id: string) => `/conversations/${idSegment(id)}`;

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
