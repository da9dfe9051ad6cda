/**
 * HTTP plumbing shared by the collector's routes: request bodies (size-limited, gzip), JSON answers,
 * and errors that become `{ error: { code, message, index?, field?, line? } }` with a status.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { TracetierError } from "../errors.js";

const gunzipAsync = promisify(gunzip);

export type HttpErrorCode =
  | "ERR_INVALID_JSON"
  | "ERR_INVALID_OTLP"
  | "ERR_TOO_LARGE"
  | "ERR_UNSUPPORTED_MEDIA_TYPE"
  | "ERR_UNAUTHORIZED"
  | "ERR_NOT_FOUND"
  | "ERR_METHOD_NOT_ALLOWED";

export interface ErrorDetails {
  index?: number;
  field?: string;
  line?: number;
}

export class HttpError extends Error {
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly details: ErrorDetails;

  constructor(status: number, code: HttpErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
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
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks, size);
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
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
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The status and body an error answers with. Store errors keep their codes. */
export function errorResponse(err: unknown): { status: number; body: { error: Record<string, unknown> } } {
  if (err instanceof HttpError) {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...err.details } } };
  }
  if (err instanceof TracetierError) {
    const details = err as TracetierError & { index?: number; field?: string };
    const status = STATUS[err.code] ?? 500;
    return {
      status,
      body: {
        error: {
          code: err.code,
          message: err.message,
          ...(details.index !== undefined ? { index: details.index } : {}),
          ...(details.field !== undefined ? { field: details.field } : {}),
        },
      },
    };
  }
  return {
    status: 500,
    body: { error: { code: "ERR_INTERNAL", message: (err as Error)?.message ?? String(err) } },
  };
}

const STATUS: Partial<Record<TracetierError["code"], number>> = {
  ERR_INVALID_RECORD: 400,
  ERR_INVALID_OPTION: 400,
  ERR_CLOSED: 503,
  ERR_WAL_FAILED: 503,
  ERR_DISK_FULL: 507, // Insufficient Storage: retry once space is back (the store recovers by itself)
  ERR_IO: 503,
  ERR_BATCH_TOO_LARGE: 413,
};
