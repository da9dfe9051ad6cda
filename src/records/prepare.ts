/**
 * The per-record CPU work of an insert, done before the write path's lock so that it overlaps the
 * previous batch's I/O: the id, the record as stored (no body, no undefined-valued keys), and the
 * body's UTF-8 bytes and SHA-256, each computed once.
 */
import type { BodyInput } from "../bodies/store.js";
import { sha256 } from "../bodies/store.js";
import type { TraceRecord } from "../types.js";
import { stableId } from "./stable-id.js";

export interface Prepared {
  id: string;
  record: Omit<TraceRecord, "body">;
  body: BodyInput | undefined;
}

export function prepareRecord(r: TraceRecord): Prepared {
  const id = stableId(r);
  const record: Record<string, unknown> = {};
  for (const key of Object.keys(r)) {
    const v = (r as unknown as Record<string, unknown>)[key];
    // undefined has no stored form (msgpack would turn it into null); an absent key is what it means
    if (key !== "body" && v !== undefined) record[key] = v;
  }
  let body: BodyInput | undefined;
  if (r.body !== undefined) {
    const utf8 = Buffer.from(r.body, "utf8");
    body = { utf8, hash: sha256(utf8) };
  }
  return { id, record: record as unknown as Omit<TraceRecord, "body">, body };
}
