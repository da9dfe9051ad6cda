/**
 * Key layout of the hot tier (one LevelDB, binary keys; every keyspace starts with one ASCII byte).
 *
 *   r | u32 len | turnId utf8 | ts | seq      -> record value      (primary: a turn is one range)
 *   t | ts | seq                              -> primary key       (time order: range queries, compaction)
 *   i | id (8 bytes)                          -> primary key       (dedup, getBody)
 *   c | u32 len | conversationId utf8 | ts | seq -> primary key    (conversation queries)
 *   b | sha256 (32 bytes)                     -> body manifest     (src/bodies)
 *   k | sha256 (32 bytes)                     -> stored chunk      (src/bodies)
 *   e | sha256 (32 bytes)                     -> eviction marker   (src/bodies, retention)
 *   d | u32 id                                -> chunk dictionary  (src/bodies/dictionary.ts, layout 3)
 *   f | u32 len | turnId utf8 | file name     -> empty             (turn → cold files, tiers/cold)
 *   q | doc (8 bytes) | body sha256[0..8)     -> empty             (chunk index doc → bodies, layout 4)
 *   x | u32 segment id | part                 -> chunk index segment (src/search/chunks/segment.ts)
 *   m | name                                  -> metadata          (applied seq, counters, index)
 *
 * `ts` is the timestamp as a u64 big-endian with the sign bit flipped and `seq` a u64 big-endian, so
 * byte order is (timestamp, seq) order, negative timestamps included. Length prefixes (not separators)
 * keep a turn's range exact whatever bytes its id holds.
 */

export const P_RECORD = 0x72; // r
export const P_TIME = 0x74; // t
export const P_ID = 0x69; // i
export const P_CONV = 0x63; // c
export const P_BODY = 0x62; // b
export const P_CHUNK = 0x6b; // k
export const P_EVICTED = 0x65; // e
export const P_META = 0x6d; // m
export const P_TURN_FILE = 0x66; // f
export const P_DICT = 0x64; // d
export const P_DOC_BODY = 0x71; // q
export const P_SEGMENT = 0x78; // x

/** Bytes of a SHA-256 that name a body or a chunk in the search keys (`q`, segments). */
export const PREFIX_BYTES = 8;

const TWO32 = 0x1_0000_0000;

export function writeTs(buf: Buffer, at: number, ts: number): void {
  const hi = Math.floor(ts / TWO32);
  buf.writeUInt32BE((hi ^ 0x8000_0000) >>> 0, at);
  buf.writeUInt32BE(ts - hi * TWO32, at + 4);
}

function readTs(buf: Buffer, at: number): number {
  const hi = (buf.readUInt32BE(at) ^ 0x8000_0000) | 0;
  return hi * TWO32 + buf.readUInt32BE(at + 4);
}

function readSeq(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * TWO32 + buf.readUInt32BE(at + 4);
}

export function writeSeq(buf: Buffer, at: number, seq: number): void {
  buf.writeUInt32BE(Math.floor(seq / TWO32), at);
  buf.writeUInt32BE(seq % TWO32, at + 4);
}

/** `prefix | u32 len | name` : the common head of a turn's or a conversation's keys. */
export function groupPrefix(prefix: number, name: string): Buffer {
  const len = Buffer.byteLength(name, "utf8");
  const buf = Buffer.allocUnsafe(5 + len);
  buf[0] = prefix;
  buf.writeUInt32BE(len, 1);
  buf.write(name, 5, "utf8");
  return buf;
}

/** `head | ts | seq` */
export function withTsSeq(head: Buffer, ts: number, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(head.length + 16);
  head.copy(buf, 0);
  writeTs(buf, head.length, ts);
  writeSeq(buf, head.length + 8, seq);
  return buf;
}

export function recordKey(turnId: string | undefined, ts: number, seq: number): Buffer {
  return withTsSeq(groupPrefix(P_RECORD, turnId ?? ""), ts, seq);
}

export function timeKey(ts: number, seq: number): Buffer {
  return withTsSeq(Buffer.of(P_TIME), ts, seq);
}

export function convKey(conversationId: string, ts: number, seq: number): Buffer {
  return withTsSeq(groupPrefix(P_CONV, conversationId), ts, seq);
}

export function idKey(id: string): Buffer {
  const buf = Buffer.allocUnsafe(9);
  buf[0] = P_ID;
  buf.write(id, 1, "hex");
  return buf;
}

export function hashKey(prefix: typeof P_BODY | typeof P_CHUNK | typeof P_EVICTED, hash: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(1 + hash.length);
  buf[0] = prefix;
  buf.set(hash, 1);
  return buf;
}

export function dictKey(id: number): Buffer {
  const buf = Buffer.allocUnsafe(5);
  buf[0] = P_DICT;
  buf.writeUInt32BE(id, 1);
  return buf;
}

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(P_META), Buffer.from(name, "utf8")]);
}

/** The first key after every key that starts with `prefix` (an exclusive upper bound for a range). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.of(0xff, 0xff, 0xff, 0xff); // unreachable for our prefixes, which never are all 0xff
}

/** Timestamp bounds `[from, to)` as key bounds under `head` (seq 0 sorts first at a timestamp). */
export function tsRange(
  head: Buffer,
  from: number | undefined,
  to: number | undefined,
): { gte: Buffer; lt: Buffer } {
  return {
    gte: from === undefined ? head : withTsSeq(head, from, 0),
    lt: to === undefined ? prefixEnd(head) : withTsSeq(head, to, 0),
  };
}

/** The parts of a record key (`r` keyspace). */
export function parseRecordKey(key: Buffer): { turnId: string; ts: number; seq: number } {
  const len = key.readUInt32BE(1);
  return { turnId: key.toString("utf8", 5, 5 + len), ts: readTs(key, 5 + len), seq: readSeq(key, 13 + len) };
}

/** The timestamp of a record key, without decoding its turn id. */
export function recordKeyTs(key: Buffer): number {
  return readTs(key, 5 + key.readUInt32BE(1));
}

/** The sequence number a primary key ends with. */
export function recordKeySeq(key: Buffer): number {
  return readSeq(key, key.length - 8);
}

/** The file name a turn → file key ends with. */
export function turnFileKeyFile(key: Buffer): string {
  return key.toString("utf8", 5 + key.readUInt32BE(1));
}

export function turnFileKey(turnId: string, fileName: string): Buffer {
  return Buffer.concat([groupPrefix(P_TURN_FILE, turnId), Buffer.from(fileName, "utf8")]);
}
