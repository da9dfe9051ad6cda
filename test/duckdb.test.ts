import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { multiDayTurns, tempStore } from "./support/fixtures.js";

// DuckDB comes from test/interop (installed by `npm test`; see test/interop/package.json).
const require = createRequire(new URL("./interop/package.json", import.meta.url));
interface DuckDb {
  create(path: string): Promise<{
    connect(): Promise<{
      runAndReadAll(q: string): Promise<{ getRowObjectsJS(): unknown[] }>;
      closeSync(): void;
    }>;
  }>;
}
const { DuckDBInstance } = require("@duckdb/node-api") as { DuckDBInstance: DuckDb };

async function sql(query: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(":memory:");
  const conn = await db.connect();
  const rows = (await conn.runAndReadAll(query)).getRowObjectsJS();
  conn.closeSync();
  return rows as Record<string, unknown>[];
}

describe("the cold tier read by DuckDB as it lies", () => {
  it("has as many rows as stats().coldRecords, each in the partition of its UTC date", async () => {
    const turns = multiDayTurns(6, 3);
    const { store, dir } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: Date.UTC(2027, 0, 1) });
    const glob = join(dir, "cold", "*", "*.parquet");
    const [count] = await sql(
      `select count(*)::INTEGER as n from read_parquet('${glob}', hive_partitioning = true)`,
    );
    expect(count!.n).toBe((await store.stats()).coldRecords);
    const wrong = await sql(
      `select count(*)::INTEGER as n from read_parquet('${glob}', hive_partitioning = true)
       where strftime(make_timestamp(timestamp * 1000), '%Y-%m-%d') <> strftime(date, '%Y-%m-%d')`,
    );
    expect(wrong[0]!.n).toBe(0);
  });

  it("agrees with getTurn on sampled rows, and bodyHash is the SHA-256 of the body", async () => {
    const turns = multiDayTurns(4, 3);
    const { store, dir } = await tempStore();
    await store.insertRecords(turns.flat());
    await store.compact({ now: Date.UTC(2027, 0, 1) });
    const glob = join(dir, "cold", "*", "*.parquet");
    for (const turn of [turns[1]!, turns[7]!]) {
      const turnId = turn[0]!.turnId!;
      const rows = await sql(
        `select id, kind, timestamp::DOUBLE as ts, attributes, bodyHash from read_parquet('${glob}')
         where turnId = '${turnId}' order by timestamp, seq`,
      );
      const records = await store.getTurn(turnId);
      expect(rows.map((r) => r.id)).toEqual(records.map((r) => r.id));
      rows.forEach((row, i) => {
        const rec = records[i]!;
        expect(row.kind).toBe(rec.kind);
        expect(row.ts).toBe(rec.timestamp);
        expect(row.attributes === null ? undefined : JSON.parse(row.attributes as string)).toEqual(
          rec.attributes,
        );
        const expected = rec.body === undefined ? null : createHash("sha256").update(rec.body).digest("hex");
        expect(row.bodyHash).toBe(expected);
      });
    }
  });
});
