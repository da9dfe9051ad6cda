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

import { asBuffer } from "../../tiers/hot/tier.js";
import { decodeRecordValue, type HotRecord } from "../../tiers/hot/values.js";
import { CorruptStoreError, CorruptWalError } from "../base/errors.js";
import { decode, encode } from "../base/msgpack.js";
import type { StagedBodies } from "../bodies/store.js";

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

/** Where a WAL frame starts, for the error when its payload does not decode. */
export interface FramePosition {
  segment: string;
  offset: number;
}

/**
 * A WAL frame's payload back as a batch. The frame's checksum held, so a payload that does not decode
 * was written wrong (a bug) or damaged before it was checksummed: `ERR_CORRUPT_WAL` with the segment
 * and offset when known (`ERR_CORRUPT_STORE` without), the decoder's error as the cause.
 */
export function decodeBatch(payload: Uint8Array, at?: FramePosition): Batch {
  try {
    return decodeLayout(payload);
  } catch (err) {
    const problem = `its batch does not decode: ${(err as Error).message}`;
    if (at === undefined)
      throw new CorruptStoreError(`a WAL frame's batch does not decode: ${(err as Error).message}`, {
        cause: err,
      });
    throw new CorruptWalError(at.segment, at.offset, problem, { cause: err });
  }
}

function decodeLayout(payload: Uint8Array): Batch {
  const v = decode(payload) as Encoded;
  if (!Array.isArray(v) || v[0] !== BATCH_VERSION || v.length !== 6) {
    throw new Error("unknown batch layout");
  }
  if (
    !Number.isSafeInteger(v[1]) ||
    !Number.isSafeInteger(v[2]) ||
    !Array.isArray(v[3]) ||
    !Array.isArray(v[4]) ||
    !Array.isArray(v[5])
  ) {
    throw new Error("unknown batch layout");
  }
  return {
    firstSeq: v[1],
    lastSeq: v[2],
    records: v[3].map((value) => ({ record: decodeRecordValue(value), value })),
    bodies: {
      bodies: v[4].map(([hash, manifest, originalBytes]) => {
        if (!Number.isSafeInteger(originalBytes)) throw new Error("a body's size is not an integer");
        return { hash: binary(hash), manifest: binary(manifest), originalBytes };
      }),
      chunks: v[5].map(([hash, stored]) => ({ hash: binary(hash), stored: binary(stored) })),
    },
  };
}

/** A decoded binary field as a Buffer view; anything else is a damaged frame. */
function binary(u: unknown): Buffer {
  if (!(u instanceof Uint8Array)) throw new Error("a hash or stored body is not binary");
  return asBuffer(u);
}
