/**
 * The request target (the second word of the request line), parsed without trusting it: Node's HTTP
 * parser lets through absolute-form targets that are not URLs (`http://[::1`), scheme-relative paths
 * (`//x`) and any `%`-escape. Every fault here is the client's: a 400 `ERR_BAD_REQUEST` naming the part.
 */
import { HttpError } from "./http.js";

export interface Target {
  /** The path, still `%`-encoded: routes match on it, then decode their parameters (`decodePart`). */
  path: string;
  /** The query parameters, decoded strictly (a malformed escape is refused, not replaced). */
  query: URLSearchParams;
}

const ABSOLUTE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

export function parseTarget(raw: string | undefined): Target {
  const target = raw ?? "/";
  let pathAndQuery: string;
  if (target.startsWith("/")) pathAndQuery = target;
  else if (ABSOLUTE.test(target)) pathAndQuery = absolutePath(target);
  else throw badRequest(`the request target must be a path or an absolute URL, not ${quote(target)}`);
  const hash = pathAndQuery.indexOf("#");
  if (hash >= 0) pathAndQuery = pathAndQuery.slice(0, hash); // clients never send one; ignore it
  const q = pathAndQuery.indexOf("?");
  if (q < 0) return { path: pathAndQuery, query: new URLSearchParams() };
  return { path: pathAndQuery.slice(0, q), query: parseQuery(pathAndQuery.slice(q + 1)) };
}

/** A path segment or query part, `%`-decoded; a malformed escape or invalid UTF-8 is a 400. */
export function decodePart(encoded: string, part: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw badRequest(`the ${part} has a malformed %-escape or is not UTF-8: ${quote(encoded)}`);
  }
}

function absolutePath(target: string): string {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw badRequest(`the request target ${quote(target)} is not a valid URL`);
  }
  return `${url.pathname}${url.search}`;
}

/**
 * `application/x-www-form-urlencoded` as URLSearchParams reads it (`+` is a space), except that a
 * malformed escape is refused: URLSearchParams would silently keep it or turn it into U+FFFD.
 */
function parseQuery(search: string): URLSearchParams {
  const out = new URLSearchParams();
  for (const pair of search.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1);
    const name = decodePart(rawName.replaceAll("+", " "), "query parameter name");
    out.append(name, decodePart(rawValue.replaceAll("+", " "), `query parameter ${quote(name)}`));
  }
  return out;
}

function badRequest(message: string): HttpError {
  return new HttpError(400, "ERR_BAD_REQUEST", message);
}

/** A client's text in a message: quoted, and cut short so that a huge target does not echo back whole. */
function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}
