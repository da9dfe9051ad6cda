/**
 * The collector's JSON API as the viewer reads it. Every call sends the session's token (if any); a 401
 * clears it and tells the app (`onUnauthorized`), which shows the token form instead of any data.
 */
import type { RequestDiff, SearchResult, ThinRecord, TurnsPage, UsageReport } from "./types.js";

export type * from "./types.js";

const TOKEN_KEY = "tracetier.token";

/** The tab's sessionStorage, typed without the DOM library (the unit tests run this module in Node). */
interface SessionStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}
const store = () => (globalThis as { sessionStorage?: SessionStore }).sessionStorage;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const listeners = new Set<() => void>();

/** Called on every 401; returns the unsubscribe function. */
export function onUnauthorized(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function getToken(): string | null {
  try {
    return store()?.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null; // storage disabled: the token lasts only as long as the page
  }
}

export function setToken(token: string | null): void {
  try {
    if (token === null) store()?.removeItem(TOKEN_KEY);
    else store()?.setItem(TOKEN_KEY, token);
  } catch {
    // storage disabled: nothing to keep
  }
}

type Params = Record<string, string | number | boolean | undefined | null>;

export function apiUrl(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function request(path: string, params: Params, signal?: AbortSignal): Promise<Response> {
  const token = getToken();
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(apiUrl(path, params), { headers, ...(signal ? { signal } : {}) });
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) {
    // Refused: ask again rather than resend it. Only the token this request sent is forgotten: a 401
    // answering an older request must not erase a token accepted since it was sent.
    if (getToken() === token) setToken(null);
    if (getToken() === null) for (const fn of listeners) fn();
  }
  throw new ApiError(res.status, code, message);
}

export async function getJson<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  return (await (await request(path, params, signal)).json()) as T;
}

export async function getText(path: string, params: Params = {}, signal?: AbortSignal): Promise<string> {
  return (await request(path, params, signal)).text();
}

/** Whether a token can be sent at all: a header carries Latin-1 only (fetch throws on anything else). */
export function tokenSendable(token: string): boolean {
  return /^[\t\x20-\xff]*$/.test(token);
}

/** Whether a token works: true when the API accepts it (or needs none). */
export async function checkToken(token: string): Promise<boolean> {
  const res = await fetch("/v1/stats", { headers: { authorization: `Bearer ${token}` } });
  return res.ok;
}

/**
 * Where a turn's records (without bodies, with their sizes) are read. An id of dots only cannot be a
 * path segment (`fetch` removes dot-segments, escaped or not), so it goes in the query string of
 * `/v1/records`, which answers the same records in the same order.
 */
export function turnRequest(id: string): [string, Params] {
  if (/^\.+$/.test(id)) return ["/v1/records", { turnId: id, bodies: "sizes" }];
  return [`/v1/turns/${encodeURIComponent(id)}`, { bodies: "sizes" }];
}

export const api = {
  turns: (params: Params, signal?: AbortSignal) => getJson<TurnsPage>("/v1/turns", params, signal),
  turn: (id: string, signal?: AbortSignal) => {
    const [path, params] = turnRequest(id);
    return getJson<ThinRecord[]>(path, params, signal);
  },
  body: (recordId: string, signal?: AbortSignal) =>
    getText(`/v1/records/${encodeURIComponent(recordId)}/body`, {}, signal),
  diff: (recordId: string, signal?: AbortSignal) =>
    getJson<RequestDiff>(`/v1/records/${encodeURIComponent(recordId)}/diff`, {}, signal),
  usage: (params: Params, signal?: AbortSignal) => getJson<UsageReport>("/v1/usage", params, signal),
  search: (params: Params, signal?: AbortSignal) => getJson<SearchResult>("/v1/search", params, signal),
};
