/**
 * The seed trace-store's `stableId`, ported as written (BigInt FNV-1a 64 over the canonical JSON string).
 * It is the reference the fast implementation is proven equal to; nothing outside test/ and bench/ uses it.
 */
export function toCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map(toCanonicalJson).join(",")}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  const entries = keys.map((k) => `${JSON.stringify(k)}:${toCanonicalJson(obj[k])}`);
  return `{${entries.join(",")}}`;
}

export function seedStableId(record: unknown): string {
  const json = toCanonicalJson(record);
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (let i = 0; i < json.length; i++) {
    hash ^= BigInt(json.charCodeAt(i));
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}
