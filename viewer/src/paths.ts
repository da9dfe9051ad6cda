/**
 * The viewer's URLs and the views they name (no DOM, no Preact: the router uses these, and the unit
 * tests run them in Node).
 */
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
