/**
 * The value stored under a record key: msgpack of `[version, id, seq, record without body, bodyHash]`.
 * The same bytes travel in the WAL frame, so a record is encoded once on its way in.
 */

import { CorruptStoreError } from "../../src/errors.js";
import { decode, encode } from "../../src/msgpack.js";
import type { TraceRecord } from "../../src/types.js";
import { convKey, idKey, recordKey, timeKey } from "./keys.js";
import type { BatchOp } from "./tier.js";

export const RECORD_VALUE_VERSION = 1;

/** A record as the hot tier holds it: the body is replaced by its hash. */
export interface HotRecord {
  id: string;
  seq: number;
  record: Omit<TraceRecord, "body">;
  bodyHash: Uint8Array | null;
}

export function encodeRecordValue(r: HotRecord): Uint8Array {
  return encode([RECORD_VALUE_VERSION, r.id, r.seq, r.record, r.bodyHash]);
}

export function decodeRecordValue(value: Uint8Array): HotRecord {
  const v = decode(value);
  if (!Array.isArray(v) || v[0] !== RECORD_VALUE_VERSION || v.length !== 5) {
    throw new CorruptStoreError("a hot record value has an unknown layout");
  }
  return {
    id: v[1] as string,
    seq: v[2] as number,
    record: v[3] as TraceRecord,
    bodyHash: v[4] as Uint8Array | null,
  };
}

/**
 * The body hash of an encoded record value, without decoding the record (body GC reads every record):
 * the value ends with the hash as a msgpack bin8 of 32 bytes (`c4 20` + hash) or with nil (`c0`). Only
 * a value that could be either (a hash whose last byte is `c0`, or a nil after bytes that look like a
 * bin8 header) is decoded in full.
 */
export function bodyHashOf(value: Uint8Array): Uint8Array | null {
  const n = value.length;
  const hashTail = n >= 35 && value[n - 34] === 0xc4 && value[n - 33] === 32;
  if (value[n - 1] !== 0xc0) {
    if (!hashTail) throw new CorruptStoreError("a hot record value has an unknown layout");
    return value.subarray(n - 32);
  }
  return hashTail ? decodeRecordValue(value).bodyHash : null;
}

/** The puts that store a record and its index entries (see keys.ts); `value` is its encoded form. */
export function recordPuts(r: HotRecord, value: Uint8Array): BatchOp[] {
  const { turnId, conversationId, timestamp } = r.record;
  const pk = recordKey(turnId, timestamp, r.seq);
  const ops: BatchOp[] = [
    { type: "put", key: pk, value },
    { type: "put", key: timeKey(timestamp, r.seq), value: pk },
    { type: "put", key: idKey(r.id), value: pk },
  ];
  if (conversationId !== undefined)
    ops.push({ type: "put", key: convKey(conversationId, timestamp, r.seq), value: pk });
  return ops;
}
