/**
 * The command line's HTTP client of a running collector (the way in while `serve` holds the store).
 * Refusals become the errors the same call would have thrown on the store itself (same code, same
 * message), so a command prints the same line and exits with the same code either way; what only a
 * network can do (a wrong token, no answer) gets a `RemoteError` that names the collector.
 */
import { STATUS_CODES } from "node:http";
import { type ErrorCode, RemoteError, TracetierError } from "../base/errors.js";
import { ndjsonLines } from "../base/ndjson.js";

export interface CollectorLink {
  /** Base URL, without a trailing slash. */
  url: string;
  token: string | undefined;
  /** How it was found, for --debug and errors: `--url`, or the serve.json path. */
  via: string;
}

export type Params = Record<string, string | number | boolean | undefined>;

/** The store's own codes: a collector passes them on with the store's message. */
const STORE_CODES = new Set<string>([
  "ERR_INVALID_RECORD",
  "ERR_INVALID_OPTION",
  "ERR_CORRUPT_WAL",
  "ERR_CORRUPT_STORE",
  "ERR_LOCKED",
  "ERR_CLOSED",
  "ERR_WAL_FAILED",
  "ERR_DISK_FULL",
  "ERR_IO",
  "ERR_BATCH_TOO_LARGE",
]);

/** One of the store's codes (checked against STORE_CODES) with the store's message. */
function storeError(code: string, message: string): TracetierError {
  return new TracetierError(code as ErrorCode, message);
}

export class CollectorClient {
  constructor(readonly link: CollectorLink) {}

  async getJson<T>(path: string, params: Params = {}): Promise<T> {
    const res = await this.request("GET", path, params);
    return (await res.json()) as T;
  }

  async getText(path: string, params: Params = {}): Promise<string> {
    const res = await this.request("GET", path, params);
    return res.text();
  }

  /** The response, checked: a refusal throws (see refusal()). */
  async request(
    method: "GET" | "POST",
    path: string,
    params: Params = {},
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const target = this.url(path, params);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.link.token !== undefined) headers.authorization = `Bearer ${this.link.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw this.unreachable(err);
    }
    if (!res.ok) throw await this.refusal(res);
    return res;
  }

  /** No answer at all: a network error, named with its system code where it has one. */
  unreachable(err: unknown): RemoteError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    return new RemoteError(
      "ERR_UNREACHABLE",
      this.link.url,
      `no answer from the collector at ${this.link.url} (found through ${this.link.via}): ${why}`,
      { cause: err },
    );
  }

  url(path: string, params: Params): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const query = q.toString();
    return `${this.link.url}${path}${query ? `?${query}` : ""}`;
  }

  /**
   * An error a job raised inside the collector (an admin stream's `failed` line): the store's own
   * codes as themselves, anything else (a server fault's code, or a line that is not one) as ERR_REMOTE.
   */
  failure(error: unknown): TracetierError {
    const e = (typeof error === "object" && error !== null ? error : {}) as {
      code?: unknown;
      message?: unknown;
    };
    const code = typeof e.code === "string" ? e.code : undefined;
    const message = typeof e.message === "string" ? e.message : "the job failed (no message)";
    if (code !== undefined && STORE_CODES.has(code)) return storeError(code, message);
    return new RemoteError(
      "ERR_REMOTE",
      this.link.url,
      `the collector at ${this.link.url} says the job failed${code ? ` (${code})` : ""}: ${message}`,
      { remoteCode: code },
    );
  }

  private async refusal(res: Response): Promise<TracetierError> {
    const text = await res.text().catch(() => "");
    let code: string | undefined;
    let message = text.slice(0, 500);
    try {
      const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof e?.code === "string") code = e.code;
      if (typeof e?.message === "string") message = e.message;
    } catch {
      // not the collector's JSON (a proxy's page): its text is the message
    }
    if (code !== undefined && STORE_CODES.has(code) && res.status !== 500) return storeError(code, message);
    const reason = `${res.status} ${STATUS_CODES[res.status] ?? ""}`.trim();
    const said = `the collector at ${this.link.url} answered ${reason}${code ? ` (${code})` : ""}: ${message}`;
    const details = { status: res.status, remoteCode: code };
    if (res.status === 401) {
      const hint =
        this.link.token === undefined
          ? "give its token with --token or TRACETIER_TOKEN"
          : "the token given (--token or TRACETIER_TOKEN) is not the collector's";
      return new RemoteError("ERR_UNAUTHORIZED", this.link.url, `${said} (${hint})`, details);
    }
    if (res.status === 403) return new RemoteError("ERR_FORBIDDEN", this.link.url, said, details);
    if (res.status === 404 && code === "ERR_NOT_FOUND" && /no endpoint/.test(message))
      return new RemoteError(
        "ERR_REMOTE",
        this.link.url,
        `${said} (a collector of an older version: upgrade it, or stop it and run the command on the store directly)`,
        details,
      );
    return new RemoteError("ERR_REMOTE", this.link.url, said, details);
  }
}

/**
 * The NDJSON lines of a streamed response, parsed, as they arrive (src/base/ndjson.ts splits them). A
 * line that is not JSON is the collector's answer gone wrong: ERR_REMOTE.
 */
export async function* ndjson(client: CollectorClient, res: Response): AsyncGenerator<unknown> {
  if (!res.body) return;
  for await (const l of ndjsonLines(buffers(res.body as AsyncIterable<Uint8Array>))) {
    if ("error" in l)
      throw new RemoteError(
        "ERR_REMOTE",
        client.link.url,
        `line ${l.line} of the collector's answer at ${client.link.url}: ${l.error}`,
      );
    yield l.value;
  }
}

async function* buffers(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const c of chunks) yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}
