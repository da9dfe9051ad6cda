/**
 * OTLP/HTTP requests in, responses out, in either encoding: `application/json` (OTLP/JSON: ids as
 * hex) or `application/x-protobuf` (ids as bytes, turned into hex here so that one mapping serves both).
 */
import type protobuf from "protobufjs";
import { HttpError } from "../http.js";
import { checkMessage } from "./check.js";
import { prescanJson, prescanProtobuf } from "./prescan.js";
import { messages } from "./schema.js";
import type { LogsRequest, Span, TraceRequest } from "./types.js";

export type OtlpEncoding = "json" | "protobuf";

export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json") return "json";
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  return undefined;
}

/** A body that is not an OTLP message of the declared encoding: 400. */
export class OtlpDecodeError extends HttpError {
  constructor(message: string) {
    super(400, "ERR_INVALID_OTLP", message);
  }
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  bytes: String,
  enums: Number,
  defaults: false,
};

/** The request, checked against the schema (check.ts): the mapping may trust every field's type. */
export function decodeTraces(body: Buffer, enc: OtlpEncoding): TraceRequest {
  const type = messages.traceRequest;
  if (enc === "json") return checked(type, parseJson(body)) as TraceRequest;
  const req = checked(type, decodeProto(type, body)) as TraceRequest;
  for (const rs of req.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) hexSpanIds(span);
  }
  return req;
}

export function decodeLogs(body: Buffer, enc: OtlpEncoding): LogsRequest {
  const type = messages.logsRequest;
  if (enc === "json") return checked(type, parseJson(body)) as LogsRequest;
  const req = checked(type, decodeProto(type, body)) as LogsRequest;
  for (const rl of req.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) {
      for (const log of sl.logRecords ?? []) {
        log.traceId = hex(log.traceId);
        log.spanId = hex(log.spanId);
      }
    }
  }
  return req;
}

/** The export response: empty on full success, `partialSuccess` when some items were rejected. */
export function encodeResponse(
  signal: "traces" | "logs",
  rejected: number,
  errorMessage: string | undefined,
  enc: OtlpEncoding,
): Buffer {
  const counted = signal === "traces" ? "rejectedSpans" : "rejectedLogRecords";
  const body =
    rejected > 0 ? { partialSuccess: { [counted]: rejected, errorMessage: errorMessage ?? "" } } : {};
  if (enc === "json") return Buffer.from(JSON.stringify(body));
  const type = signal === "traces" ? messages.traceResponse : messages.logsResponse;
  return Buffer.from(type.encode(type.fromObject(body)).finish());
}

/** A google.rpc.Status body, as OTLP/HTTP answers a request it cannot take. */
export function encodeStatus(code: number, message: string, enc: OtlpEncoding): Buffer {
  if (enc === "json") return Buffer.from(JSON.stringify({ code, message }));
  return Buffer.from(messages.status.encode(messages.status.fromObject({ code, message })).finish());
}

function checked(type: protobuf.Type, value: unknown): unknown {
  checkMessage(type, value, "");
  return value;
}

function parseJson(body: Buffer): unknown {
  prescanJson(body); // request-wide caps, before JSON.parse builds anything
  try {
    const v: unknown = JSON.parse(body.toString("utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v;
  } catch (err) {
    throw new OtlpDecodeError(`the request body is not an OTLP/JSON object: ${(err as Error).message}`);
  }
}

function decodeProto(type: protobuf.Type, body: Buffer): unknown {
  prescanProtobuf(type, body); // request-wide caps, before a single object is built
  try {
    return type.toObject(type.decode(body), TO_OBJECT);
  } catch (err) {
    // protobufjs throws RangeError/Error on any malformed input (and RangeError on a stack overflow for
    // absurd nesting): all of it is the client's body, never a server fault.
    throw new OtlpDecodeError(`the request body is not an OTLP protobuf message: ${(err as Error).message}`);
  }
}

function hexSpanIds(span: Span): void {
  span.traceId = hex(span.traceId);
  span.spanId = hex(span.spanId);
  span.parentSpanId = hex(span.parentSpanId);
  for (const l of span.links ?? []) {
    l.traceId = hex(l.traceId);
    l.spanId = hex(l.spanId);
  }
}

/** protobufjs gives bytes as base64; OTLP's JSON form, which the mapping reads, has hex. */
function hex(b64: string | undefined): string | undefined {
  return b64 === undefined ? undefined : Buffer.from(b64, "base64").toString("hex");
}
