/**
 * Parquet libraries and codecs on the cold tier's schema (for docs/decisions.md): hyparquet-writer +
 * hyparquet (chosen) against parquetjs-lite, SNAPPY against GZIP, 1024-row groups, same rows.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sha256 } from "../src/bodies/store.js";
import { stableId } from "../src/index.js";
import { readParquetInfo, readParquetRows, writeParquetFile } from "../tiers/cold/parquet.js";
import { COLUMNS, compareRows, type Row, toRow } from "../tiers/cold/schema.js";
import { monthOfTurns } from "./month.js";
import { fmt, timed } from "./stats.js";

const out = (s: string) => process.stdout.write(`${s}\n`);

/** The part of parquetjs-lite (untyped) this comparison uses. */
interface ParquetJs {
  ParquetSchema: new (fields: object) => object;
  ParquetWriter: {
    openFile(
      schema: object,
      path: string,
    ): Promise<{
      setRowGroupSize(n: number): void;
      appendRow(row: object): Promise<void>;
      close(): Promise<void>;
    }>;
  };
  ParquetReader: {
    openFile(path: string): Promise<{ getCursor(): { next(): Promise<unknown> }; close(): Promise<void> }>;
  };
}
const parquet = createRequire(import.meta.url)("parquetjs-lite") as ParquetJs;

function rows(n: number): Row[] {
  const list: Row[] = [];
  let seq = 0;
  for (const turn of monthOfTurns(n)) {
    for (const r of turn) {
      const { body, ...record } = r;
      list.push(
        toRow({
          id: stableId(r),
          seq: ++seq,
          record,
          bodyHash: body === undefined ? null : sha256(Buffer.from(body)),
        }),
      );
    }
    if (list.length >= n) break;
  }
  return list.slice(0, n).sort(compareRows);
}

async function parquetjs(path: string, data: Row[], codec: "GZIP" | "SNAPPY"): Promise<void> {
  const fields: Record<string, { type: string; optional: boolean; compression: string }> = {};
  for (const [name, type] of COLUMNS) {
    fields[name] = {
      type: type === "STRING" ? "UTF8" : type,
      optional: !["id", "seq", "timestamp", "kind", "extensionId"].includes(name),
      compression: codec,
    };
  }
  const writer = await parquet.ParquetWriter.openFile(new parquet.ParquetSchema(fields), path);
  writer.setRowGroupSize(1024);
  for (const r of data) {
    const row: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) if (v !== null) row[k] = v;
    await writer.appendRow(row);
  }
  await writer.close();
}

async function parquetjsRead(path: string): Promise<number> {
  const reader = await parquet.ParquetReader.openFile(path);
  const cursor = reader.getCursor();
  let n = 0;
  while (await cursor.next()) n++;
  await reader.close();
  return n;
}

export async function parquetLibraries(n: number): Promise<void> {
  const data = rows(n);
  const dir = mkdtempSync(join(tmpdir(), "tracetier-pq-"));
  out("");
  out(`Parquet libraries and codecs, ${fmt(n)} rows of the cold schema, 1024-row groups:`);
  out("");
  out("| writer / reader | codec | write rows/s | read rows/s | bytes/row |");
  out("|---|---|---:|---:|---:|");
  try {
    for (const codec of ["GZIP", "SNAPPY"] as const) {
      const p = join(dir, `hy-${codec}.parquet`);
      const w = await timed(() => writeParquetFile(`${p}.tmp`, p, data, codec));
      const r = await timed(async () => {
        const info = await readParquetInfo(p);
        await readParquetRows(info, 0, n);
      });
      out(
        `| hyparquet-writer / hyparquet | ${codec} | ${fmt(n / w)} | ${fmt(n / r)} | ${(statSync(p).size / n).toFixed(1)} |`,
      );
    }
    for (const codec of ["GZIP", "SNAPPY"] as const) {
      const p = join(dir, `pjs-${codec}.parquet`);
      const w = await timed(() => parquetjs(p, data, codec));
      const r = await timed(() => parquetjsRead(p));
      out(
        `| parquetjs-lite / parquetjs-lite | ${codec} | ${fmt(n / w)} | ${fmt(n / r)} | ${(statSync(p).size / n).toFixed(1)} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
