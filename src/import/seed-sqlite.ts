/**
 * Reads a database of the seed's SQLite trace-store, either schema version:
 *   v1: `records` (no bodyHash) and `bodies (recordId, body TEXT)`: a body per record;
 *   v2: `records.bodyHash` and `bodies (hash, body BLOB, isCompressed, …)`: content-addressed, gzip
 *       over 1 KiB, keyed by the seed's hash (which is not SHA-256: the engine hashes bodies itself).
 * Records come in insertion (rowid) order, rebuilt field for field as the seed stored them, so that
 * their ids (the seed's stableId, which covers the body) come out equal.
 * better-sqlite3 is an optional dependency: without it this module says so plainly.
 */
import { createRequire } from "node:module";
import { gunzipSync } from "node:zlib";
import { TracetierError } from "../base/errors.js";
import type { TraceRecord } from "../types.js";

interface Row {
  rowid: number;
  id: string;
  kind: string;
  level: string | null;
  msg: string | null;
  name: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  conversationId: string | null;
  turnId: string | null;
  extensionId: string;
  timestamp: number;
  durationMs: number | null;
  status: string | null;
  attributes: string | null;
  links: string | null;
  bodyHash?: string | null;
}

interface Statement {
  all(...args: unknown[]): unknown[];
  get(...args: unknown[]): unknown;
}
interface Database {
  prepare(sql: string): Statement;
  close(): void;
}

export interface SeedRow {
  rowid: number;
  /** The id the seed stored. */
  id: string;
  record: TraceRecord;
}

export class SeedDatabase {
  readonly version: 1 | 2;
  readonly total: number;
  private readonly db: Database;
  private readonly page: Statement;
  private readonly body: Statement;

  private constructor(db: Database) {
    this.db = db;
    const cols = (db.prepare("PRAGMA table_info(records)").all() as { name: string }[]).map((c) => c.name);
    if (cols.length === 0)
      throw new TracetierError(
        "ERR_INVALID_OPTION",
        "the database has no records table: it is not a trace-store database",
      );
    const bodyCols = (db.prepare("PRAGMA table_info(bodies)").all() as { name: string }[]).map((c) => c.name);
    this.version = cols.includes("bodyHash") && bodyCols.includes("hash") ? 2 : 1;
    this.total = (db.prepare("SELECT count(*) AS n FROM records").get() as { n: number }).n;
    this.page = db.prepare("SELECT rowid, * FROM records WHERE rowid > ? ORDER BY rowid LIMIT ?");
    this.body =
      this.version === 2
        ? db.prepare("SELECT body, isCompressed FROM bodies WHERE hash = ?")
        : db.prepare("SELECT body FROM bodies WHERE recordId = ?");
  }

  static open(path: string): SeedDatabase {
    let Driver: new (path: string, opts: { readonly: boolean; fileMustExist: boolean }) => Database;
    try {
      Driver = createRequire(import.meta.url)("better-sqlite3");
    } catch {
      throw new TracetierError(
        "ERR_INVALID_OPTION",
        "import-sqlite needs better-sqlite3 (an optional dependency): npm install better-sqlite3",
      );
    }
    return new SeedDatabase(new Driver(path, { readonly: true, fileMustExist: true }));
  }

  /** Up to `limit` records after `afterRowid`, in rowid order. */
  next(afterRowid: number, limit: number): SeedRow[] {
    return (this.page.all(afterRowid, limit) as Row[]).map((row) => ({
      rowid: row.rowid,
      id: row.id,
      record: this.toRecord(row),
    }));
  }

  close(): void {
    this.db.close();
  }

  private toRecord(row: Row): TraceRecord {
    const r: Record<string, unknown> = { kind: row.kind };
    const put = (k: string, v: unknown) => {
      if (v !== null && v !== undefined) r[k] = v;
    };
    if (row.kind === "log") {
      put("level", row.level);
      r.msg = row.msg ?? "";
    } else {
      r.spanId = row.spanId ?? "";
      r.name = row.name ?? "";
    }
    if (row.kind === "span-close") {
      r.durationMs = row.durationMs ?? 0;
      r.status = row.status ?? "ok";
    }
    r.timestamp = row.timestamp;
    r.extensionId = row.extensionId;
    put("conversationId", row.conversationId);
    put("turnId", row.turnId);
    if (row.kind === "log") put("spanId", row.spanId);
    put("parentSpanId", row.parentSpanId);
    if (row.attributes !== null) r.attributes = JSON.parse(row.attributes);
    if (row.links !== null && row.kind !== "log") r.links = JSON.parse(row.links);
    const body = this.bodyOf(row);
    if (body !== undefined) r.body = body;
    return r as unknown as TraceRecord;
  }

  private bodyOf(row: Row): string | undefined {
    if (this.version === 1) return (this.body.get(row.id) as { body: string } | undefined)?.body;
    if (!row.bodyHash) return undefined;
    const b = this.body.get(row.bodyHash) as { body: Buffer | string; isCompressed: number } | undefined;
    if (!b) return undefined;
    const bytes = typeof b.body === "string" ? Buffer.from(b.body, "utf8") : b.body;
    return (b.isCompressed ? gunzipSync(bytes) : bytes).toString("utf8");
  }
}
