/**
 * A cold file's checksum: CRC-32 (IEEE, `zlib.crc32`) of the whole file, written `crc32:<8 hex>` in the
 * manifest. It guards against accidental damage (a bad sector, a stray write, a truncated copy), not an
 * adversary who can also edit the manifest; CRC-32 detects every burst error up to 32 bits and misses
 * random damage with probability 2^-32, at several times the speed of SHA-256 (docs/decisions.md).
 */
import { crc32 } from "node:zlib";
import { fsys } from "../../src/base/fs.js";

export const CHECKSUM_PATTERN = /^crc32:[0-9a-f]{8}$/;

/** The checksum of bytes in memory. */
export function checksumOf(bytes: Uint8Array): string {
  return format(crc32(bytes));
}

/**
 * A file's size and checksum, read through the fs seam (src/base/fs.ts: its errors come out coded). Whole:
 * a cold file is a few MB, and the reads of maintenance and verify hold one whole as well.
 */
export async function checksumFile(path: string): Promise<{ bytes: number; checksum: string }> {
  const data = await fsys.readFile(path);
  return { bytes: data.length, checksum: checksumOf(data) };
}

function format(crc: number): string {
  return `crc32:${crc.toString(16).padStart(8, "0")}`;
}
