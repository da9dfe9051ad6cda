/**
 * A cold file's checksum: CRC-32 (IEEE, `zlib.crc32`) of the whole file, written `crc32:<8 hex>` in the
 * manifest. It guards against accidental damage (a bad sector, a stray write, a truncated copy), not an
 * adversary who can also edit the manifest; CRC-32 detects every burst error up to 32 bits and misses
 * random damage with probability 2^-32, at several times the speed of SHA-256 (docs/decisions.md).
 */
import { open } from "node:fs/promises";
import { crc32 } from "node:zlib";

export const CHECKSUM_PATTERN = /^crc32:[0-9a-f]{8}$/;

/** The checksum of bytes in memory. */
export function checksumOf(bytes: Uint8Array): string {
  return format(crc32(bytes));
}

/** Reads a file in 1 MiB chunks: its size and checksum, without holding it in memory. */
export async function checksumFile(path: string): Promise<{ bytes: number; checksum: string }> {
  const fh = await open(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let crc = 0;
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, bytes);
      if (bytesRead === 0) break;
      crc = crc32(chunk.subarray(0, bytesRead), crc);
      bytes += bytesRead;
    }
    return { bytes, checksum: format(crc) };
  } finally {
    await fh.close();
  }
}

function format(crc: number): string {
  return `crc32:${crc.toString(16).padStart(8, "0")}`;
}
