/**
 * `tracetier sql "<query>"`: DuckDB over the cold tier, exposed as a view `records` over the
 * Hive-partitioned Parquet files (with `date` from the directory names). DuckDB (`@duckdb/node-api`) is
 * optional: it is looked up where the project is installed, or at TRACETIER_DUCKDB (a directory that
 * holds node_modules/@duckdb/node-api), and a clear message says how to get it when it is absent.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { TracetierError } from "../../base/errors.js";
import { type Command, EXIT } from "../command.js";

interface DuckDb {
  DuckDBInstance: {
    create(path: string): Promise<{
      connect(): Promise<{
        run(q: string): Promise<unknown>;
        runAndReadAll(
          q: string,
        ): Promise<{ getRowObjectsJson(): Record<string, unknown>[]; columnNames(): string[] }>;
        closeSync(): void;
      }>;
    }>;
  };
}

export const sql: Command = {
  name: "sql",
  summary: "run a DuckDB SQL query over the cold tier (a view named records)",
  help: `tracetier sql "<query>" [--json | --csv] [--dir DIR]

Runs the query in DuckDB with a view \`records\` over cold/date=*/*.parquet (Hive partitioning: the
\`date\` column comes from the directories). Timestamps are INT64 ms: epoch_ms(timestamp) gives a
TIMESTAMP. Prints a table, or JSON rows, or CSV. Needs @duckdb/node-api (optional): npm install
@duckdb/node-api, or point TRACETIER_DUCKDB at a directory where it is installed.

Examples:
  tracetier sql "SELECT date, count(*) FROM records GROUP BY date ORDER BY date"
  tracetier sql "SELECT name, avg(durationMs) FROM records WHERE kind = 'span-close' GROUP BY name" --csv
`,
  options: { csv: { type: "boolean" } },
  positionals: [1, 1],
  async run(ctx) {
    const duck = loadDuckDb();
    const cold = resolve(ctx.dir, "cold");
    const files = join(cold, "date=*", "*.parquet").replaceAll("'", "''");
    const db = await duck.DuckDBInstance.create(":memory:");
    const conn = await db.connect();
    try {
      const empty = !existsSync(cold);
      await conn.run(
        empty
          ? "CREATE VIEW records AS SELECT NULL::VARCHAR AS id WHERE false"
          : `CREATE VIEW records AS SELECT * FROM read_parquet('${files}', hive_partitioning = true, union_by_name = true)`,
      );
      const result = await conn.runAndReadAll(ctx.positionals[0]!);
      const rows = result.getRowObjectsJson();
      const cols = result.columnNames();
      if (ctx.json) ctx.print(rows);
      else if (ctx.values.csv === true) {
        ctx.out(cols.map(csvCell).join(","));
        for (const r of rows) ctx.out(cols.map((c) => csvCell(r[c])).join(","));
      } else printTable(ctx.out, cols, rows);
    } finally {
      conn.closeSync();
    }
    return EXIT.ok;
  },
};

function loadDuckDb(): DuckDb {
  const places = [
    import.meta.url,
    ...(process.env.TRACETIER_DUCKDB ? [join(resolve(process.env.TRACETIER_DUCKDB), "package.json")] : []),
  ];
  for (const from of places) {
    try {
      return createRequire(from)("@duckdb/node-api") as DuckDb;
    } catch {}
  }
  throw new TracetierError(
    "ERR_INVALID_OPTION",
    "sql needs DuckDB, an optional dependency: npm install @duckdb/node-api (or set TRACETIER_DUCKDB to a directory where it is installed)",
  );
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function printTable(out: (l?: string) => void, cols: string[], rows: Record<string, unknown>[]): void {
  const cell = (v: unknown) =>
    v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  const widths = cols.map((c) => Math.min(60, Math.max(c.length, ...rows.map((r) => cell(r[c]).length))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (v.length > widths[i]! ? `${v.slice(0, widths[i]! - 1)}…` : v.padEnd(widths[i]!)))
      .join("  ");
  out(line(cols));
  out(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) out(line(cols.map((c) => cell(r[c]))));
  out(`(${rows.length} row${rows.length === 1 ? "" : "s"})`);
}
