/**
 * `tracetier import-sqlite <trace.db>`: migrates a database of the seed's SQLite trace-store. Resumable:
 * the last imported rowid is saved (atomically) after each durable batch, and a second run of a finished
 * import reads nothing; idempotent anyway, since ids are content hashes.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { writeFileDurably } from "../../base/durable-fs.js";
import { CorruptStoreError } from "../../base/errors.js";
import { fsError } from "../../base/fs.js";
import { SeedDatabase } from "../../import/seed-sqlite.js";
import { stableId } from "../../records/stable-id.js";
import { type Command, EXIT, withStore } from "../command.js";
import { progressBar } from "../progress.js";

const BATCH = 2000;

export const importSqlite: Command = {
  name: "import-sqlite",
  summary: "migrate a database of the seed's SQLite trace-store (either schema version)",
  help: `tracetier import-sqlite <trace.db> [--dir DIR] [--quiet] [--json]

Copies every record of a seed trace-store database (records and bodies tables; bodies keyed by record
id, or content-addressed with gzip) into the store, in insertion order. Every record keeps its id;
bodies are hashed again with SHA-256 (the seed's hash is not SHA-256). The position is saved after
each batch: an interrupted import resumes where it stopped, and a finished one imports nothing new.
Needs better-sqlite3 (an optional dependency).

Examples:
  tracetier import-sqlite ~/.local/share/agent/trace.db
`,
  options: {},
  positionals: [1, 1],
  async run(ctx) {
    const path = resolve(ctx.positionals[0]!);
    await stat(path);
    const db = SeedDatabase.open(path);
    const progressFile = join(
      resolve(ctx.dir),
      "import",
      `${createHash("sha256").update(path).digest("hex").slice(0, 16)}.json`,
    );
    const started = performance.now();
    const summary = {
      database: path,
      schemaVersion: db.version,
      records: db.total,
      read: 0,
      inserted: 0,
      duplicates: 0,
      idMismatches: 0,
      resumedAfterRowid: 0,
      seconds: 0,
    };
    const bar = progressBar(!ctx.quiet && !ctx.json, db.total);
    try {
      let after = await lastRowid(progressFile);
      summary.resumedAfterRowid = after;
      await mkdir(join(resolve(ctx.dir), "import"), { recursive: true });
      await withStore(ctx.dir, async (store) => {
        for (;;) {
          const rows = db.next(after, BATCH);
          if (rows.length === 0) break;
          const r = await store.insertRecords(rows.map((x) => x.record));
          summary.read += rows.length;
          summary.inserted += r.inserted;
          summary.duplicates += r.duplicates;
          summary.idMismatches += rows.filter((x) => stableId(x.record) !== x.id).length;
          after = rows.at(-1)!.rowid;
          await writeFileDurably(
            `${progressFile}.tmp`,
            progressFile,
            JSON.stringify({ version: 1, database: path, lastRowid: after }),
          );
          bar.update(summary.read, summary.read);
        }
      });
    } finally {
      bar.stop();
      db.close();
    }
    summary.seconds = (performance.now() - started) / 1000;
    if (ctx.json) ctx.print(summary);
    else {
      ctx.out(
        `${path} (schema v${summary.schemaVersion}): read ${summary.read} of ${summary.records} records${summary.resumedAfterRowid > 0 ? ` (resumed after rowid ${summary.resumedAfterRowid})` : ""}; ${summary.inserted} inserted, ${summary.duplicates} already there, in ${summary.seconds.toFixed(2)} s`,
      );
      if (summary.idMismatches > 0)
        ctx.out(
          `warning: ${summary.idMismatches} records came out with an id other than the one the seed stored (a field the seed did not keep)`,
        );
    }
    return summary.idMismatches > 0 ? EXIT.problems : EXIT.ok;
  },
};

/** Where an earlier run stopped (0 when none did). A damaged file is refused, coded: guessing could skip rows. */
async function lastRowid(file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw fsError(`reading ${file}`, err);
  }
  let rowid: unknown;
  try {
    rowid = (JSON.parse(text) as { lastRowid?: unknown } | null)?.lastRowid;
  } catch (err) {
    throw new CorruptStoreError(
      `the import's progress file ${file} is not JSON; remove it to import from the start`,
      { cause: err },
    );
  }
  if (typeof rowid !== "number" || !Number.isSafeInteger(rowid) || rowid < 0) {
    throw new CorruptStoreError(
      `the import's progress file ${file} holds no row id; remove it to import from the start`,
    );
  }
  return rowid;
}
