/**
 * The cold tier's columns and the mapping between a stored record (tiers/record.ts) and a Parquet row.
 *
 * Types are chosen for the tools users already have: text is UTF8 strings; `timestamp` and `seq` are
 * INT64 (ms since the epoch; `epoch_ms(timestamp)` gives a TIMESTAMP in DuckDB), so values round-trip
 * exactly; `durationMs` is DOUBLE (fractions are allowed); attributes and links are JSON text. A field a
 * record does not have is null. Rows are sorted by (turnId, timestamp, seq) inside a file.
 */
import { CorruptStoreError } from "../../src/base/errors.js";
import type { TierRecord } from "../record.js";

export const COLUMNS = [
  ["id", "STRING"],
  ["seq", "INT64"],
  ["kind", "STRING"],
  ["timestamp", "INT64"],
  ["extensionId", "STRING"],
  ["conversationId", "STRING"],
  ["turnId", "STRING"],
  ["spanId", "STRING"],
  ["parentSpanId", "STRING"],
  ["name", "STRING"],
  ["level", "STRING"],
  ["msg", "STRING"],
  ["durationMs", "DOUBLE"],
  ["status", "STRING"],
  ["attributes", "STRING"],
  ["links", "STRING"],
  ["bodyHash", "STRING"],
] as const;

export type ColumnName = (typeof COLUMNS)[number][0];
export type Row = Record<ColumnName, string | number | null>;

const PLAIN_FIELDS = [
  "kind",
  "extensionId",
  "conversationId",
  "turnId",
  "spanId",
  "parentSpanId",
  "name",
  "level",
  "msg",
  "durationMs",
  "status",
] as const;

export function toRow(r: TierRecord): Row {
  const rec = r.record as unknown as Record<string, unknown>;
  const row = { id: r.id, seq: r.seq, timestamp: rec.timestamp } as Row;
  for (const f of PLAIN_FIELDS) row[f] = (rec[f] as string | number | undefined) ?? null;
  row.attributes = rec.attributes === undefined ? null : JSON.stringify(rec.attributes);
  row.links = rec.links === undefined ? null : JSON.stringify(rec.links);
  row.bodyHash = r.bodyHash ? Buffer.from(r.bodyHash).toString("hex") : null;
  return row;
}

/** A row read back (INT64 columns arrive as bigint) as the tiers' record shape. */
export function fromRow(row: Record<string, unknown>): TierRecord {
  const record: Record<string, unknown> = { timestamp: Number(row.timestamp) };
  for (const f of PLAIN_FIELDS) if (row[f] !== null && row[f] !== undefined) record[f] = row[f];
  // JSON.parse defines keys as own properties, `__proto__` included: any key reads back as written
  if (typeof row.attributes === "string") record.attributes = parseJson(row.attributes, row.id, "attributes");
  if (typeof row.links === "string") record.links = parseJson(row.links, row.id, "links");
  const bodyHash = typeof row.bodyHash === "string" ? Buffer.from(row.bodyHash, "hex") : null;
  return {
    id: row.id as string,
    seq: Number(row.seq),
    record: record as unknown as TierRecord["record"],
    bodyHash,
  };
}

function parseJson(text: string, id: unknown, column: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CorruptStoreError(`the ${column} of cold record ${String(id)} are not JSON`, { cause: err });
  }
}

/** Sort order inside a file: (turnId, timestamp, seq); records without a turn first. */
export function compareRows(a: Row, b: Row): number {
  const ta = (a.turnId as string | null) ?? "";
  const tb = (b.turnId as string | null) ?? "";
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (a.timestamp as number) - (b.timestamp as number) || (a.seq as number) - (b.seq as number);
}
