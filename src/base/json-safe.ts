/**
 * A `JSON.stringify` replacer for values read from Parquet, whose INT64 columns arrive as bigint:
 * numbers when exact, else decimal strings (JSON.stringify throws on a bigint).
 */
export function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v !== "bigint") return v;
  return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
}
