/**
 * The value stored under a record key: msgpack of `[version, id, seq, record without body, bodyHash]`.
 * The same bytes travel in the WAL frame, so a record is encoded once on its way in.
 */

import { CorruptStoreError } from "../../src/base/errors.js";
import { decodeStored, encode } from "../../src/base/msgpack.js";
import type { TraceRecord } from "../../src/types.js";
import type { TierRecord } from "../record.js";
import { convKey, idKey, P_CONV, P_TIME, recordKey, timeKey } from "./keys.js";
import type { BatchOp } from "./tier.js";

export const RECORD_VALUE_VERSION = 1;

/** A record as the hot tier holds it: the shared shape of both tiers (the body replaced by its hash). */
export type HotRecord = TierRecord;

export function encodeRecordValue(r: HotRecord): Uint8Array {
  return recordValue(r.id, r.seq, encodeRecord(r.record), r.bodyHash);
}

/**
 * The record part of a value. The write path encodes it when it prepares a call's records, before
 * their sequence numbers exist, so that a record the encoder refuses fails its own call and never a
 * staged group (and the encoding overlaps the previous batch's I/O).
 */
export function encodeRecord(record: HotRecord["record"]): Uint8Array {
  return encode(record);
}

/**
 * A value from its parts, `record` as `encodeRecord` gave it: msgpack items are self-delimiting, so
 * an array's encoding is its header followed by its items' encodings. The bytes are those of
 * `encode([version, id, seq, record, bodyHash])` (a test holds it to that).
 */
export function recordValue(
  id: string,
  seq: number,
  record: Uint8Array,
  bodyHash: Uint8Array | null,
): Uint8Array {
  const head = encode([RECORD_VALUE_VERSION, id, seq]);
  const tail = bodyHash === null ? NIL : bodyHash.length < 256 ? bin8(bodyHash) : encode(bodyHash);
  const out = new Uint8Array(head.length + record.length + tail.length);
  out.set(head);
  out[0] = FIXARRAY_5; // head was a fixarray of 3; the record and hash follow as items 4 and 5
  out.set(record, head.length);
  out.set(tail, head.length + record.length);
  return out;
}

const FIXARRAY_5 = 0x95;
const NIL = Uint8Array.of(0xc0);

/** msgpack bin 8 (what the encoder writes for fewer than 256 bytes), without a pass through it. */
function bin8(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + bytes.length);
  out[0] = 0xc4;
  out[1] = bytes.length;
  out.set(bytes, 2);
  return out;
}

/**
 * A stored value back as a record. Anything that does not decode to a record value is damage (or a
 * bug): `ERR_CORRUPT_STORE`, naming the LevelDB key when the caller knows it, the library's error as
 * the cause.
 */
export function decodeRecordValue(value: Uint8Array, key?: Uint8Array): HotRecord {
  const v = decodeStored(value, where(key));
  if (!isRecordValue(v)) throw new CorruptStoreError(`${where(key)} has an unknown layout`);
  return {
    id: v[1] as string,
    seq: v[2] as number,
    record: v[3] as TraceRecord,
    bodyHash: v[4] as Uint8Array | null,
  };
}

function isRecordValue(v: unknown): v is [number, string, number, TraceRecord, Uint8Array | null] {
  return (
    Array.isArray(v) &&
    v.length === 5 &&
    v[0] === RECORD_VALUE_VERSION &&
    typeof v[1] === "string" &&
    Number.isSafeInteger(v[2]) &&
    typeof v[3] === "object" &&
    v[3] !== null &&
    !Array.isArray(v[3]) &&
    (v[4] === null || v[4] instanceof Uint8Array)
  );
}

function where(key: Uint8Array | undefined): string {
  return key === undefined
    ? "a hot record value"
    : `the hot record value under key ${Buffer.from(key).toString("hex")}`;
}

/**
 * The body hash of an encoded record value, without decoding the record (body GC reads every record):
 * the value ends with the hash as a msgpack bin8 of 32 bytes (`c4 20` + hash) or with nil (`c0`). Only
 * a value that could be either (a hash whose last byte is `c0`, or a nil after bytes that look like a
 * bin8 header) is decoded in full.
 */
export function bodyHashOf(value: Uint8Array, key?: Uint8Array): Uint8Array | null {
  const n = value.length;
  const hashTail = n >= 35 && value[n - 34] === 0xc4 && value[n - 33] === 32;
  if (value[n - 1] !== 0xc0) {
    if (!hashTail) throw new CorruptStoreError(`${where(key)} has an unknown layout`);
    return value.subarray(n - 32);
  }
  return hashTail ? decodeRecordValue(value, key).bodyHash : null;
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

/**
 * The deletes that remove a record and every index entry of it: what a move to the cold tier does
 * (from the record) and a prune by age (from its key and value: tier.ts `bodyRefs`).
 */
export function recordDeletes(r: HotRecord): BatchOp[] {
  const pk = recordKey(r.record.turnId, r.record.timestamp, r.seq);
  const c = r.record.conversationId;
  return deletesByKey(pk, r.id, c === undefined ? undefined : Buffer.from(c, "utf8"));
}

/**
 * The same deletes from the record's primary key `pk`, its id and its conversation id's UTF-8 bytes,
 * appended to `into`: the index keys share `pk`'s timestamp and seq, copied from it.
 */
export function deletesByKey(
  pk: Buffer,
  id: string,
  conversation: Buffer | undefined,
  into: BatchOp[] = [],
): BatchOp[] {
  into.push(
    { type: "del", key: pk },
    { type: "del", key: sameTsSeq(P_TIME, undefined, pk) },
    { type: "del", key: idKey(id) },
  );
  if (conversation !== undefined) into.push({ type: "del", key: sameTsSeq(P_CONV, conversation, pk) });
  return into;
}

/**
 * An index key of the record whose primary key is `pk`: `prefix | ts | seq` (the time index), or
 * `prefix | u32 len | name | ts | seq` (a group's index), the timestamp and seq copied from `pk`.
 */
function sameTsSeq(prefix: number, name: Buffer | undefined, pk: Buffer): Buffer {
  const head = name === undefined ? 1 : 5 + name.length;
  const key = Buffer.allocUnsafe(head + 16);
  key[0] = prefix;
  if (name !== undefined) {
    key.writeUInt32BE(name.length, 1);
    key.set(name, 5);
  }
  // a byte loop: subarray() or copy() cost more than these 16 bytes (both build or check a view)
  for (let i = 0, from = pk.length - 16; i < 16; i++) key[head + i] = pk[from + i]!;
  return key;
}
