/**
 * HTTP plumbing shared by the collector's routes: request bodies (size-limited, gzip), JSON answers,
 * and errors that become `{ error: { code, message, index?, field?, line? } }` with a status.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { TracetierError } from "../base/errors.js";

const gunzipAsync = promisify(gunzip);

export type HttpErrorCode =
  | "ERR_BAD_REQUEST"
  | "ERR_INVALID_JSON"
  | "ERR_INVALID_OTLP"
  | "ERR_TOO_LARGE"
  | "ERR_UNSUPPORTED_MEDIA_TYPE"
  | "ERR_UNAUTHORIZED"
  | "ERR_FORBIDDEN_HOST"
  | "ERR_FORBIDDEN"
  | "ERR_NOT_FOUND"
  | "ERR_METHOD_NOT_ALLOWED"
  | "ERR_BUSY";

export interface ErrorDetails {
  index?: number;
  field?: string;
  line?: number;
}

export class HttpError extends Error {
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly details: ErrorDetails;
  /** Seconds for a `Retry-After` header (a condition that passes). */
  readonly retryAfter: number | undefined;

  constructor(
    status: number,
    code: HttpErrorCode,
    message: string,
    details: ErrorDetails = {},
    retryAfter?: number,
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/**
 * Request bytes held at once by the ingest routes (bodies after decompression, until answered). Each
 * body is under the body limit, but N concurrent ones are N times that; past `limit` a request is
 * answered 503 `ERR_BUSY` with `Retry-After: 1` rather than buffered. One request is always let through
 * (the limit is at least the body limit), so no request is refused for its size alone.
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Holds `bytes`, growable as the body turns out larger; release() when the request is answered. */
  hold(bytes: number): { grow(to: number): void; release(): void } {
    let held = 0;
    const grow = (to: number) => {
      if (to <= held) return;
      if (this.used > held && this.used - held + to > this.limit) {
        throw new HttpError(
          503,
          "ERR_BUSY",
          `the collector holds over ${this.limit} bytes of requests; retry shortly`,
          {},
          1,
        );
      }
      this.used += to - held;
      held = to;
    };
    grow(bytes);
    return {
      grow,
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

/**
 * The request body, decompressed, refusing more than `limit` bytes before or after decompression (a
 * small gzip can inflate to gigabytes). Nothing is buffered past the limit.
 */
export async function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<{ body: Buffer; rawBytes: number }> {
  const tooLarge = () =>
    new HttpError(413, "ERR_TOO_LARGE", `the request body is over the limit of ${limit} bytes`);
  if (Number(req.headers["content-length"] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // The client went away mid-body (or sent a broken chunked encoding): its fault, and nothing is stored.
    throw new HttpError(400, "ERR_BAD_REQUEST", "the request body was cut off");
  }
  const raw = Buffer.concat(chunks, size);
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (encoding === "identity") return { body: raw, rawBytes: size };
  if (encoding !== "gzip") {
    throw new HttpError(
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
      `Content-Encoding "${encoding}" is not supported (gzip is)`,
    );
  }
  try {
    return { body: await gunzipAsync(raw, { maxOutputLength: limit }), rawBytes: size };
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError)
      throw tooLarge();
    throw new HttpError(400, "ERR_INVALID_JSON", `the gzip body is damaged: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body));
}

export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  // nosniff: a body is a client's text; a browser must never run it as a script or style.
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "x-content-type-options": "nosniff",
  });
  res.end(body);
}

export interface ErrorAnswer {
  status: number;
  body: { error: Record<string, unknown> };
  /** Extra response headers (`Retry-After` for a condition that passes). */
  headers: Record<string, string>;
  /** The server's fault: the detail goes to the log, the client gets a generic message. */
  logged: boolean;
}

/**
 * The status and body an error answers with (docs/errors.md has the table). Client faults and
 * conditions the client can wait out keep their codes and messages; anything else is the server's
 * fault: 500 with a generic message, so that no JavaScript error text (or file path) reaches a client.
 */
export function errorResponse(err: unknown): ErrorAnswer {
  if (err instanceof HttpError) {
    const body = { error: { code: err.code, message: err.message, ...err.details } };
    const headers: Record<string, string> =
      err.retryAfter !== undefined ? { "retry-after": String(err.retryAfter) } : {};
    return { status: err.status, body, headers, logged: false };
  }
  if (err instanceof TracetierError) {
    const known = STATUS[err.code];
    if (known === undefined) {
      const message = "the store failed to answer; the collector's log has the detail";
      return { status: 500, body: { error: { code: err.code, message } }, headers: {}, logged: true };
    }
    const details = err as TracetierError & { index?: number; field?: string };
    const body = {
      error: {
        code: err.code,
        message: err.message,
        ...(details.index !== undefined ? { index: details.index } : {}),
        ...(details.field !== undefined ? { field: details.field } : {}),
      },
    };
    const headers: Record<string, string> =
      known.retryAfter !== undefined ? { "retry-after": String(known.retryAfter) } : {};
    return { status: known.status, body, headers, logged: known.status >= 500 };
  }
  const body = {
    error: { code: "ERR_INTERNAL", message: "internal error; the collector's log has the detail" },
  };
  return { status: 500, body, headers: {}, logged: true };
}

/**
 * Store errors a client can act on. `ERR_DISK_FULL`: 507, retry once an operator frees space;
 * `ERR_CLOSED` (shutting down), `ERR_WAL_FAILED` and `ERR_IO`: 503, retry later or elsewhere. The
 * others (`ERR_CORRUPT_STORE`, `ERR_CORRUPT_WAL`, `ERR_LOCKED`) are the server's fault: 500.
 */
const STATUS: Partial<Record<TracetierError["code"], { status: number; retryAfter?: number }>> = {
  ERR_INVALID_RECORD: { status: 400 },
  ERR_INVALID_OPTION: { status: 400 },
  ERR_DISK_FULL: { status: 507, retryAfter: 30 },
  ERR_CLOSED: { status: 503, retryAfter: 5 },
  ERR_WAL_FAILED: { status: 503, retryAfter: 5 },
  ERR_IO: { status: 503, retryAfter: 5 },
  ERR_BATCH_TOO_LARGE: { status: 413 },
};
