/**
 * The per-record CPU work of an insert, done before the write path's lock so that it overlaps the
 * previous batch's I/O: the id, the record as stored (no body, no undefined-valued keys), and the
 * body's UTF-8 bytes and SHA-256, each computed once.
 */
import { encodeRecord } from "../../tiers/hot/values.js";
import { InvalidRecordError } from "../base/errors.js";
import type { BodyInput } from "../bodies/store.js";
import { sha256 } from "../bodies/store.js";
import type { TraceRecord } from "../types.js";
import { stableId } from "./stable-id.js";
import { validateRecords } from "./validate.js";

export interface Prepared {
  id: string;
  record: Omit<TraceRecord, "body">;
  /** `record` encoded (tiers/hot/values.ts `encodeRecord`): its bytes are fixed when the call is made. */
  encoded: Uint8Array;
  body: BodyInput | undefined;
}

/** `index` is the record's place in its call, for the error should the encoder refuse it. */
export function prepareRecord(r: TraceRecord, index = -1): Prepared {
  const id = stableId(r);
  // undefined has no stored form (msgpack would turn it into null); an absent key is what it means.
  // fromEntries defines properties (assignment onto {} would treat a `__proto__` key specially).
  const record = Object.fromEntries(
    Object.entries(r).filter(([key, v]) => key !== "body" && v !== undefined),
  ) as Omit<TraceRecord, "body">;
  let encoded: Uint8Array;
  try {
    encoded = encodeRecord(record);
  } catch (err) {
    // validation bounds what the encoder refuses (nesting depth), so this is a validation gap: still
    // this call's own error, raised before its records join a staged group
    throw new InvalidRecordError(index, "(record)", `cannot be encoded: ${(err as Error).message}`);
  }
  let body: BodyInput | undefined;
  if (r.body !== undefined) {
    const utf8 = Buffer.from(r.body, "utf8");
    body = { utf8, hash: sha256(utf8) };
  }
  return { id, record, encoded, body };
}

/**
 * One record from outside (an NDJSON line), validated and prepared as insertRecords would, or the
 * reason it is refused, worded for that line (without the "record 0" a one-record batch would name).
 * Both of `tracetier ingest`'s readers judge a line with it, so a line gets the same verdict on either.
 */
export function prepareOne(value: unknown): Prepared | { error: string } {
  try {
    const one = [value];
    validateRecords(one);
    return prepareRecord(one[0]!, 0);
  } catch (err) {
    if (!(err instanceof InvalidRecordError)) throw err;
    return { error: err.message.replace(/^record 0: /, "") };
  }
}
