/**
 * The chunk index's keys in the hot tier (docs/format.md, "Chunk index"):
 *
 *   q | doc (8) | body sha256[0..8)    -> empty   which bodies hold a doc (a chunk, or an inline body)
 *   x | u32 BE segment id | 0x00       -> segment header (segment.ts)
 *   x | u32 BE segment id | 0x01 | u32 BE block -> segment block
 *   m | "index"                        -> msgpack [1, stage, indexedSeq, nextSegment, segments]
 *
 * `stage`: 0 the map (`q` keys) is being built, 1 the postings are being built, 2 complete.
 *
 * `q` keys are written in the same batch as the body's manifest and deleted in the same batch as the
 * manifest (GC, eviction): a `q` key exists exactly while its body is stored.
 */
import { metaKey, P_DOC_BODY, P_SEGMENT, PREFIX_BYTES } from "../../../tiers/hot/keys.js";
import type { BatchOp } from "../../../tiers/hot/tier.js";
import { CorruptStoreError } from "../../base/errors.js";
import { decodeStored, encode } from "../../base/msgpack.js";
import { decodeManifest } from "../../bodies/manifest.js";

export const INDEX_STATE_VERSION = 1;
/** Stages of `m·index`: building the map (`q` keys), building the postings, complete. */
export const STAGE_MAPS = 0;
export const STAGE_POSTINGS = 1;
export const STAGE_COMPLETE = 2;
export const INDEX_KEY = metaKey("index");
const EMPTY = new Uint8Array(0);

export interface IndexState {
  /** STAGE_MAPS, STAGE_POSTINGS (an upgraded or repaired store's index being built), STAGE_COMPLETE. */
  stage: number;
  /** Every batch at or below this sequence number is in the listed segments. */
  indexedSeq: number;
  nextSegment: number;
  segments: number[];
}

export function encodeIndexState(s: IndexState): Uint8Array {
  return encode([INDEX_STATE_VERSION, s.stage, s.indexedSeq, s.nextSegment, s.segments]);
}

export function decodeIndexState(raw: Buffer): IndexState {
  const what = "the chunk index's state (m·index)";
  const v = decodeStored(raw, what);
  const ok =
    Array.isArray(v) &&
    v.length === 5 &&
    v[0] === INDEX_STATE_VERSION &&
    (v[1] === STAGE_MAPS || v[1] === STAGE_POSTINGS || v[1] === STAGE_COMPLETE) &&
    Number.isSafeInteger(v[2]) &&
    Number.isSafeInteger(v[3]) &&
    Array.isArray(v[4]) &&
    (v[4] as unknown[]).every((id) => Number.isSafeInteger(id) && (id as number) >= 0);
  if (!ok) throw new CorruptStoreError(`${what} has an unknown version or layout`);
  return { stage: v[1] as number, indexedSeq: v[2], nextSegment: v[3], segments: v[4] as number[] };
}

export function indexStateOp(s: IndexState): BatchOp {
  return { type: "put", key: INDEX_KEY, value: encodeIndexState(s) };
}

/** `q | doc | body` */
export function docBodyKey(doc: Uint8Array, body: Uint8Array): Buffer {
  const key = Buffer.allocUnsafe(1 + 2 * PREFIX_BYTES);
  key[0] = P_DOC_BODY;
  key.set(doc.subarray(0, PREFIX_BYTES), 1);
  key.set(body.subarray(0, PREFIX_BYTES), 1 + PREFIX_BYTES);
  return key;
}

/** `q | doc`: the head of a doc's keys. */
export function docPrefix(doc: Uint8Array): Buffer {
  const key = Buffer.allocUnsafe(1 + PREFIX_BYTES);
  key[0] = P_DOC_BODY;
  key.set(doc.subarray(0, PREFIX_BYTES), 1);
  return key;
}

/** The docs of a body: its distinct chunks, or itself when inline (manifest.ts). */
export function docsOfBody(hash: Uint8Array, manifest: Buffer): Uint8Array[] {
  const m = decodeManifest(manifest);
  if (m.layout === "inline") return [hash];
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const c of m.chunks) {
    const k = c.toString("latin1", 0, PREFIX_BYTES);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(c);
  }
  return out;
}

/** The puts (or deletes) of a body's `q` keys. */
export function bodyDocOps(hash: Uint8Array, manifest: Buffer, type: "put" | "del"): BatchOp[] {
  return docsOfBody(hash, manifest).map((doc) =>
    type === "put"
      ? { type, key: docBodyKey(doc, hash), value: EMPTY }
      : { type, key: docBodyKey(doc, hash) },
  );
}

export function segmentHeaderKey(id: number): Buffer {
  const key = Buffer.allocUnsafe(6);
  key[0] = P_SEGMENT;
  key.writeUInt32BE(id, 1);
  key[5] = 0;
  return key;
}

export function segmentBlockKey(id: number, block: number): Buffer {
  const key = Buffer.allocUnsafe(10);
  key[0] = P_SEGMENT;
  key.writeUInt32BE(id, 1);
  key[5] = 1;
  key.writeUInt32BE(block, 6);
  return key;
}

/** `x | id`: every key of one segment. */
export function segmentPrefix(id: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key[0] = P_SEGMENT;
  key.writeUInt32BE(id, 1);
  return key;
}

/** The segment id of an `x` key. */
export function segmentIdOf(key: Buffer): number {
  return key.readUInt32BE(1);
}
