/**
 * The baseline: the seed trace-store as designed, on better-sqlite3 (the seed ran on bun:sqlite).
 * Same schema and indexes, content-addressed bodies, gzip over 1 KiB, one transaction per batch, and
 * durable commits (WAL journal, synchronous=FULL: an fsync per commit).
 *
 * Two deliberate differences, both in the baseline's favour: body hashes use node:crypto's SHA-256
 * (the seed's hand-written one is slower, and wrong), and `idImpl: "fast"` swaps the seed's BigInt
 * stableId for tracetier's (same ids) to show the baseline with its biggest cost removed.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import type { StoredRecord, TraceRecord } from "../src/index.js";
import { stableId } from "../src/index.js";
import { seedStableId } from "../test/support/seed-stable-id.js";

const COMPRESS_THRESHOLD_BYTES = 1024;

export interface Baseline {
  insertRecords(records: readonly TraceRecord[]): void;
  getTurn(turnId: string, bodies: boolean): StoredRecord[];
  getBody(recordId: string): string | undefined;
  /** The seed's age prune: records older than the cutoff, then bodies no record refers to. */
  prune(cutoff: number): { recordsDeleted: number; bodiesDeleted: number };
  close(): void;
}

/** `durable: false` (synchronous=OFF) only to fill a store that is then read (bench/turns.ts). */
export function openBaseline(path: string, idImpl: "seed" | "fast", durable = true): Baseline {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma(durable ? "synchronous = FULL" : "synchronous = OFF");
  schema(db);
  const idOf = idImpl === "seed" ? seedStableId : stableId;
  const recStmt = db.prepare(`INSERT OR IGNORE INTO records (id, kind, level, msg, name, spanId, parentSpanId,
    conversationId, turnId, extensionId, timestamp, durationMs, status, attributes, links, bodyHash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const hasBody = db.prepare("SELECT 1 FROM bodies WHERE hash = ?");
  const putBody = db.prepare(
    "INSERT OR IGNORE INTO bodies (hash, body, isCompressed, originalSize, storedSize) VALUES (?, ?, ?, ?, ?)",
  );
  const getBodyRow = db.prepare("SELECT body, isCompressed FROM bodies WHERE hash = ?");
  const turnRows = db.prepare("SELECT * FROM records WHERE turnId = ? ORDER BY timestamp ASC, rowid ASC");
  const bodyHashOf = db.prepare("SELECT bodyHash FROM records WHERE id = ?");

  function storeBody(body: string): string {
    const hash = createHash("sha256").update(body).digest("hex");
    if (hasBody.get(hash) !== undefined) return hash;
    const raw = Buffer.from(body, "utf8");
    let stored: Buffer = raw;
    let compressed = 0;
    if (raw.length > COMPRESS_THRESHOLD_BYTES) {
      const z = gzipSync(raw);
      if (z.length < raw.length) {
        stored = z;
        compressed = 1;
      }
    }
    putBody.run(hash, stored, compressed, raw.length, stored.length);
    return hash;
  }

  function resolveBody(hash: string | null): string | undefined {
    if (hash === null) return undefined;
    const row = getBodyRow.get(hash) as { body: Buffer; isCompressed: number } | undefined;
    if (!row) return undefined;
    return (row.isCompressed ? gunzipSync(row.body) : row.body).toString("utf8");
  }

  const insertTxn = db.transaction((records: readonly TraceRecord[]) => {
    for (const r of records) {
      const x = r as unknown as Record<string, unknown>;
      recStmt.run(
        idOf(r),
        r.kind,
        x.level ?? null,
        x.msg ?? null,
        x.name ?? null,
        x.spanId ?? null,
        x.parentSpanId ?? null,
        r.conversationId ?? null,
        r.turnId ?? null,
        r.extensionId,
        r.timestamp,
        x.durationMs ?? null,
        x.status ?? null,
        r.attributes !== undefined ? JSON.stringify(r.attributes) : null,
        x.links !== undefined ? JSON.stringify(x.links) : null,
        r.body !== undefined ? storeBody(r.body) : null,
      );
    }
  });

  return {
    insertRecords: (records) => insertTxn(records),
    getTurn(turnId, bodies) {
      return (turnRows.all(turnId) as Row[]).map((row) =>
        toRecord(row, bodies ? resolveBody(row.bodyHash) : undefined),
      );
    },
    getBody(recordId) {
      const row = bodyHashOf.get(recordId) as { bodyHash: string | null } | undefined;
      return row ? resolveBody(row.bodyHash) : undefined;
    },
    prune(cutoff) {
      return db.transaction(() => ({
        recordsDeleted: db.prepare("DELETE FROM records WHERE timestamp < ?").run(cutoff).changes,
        bodiesDeleted: db
          .prepare(
            "DELETE FROM bodies WHERE hash NOT IN (SELECT bodyHash FROM records WHERE bodyHash IS NOT NULL)",
          )
          .run().changes,
      }))();
    },
    close() {
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
}

type Row = Record<string, string | number | null> & { bodyHash: string | null };

function toRecord(row: Row, body: string | undefined): StoredRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || k === "bodyHash") continue;
    out[k] = k === "attributes" || k === "links" ? JSON.parse(v as string) : v;
  }
  if (body !== undefined) out.body = body;
  return out as unknown as StoredRecord;
}

function schema(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, level TEXT, msg TEXT,
      name TEXT, spanId TEXT, parentSpanId TEXT, conversationId TEXT, turnId TEXT, extensionId TEXT NOT NULL,
      timestamp INTEGER NOT NULL, durationMs INTEGER, status TEXT, attributes TEXT, links TEXT, bodyHash TEXT);
    CREATE INDEX IF NOT EXISTS idx_records_turnId ON records(turnId);
    CREATE INDEX IF NOT EXISTS idx_records_conversationId ON records(conversationId);
    CREATE INDEX IF NOT EXISTS idx_records_spanId ON records(spanId);
    CREATE INDEX IF NOT EXISTS idx_records_kind ON records(kind);
    CREATE INDEX IF NOT EXISTS idx_records_timestamp ON records(timestamp);
    CREATE INDEX IF NOT EXISTS idx_records_bodyHash ON records(bodyHash);
    CREATE TABLE IF NOT EXISTS bodies (hash TEXT PRIMARY KEY, body BLOB NOT NULL,
      isCompressed INTEGER NOT NULL DEFAULT 0, originalSize INTEGER NOT NULL, storedSize INTEGER NOT NULL);`);
}
