/**
 * A protobuf body's messages counted before it is decoded. protobufjs builds an object per message,
 * and a message can cost two body bytes (`0a 00`: an empty ResourceSpans), so 64 MiB of them would be
 * tens of millions of objects (~5 GB of heap) before any check could run. This walk reads only tags
 * and lengths (nothing is allocated per field), follows the schema's message fields, and throws
 * OtlpTooLargeError past a request-wide cap (limits.ts), so the decoder never sees such a body.
 * Malformed wire data is left for the decoder to report (it gives the better message).
 */
import protobuf from "protobufjs";
import { HttpError } from "../http.js";
import { ITEM_TYPES } from "./check.js";
import {
  MAX_JSON_VALUES_PER_REQUEST,
  MAX_MESSAGES_PER_REQUEST,
  OtlpTooLargeError,
  RequestCounter,
} from "./limits.js";
import { PROTOBUF_RECURSION_LIMIT } from "./schema.js";

const LENGTH_DELIMITED = 2;

export function prescanProtobuf(type: protobuf.Type, body: Uint8Array): void {
  const reader = protobuf.Reader.create(body);
  const counter = new RequestCounter();
  try {
    scan(type, reader, body.length, counter, 0);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // Anything else is malformed wire data: decode() refuses it with its own message.
  }
}

function scan(
  type: protobuf.Type,
  reader: protobuf.Reader,
  end: number,
  counter: RequestCounter,
  depth: number,
): void {
  counter.message();
  if (ITEM_TYPES.has(type.name)) counter.item();
  if (depth > PROTOBUF_RECURSION_LIMIT) throw new RangeError("nested too deep"); // decode() refuses it too
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const field = type.fieldsById[tag >>> 3];
    if (wireType === LENGTH_DELIMITED && field?.resolvedType instanceof protobuf.Type) {
      const length = reader.uint32();
      const stop = reader.pos + length;
      if (stop > end) throw new RangeError("a length past the end");
      scan(field.resolvedType, reader, stop, counter, depth + 1);
      reader.pos = stop;
    } else reader.skipType(wireType);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/**
 * An OTLP/JSON body's objects and arrays (outside strings) and values (its commas) counted before
 * JSON.parse, which would otherwise build all of them first: the schema walk's count comes too late to
 * bound the heap. Containers share the protobuf message cap (the same request in either encoding has
 * about as many); invalid JSON is left for JSON.parse to report.
 */
export function prescanJson(body: Uint8Array): void {
  let containers = 0;
  let commas = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === COMMA) commas++;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) containers++;
  }
  if (containers > MAX_MESSAGES_PER_REQUEST)
    throw new OtlpTooLargeError(`over ${MAX_MESSAGES_PER_REQUEST} JSON objects and arrays`);
  if (commas >= MAX_JSON_VALUES_PER_REQUEST)
    throw new OtlpTooLargeError(`over ${MAX_JSON_VALUES_PER_REQUEST} JSON values`);
}
