/** Naming and listing of WAL segment files: `wal/<20-digit segment number>.wal`, in number order. */
import { join } from "node:path";
import { fsys } from "../src/base/fs.js";

const NAME = /^(\d{20})\.wal$/;

export function segmentName(no: number): string {
  return `${String(no).padStart(20, "0")}.wal`;
}

export interface SegmentFile {
  no: number;
  path: string;
}

export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const names = await fsys.readdir(dir);
  const found: SegmentFile[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (m) found.push({ no: Number(m[1]), path: join(dir, name) });
  }
  return found.sort((a, b) => a.no - b.no);
}
