/**
 * A batch is the unit of the write path: what one `insertRecords` call adds, after dedup. It is
 * encoded once into a WAL frame payload and, once that frame is durable, applied to the hot tier as
 * one atomic LevelDB batch; replay at open decodes the same payload and applies it the same way.
 *
 *   payload = msgpack [ version = 1, firstSeq, lastSeq,
 *                       [ record value, … ],                      (tiers/hot/values.ts)
 *                       [ [ body sha256, manifest, UTF-8 bytes ], … ],  (new bodies only)
 *                       [ [ chunk sha256, stored chunk ], … ] ]   (new chunks only)
 */

import { decodeRecordValue, type HotRecord } from "../tiers/hot/values.js";
import type { StagedBodies } from "./bodies/store.js";
import { CorruptStoreError } from "./errors.js";
import { decode, encode } from "./msgpack.js";

export const BATCH_VERSION = 1;

export interface Batch {
  firstSeq: number;
  lastSeq: number;
  records: { record: HotRecord; value: Uint8Array }[];
  bodies: StagedBodies;
}

export function encodeBatch(b: Batch): Uint8Array {
  return encode([
    BATCH_VERSION,
    b.firstSeq,
    b.lastSeq,
    b.records.map((r) => r.value),
    b.bodies.bodies.map((x) => [x.hash, x.manifest, x.originalBytes]),
    b.bodies.chunks.map((x) => [x.hash, x.stored]),
  ]);
}

type Encoded = [
  number,
  number,
  number,
  Uint8Array[],
  [Uint8Array, Uint8Array, number][],
  [Uint8Array, Uint8Array][],
];

export function decodeBatch(payload: Uint8Array): Batch {
  const v = decode(payload) as Encoded;
  if (!Array.isArray(v) || v[0] !== BATCH_VERSION || v.length !== 6) {
    throw new CorruptStoreError("a WAL frame holds a batch of unknown layout");
  }
  return {
    firstSeq: v[1],
    lastSeq: v[2],
    records: v[3].map((value) => ({ record: decodeRecordValue(value), value })),
    bodies: {
      bodies: v[4].map(([hash, manifest, originalBytes]) => ({
        hash: asBuffer(hash),
        manifest: asBuffer(manifest),
        originalBytes,
      })),
      chunks: v[5].map(([hash, stored]) => ({ hash: asBuffer(hash), stored: asBuffer(stored) })),
    },
  };
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
