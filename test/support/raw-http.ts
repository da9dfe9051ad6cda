/**
 * HTTP/1.1 over a raw socket (node:net), for requests no HTTP client would send: malformed request
 * lines and targets, lying headers, bodies sent slowly in pieces. The answer is parsed just enough
 * to check it: status, headers, body (by Content-Length, or up to the close).
 */
import { connect } from "node:net";

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawRequest {
  /** The bytes to send, in pieces sent `delayMs` apart (a slow client), or at once. */
  pieces: Buffer[];
  delayMs?: number;
}

export function sendRaw(url: string, req: RawRequest, timeoutMs = 20_000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (answer: RawAnswer | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      const answer = parseAnswer(Buffer.concat(chunks), false);
      if (answer) finish(answer);
    });
    // A reset while we still write (the server answered early and closed) is not a failure: what it
    // answered before is what counts.
    socket.on("error", () => finish(parseAnswer(Buffer.concat(chunks), true) ?? emptyAnswer()));
    socket.on("close", () => finish(parseAnswer(Buffer.concat(chunks), true) ?? emptyAnswer()));
    socket.on("connect", async () => {
      for (const [i, piece] of req.pieces.entries()) {
        if (settled || socket.destroyed) return;
        if (i > 0 && req.delayMs) await new Promise((r) => setTimeout(r, req.delayMs));
        if (!settled && !socket.destroyed) socket.write(piece);
      }
    });
  });
}

function emptyAnswer(): RawAnswer {
  return { status: 0, headers: {}, body: Buffer.alloc(0) };
}

/** The first response in `buf`, or undefined while it is incomplete (unless the connection closed). */
function parseAnswer(buf: Buffer, closed: boolean): RawAnswer | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!m) return closed ? emptyAnswer() : undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  const rest = buf.subarray(end + 4);
  const length = headers["content-length"];
  if (length !== undefined) {
    if (rest.length < Number(length))
      return closed ? { status: Number(m[1]), headers, body: rest } : undefined;
    return { status: Number(m[1]), headers, body: rest.subarray(0, Number(length)) };
  }
  if (headers["transfer-encoding"] === "chunked") {
    const body = dechunk(rest);
    return body
      ? { status: Number(m[1]), headers, body }
      : closed
        ? { status: Number(m[1]), headers, body: rest }
        : undefined;
  }
  return closed ? { status: Number(m[1]), headers, body: rest } : undefined;
}

/** A chunked body, or undefined while its last chunk has not arrived. */
function dechunk(buf: Buffer): Buffer | undefined {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const size = Number.parseInt(buf.subarray(at, eol).toString("latin1"), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(out);
    if (buf.length < eol + 2 + size + 2) return undefined;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** A request as bytes: the request line, headers (Content-Length added for a body unless given), body. */
export function rawRequest(
  method: string,
  target: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Buffer {
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const all = { host: "localhost", ...headers };
  if (
    b &&
    !Object.keys(all).some(
      (h) => h.toLowerCase() === "content-length" || h.toLowerCase() === "transfer-encoding",
    )
  )
    Object.assign(all, { "content-length": String(b.length) });
  const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
  return b ? Buffer.concat([Buffer.from(head, "latin1"), b]) : Buffer.from(head, "latin1");
}
