/**
 * A cold file's part of the turns list (turn-parts.ts), from only the columns summaries need:
 * no ids, messages, links or body hashes. The file is read whole and checked against its manifest
 * entry first (readParquetColumns), so a damaged file fails the read with ERR_CORRUPT_STORE naming it.
 * A listed file never changes, so its part holds for as long as the manifest lists it.
 */
import type { ColdFile } from "../../tiers/cold/manifest.js";
import { decoding, readParquetColumns } from "../../tiers/cold/parquet.js";
import { COLUMNS, type ColumnName, fromRow } from "../../tiers/cold/schema.js";
import type { ColdTier } from "../../tiers/cold/tier.js";
import { CorruptStoreError } from "../base/errors.js";
import { PartBuilder, type SourcePart } from "./turn-parts.js";

/** The columns a summary does not read (everything else of the schema, it does). */
const SKIPPED = new Set<ColumnName>(["id", "msg", "links", "bodyHash"]);
const SUMMARY_COLUMNS = COLUMNS.map(([name]) => name).filter((name) => !SKIPPED.has(name));

export async function coldFilePart(cold: ColdTier, f: ColdFile): Promise<SourcePart> {
  const path = cold.path(f.name);
  const rows = await readParquetColumns(path, SUMMARY_COLUMNS, f);
  if (rows === undefined)
    throw new CorruptStoreError(`cold file ${path} is listed in the manifest but missing`);
  const builder = new PartBuilder();
  // rows are sorted by (turnId, timestamp, seq): each turn is one run (schema.ts)
  await decoding(path, () => {
    for (const row of rows) builder.add(typeof row.turnId === "string" ? row.turnId : "", fromRow(row));
  });
  return builder.finish();
}
