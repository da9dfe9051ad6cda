/**
 * Prepared records (src/records/prepare.ts) across a thread boundary: `tracetier ingest`'s reader
 * thread validates and prepares the records it parses, so that the main thread, which runs the store,
 * spends nothing on ids, record encoding, UTF-8 or SHA-256 of bodies, and never receives the bodies as
 * strings. The bytes of a message's records (encoded record, body, body hash) are packed into one
 * ArrayBuffer that is transferred, not copied; the rest (ids, records without their bodies) is cloned.
 * These records skip the store's validation, so their layout is checked before anything is stored.
 */
import { TracetierError } from "../../base/errors.js";
import type { Prepared } from "../../records/prepare.js";

export interface PackedRecords {
  ids: string[];
  records: Prepared["record"][];
  /** Per record: the encoded record's length, then the body's (-1 for none); hashes are 32 bytes. */
  lengths: number[];
  bytes: ArrayBuffer;
}

const HASH_BYTES = 32;

export function packPrepared(prepared: readonly Prepared[]): PackedRecords {
  let total = 0;
  for (const p of prepared) total += p.encoded.length + (p.body ? p.body.utf8.length + HASH_BYTES : 0);
  // Unpooled and not zero-filled: every byte is written below, and the whole buffer is transferred.
  const view = Buffer.allocUnsafeSlow(total);
  const bytes = view.buffer as ArrayBuffer;
  const lengths: number[] = [];
  let at = 0;
  for (const p of prepared) {
    view.set(p.encoded, at);
    at += p.encoded.length;
    lengths.push(p.encoded.length, p.body ? p.body.utf8.length : -1);
    if (p.body) {
      view.set(p.body.utf8, at);
      view.set(p.body.hash, at + p.body.utf8.length);
      at += p.body.utf8.length + HASH_BYTES;
    }
  }
  return {
    ids: prepared.map((p) => p.id),
    records: prepared.map((p) => p.record),
    lengths,
    bytes,
  };
}

/**
 * The prepared records back, their bytes as views of the transferred buffer. A message whose lengths
 * do not account for its buffer exactly is refused (ERR_IO: the reader thread sent it), never stored.
 */
export function unpackPrepared(m: PackedRecords): Prepared[] {
  const buf = Buffer.from(m.bytes);
  const n = m.ids.length;
  if (m.records.length !== n || m.lengths.length !== 2 * n) malformed("its lists disagree in length");
  const out: Prepared[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const encodedLength = m.lengths[2 * i]!;
    const bodyLength = m.lengths[2 * i + 1]!;
    if (
      !Number.isInteger(encodedLength) ||
      encodedLength < 0 ||
      !Number.isInteger(bodyLength) ||
      bodyLength < -1
    )
      malformed(`record ${i} has lengths ${encodedLength} and ${bodyLength}`);
    if (at + encodedLength + (bodyLength >= 0 ? bodyLength + HASH_BYTES : 0) > buf.length)
      malformed(`record ${i} runs past the end of its ${buf.length} bytes`);
    const encoded = buf.subarray(at, at + encodedLength);
    at += encodedLength;
    let body: Prepared["body"];
    if (bodyLength >= 0) {
      body = {
        utf8: buf.subarray(at, at + bodyLength),
        hash: buf.subarray(at + bodyLength, at + bodyLength + HASH_BYTES),
      };
      at += bodyLength + HASH_BYTES;
    }
    out.push({ id: m.ids[i]!, record: m.records[i]!, encoded, body });
  }
  if (at !== buf.length) malformed(`${buf.length - at} bytes are left over`);
  return out;
}

function malformed(what: string): never {
  throw new TracetierError("ERR_IO", `a batch from tracetier ingest's reader thread is malformed: ${what}`);
}
