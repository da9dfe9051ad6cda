/**
 * The fields a record's index keys are made of, read from its encoded value (values.ts:
 * msgpack `[version, id, seq, record, bodyHash]`) without decoding the record. Deleting a hot record
 * needs its id (for the `i` entry) and its conversation id (for the `c` entry); a full decode builds
 * every attribute and string of the record, which cost most of a prune's time (tens of µs a record).
 * The record map is walked by msgpack headers only: each item's length is in its header.
 */
import { isUtf8 } from "node:buffer";
import { RECORD_VALUE_VERSION } from "./values.js";

export interface IndexFields {
  id: string;
  /** The conversation id's UTF-8 bytes (a view into the value), or undefined when the record has none. */
  conversation: Buffer | undefined;
}

const FIXARRAY_5 = 0x95;
const CONVERSATION_ID = Buffer.from("conversationId", "utf8");

/**
 * `undefined` when the value is not laid out as the encoder writes it (or holds a string that is not
 * well-formed UTF-8, which the encoder never writes for a validated record): the caller then decodes it
 * in full, which either reads it or reports the damage.
 */
export function indexFields(value: Buffer): IndexFields | undefined {
  try {
    if (value[0] !== FIXARRAY_5 || value[1] !== RECORD_VALUE_VERSION) return undefined;
    const id = str(value, 2);
    if (id === undefined) return undefined;
    let at = skip(value, id.end); // seq
    const map = mapHeader(value, at);
    if (map === undefined) return undefined;
    at = map.end;
    let conversation: Buffer | undefined;
    for (let i = 0; i < map.size; i++) {
      const key = str(value, at);
      if (key === undefined) return undefined;
      if (isConversationId(value, key.start, key.end)) {
        const v = str(value, key.end);
        if (v === undefined) return undefined;
        conversation = value.subarray(v.start, v.end);
        at = v.end;
      } else at = skip(value, key.end);
    }
    if (skip(value, at) !== value.length) return undefined; // the body hash, and nothing after it
    if (conversation !== undefined && !isUtf8(conversation)) return undefined;
    const idBytes = value.subarray(id.start, id.end);
    if (!isUtf8(idBytes)) return undefined;
    return { id: idBytes.toString("utf8"), conversation };
  } catch {
    return undefined; // read past the end (RangeError): not a value the encoder wrote
  }
}

function isConversationId(b: Buffer, start: number, end: number): boolean {
  return (
    end - start === CONVERSATION_ID.length &&
    b.compare(CONVERSATION_ID, 0, CONVERSATION_ID.length, start, end) === 0
  );
}

/** Where a string item's bytes start and end. */
interface Span {
  start: number;
  end: number;
}

/** A string item at `at`, or undefined when the item is not a string. */
function str(b: Buffer, at: number): Span | undefined {
  const h = b[at]!;
  let start: number;
  if (h >= 0xa0 && h <= 0xbf) start = at + 1;
  else if (h === 0xd9) start = at + 2;
  else if (h === 0xda) start = at + 3;
  else if (h === 0xdb) start = at + 5;
  else return undefined;
  const end = skipOne(b, at);
  if (end > b.length) throw new RangeError("string past the end of the value");
  return { start, end };
}

function mapHeader(b: Buffer, at: number): { size: number; end: number } | undefined {
  const h = b[at]!;
  if (h >= 0x80 && h <= 0x8f) return { size: h & 0x0f, end: at + 1 };
  if (h === 0xde) return { size: b.readUInt16BE(at + 1), end: at + 3 };
  if (h === 0xdf) return { size: b.readUInt32BE(at + 1), end: at + 5 };
  return undefined;
}

/** The offset after the item at `at` (nested arrays and maps included), by headers alone. */
function skip(b: Buffer, at: number): number {
  let pending = 1;
  while (pending > 0) {
    pending += childrenOf(b, at) - 1;
    at = skipOne(b, at);
  }
  return at;
}

/** How many items follow an array's or a map's header at `at` (0 for any other item). */
function childrenOf(b: Buffer, at: number): number {
  const h = b[at];
  if (h === undefined) throw new RangeError("item past the end of the value");
  if (h >= 0x80 && h <= 0x8f) return 2 * (h & 0x0f);
  if (h >= 0x90 && h <= 0x9f) return h & 0x0f;
  if (h === 0xdc) return b.readUInt16BE(at + 1);
  if (h === 0xdd) return b.readUInt32BE(at + 1);
  if (h === 0xde) return 2 * b.readUInt16BE(at + 1);
  if (h === 0xdf) return 2 * b.readUInt32BE(at + 1);
  return 0;
}

/** The offset after the header at `at` and, unless it opens an array or a map, its payload. */
function skipOne(b: Buffer, at: number): number {
  const h = b[at]!;
  if (h <= 0x9f || h >= 0xe0) return at + 1; // fixint, fixmap, fixarray, negative fixint
  if (h <= 0xbf) return at + 1 + (h & 0x1f); // fixstr
  switch (h) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return at + 1;
    case 0xc4:
    case 0xd9:
      return at + 2 + b.readUInt8(at + 1);
    case 0xc5:
    case 0xda:
      return at + 3 + b.readUInt16BE(at + 1);
    case 0xc6:
    case 0xdb:
      return at + 5 + b.readUInt32BE(at + 1);
    case 0xc7:
      return at + 3 + b.readUInt8(at + 1);
    case 0xc8:
      return at + 4 + b.readUInt16BE(at + 1);
    case 0xc9:
      return at + 6 + b.readUInt32BE(at + 1);
    case 0xcc:
    case 0xd0:
      return at + 2;
    case 0xcd:
    case 0xd1:
    case 0xdc:
    case 0xde:
      return at + 3;
    case 0xca:
    case 0xce:
    case 0xd2:
    case 0xdd:
    case 0xdf:
      return at + 5;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return at + 9;
    case 0xd4:
      return at + 3;
    case 0xd5:
      return at + 4;
    case 0xd6:
      return at + 6;
    case 0xd7:
      return at + 10;
    case 0xd8:
      return at + 18;
    default:
      throw new RangeError(`no msgpack item starts with 0x${h.toString(16)}`); // 0xc1
  }
}
