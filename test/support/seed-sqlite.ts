/**
 * Databases as the seed's SQLite trace-store writes them (shared/seeds/000 and 001), both schema
 * versions, built with better-sqlite3: v1 keeps a body per record id; v2 keys bodies by the seed's own
 * content hash (not SHA-256: a stand-in hash here, so that nothing may trust it) with gzip over 1 KiB.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import type { TraceRecord } from "../../src/index.js";
import { seedStableId } from "./seed-stable-id.js";

type Db = {
  exec(sql: string): void;
  prepare(sql: string): { run(...a: unknown[]): unknown };
  transaction(fn: () => void): () => void;
  close(): void;
};
const Database = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => Db;

const RECORDS = `CREATE TABLE records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, level TEXT, msg TEXT, name TEXT,
  spanId TEXT, parentSpanId TEXT, conversationId TEXT, turnId TEXT, extensionId TEXT NOT NULL,
  timestamp INTEGER NOT NULL, durationMs INTEGER, status TEXT, attributes TEXT, links TEXT`;

export function writeSeedDatabase(path: string, version: 1 | 2, records: TraceRecord[]): void {
  const db = new Database(path);
  db.exec(
    version === 1
      ? `${RECORDS}); CREATE TABLE bodies (recordId TEXT PRIMARY KEY REFERENCES records(id), body TEXT NOT NULL);`
      : `${RECORDS}, bodyHash TEXT); CREATE TABLE bodies (hash TEXT PRIMARY KEY, body BLOB NOT NULL,
         isCompressed INTEGER NOT NULL DEFAULT 0, originalSize INTEGER NOT NULL, storedSize INTEGER NOT NULL);`,
  );
  const rec = db.prepare(
    `INSERT OR IGNORE INTO records (id, kind, level, msg, name, spanId, parentSpanId, conversationId, turnId,
     extensionId, timestamp, durationMs, status, attributes, links${version === 2 ? ", bodyHash" : ""})
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?${version === 2 ? ", ?" : ""})`,
  );
  const bodyV1 =
    version === 1 ? db.prepare("INSERT OR IGNORE INTO bodies (recordId, body) VALUES (?, ?)") : undefined;
  const bodyV2 =
    version === 2
      ? db.prepare(
          "INSERT OR IGNORE INTO bodies (hash, body, isCompressed, originalSize, storedSize) VALUES (?, ?, ?, ?, ?)",
        )
      : undefined;
  db.transaction(() => {
    for (const r of records) {
      const x = r as unknown as Record<string, unknown>;
      const id = seedStableId(r);
      let hash: string | null = null;
      if (version === 2 && r.body !== undefined) {
        hash = createHash("sha1").update(r.body).digest("hex"); // the seed's hash was not SHA-256 either
        const raw = Buffer.from(r.body, "utf8");
        const gz = raw.length > 1024 ? gzipSync(raw) : raw;
        bodyV2!.run(hash, gz, raw.length > 1024 ? 1 : 0, raw.length, gz.length);
      }
      const values = [
        id,
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
      ];
      rec.run(...values, ...(version === 2 ? [hash] : []));
      if (version === 1 && r.body !== undefined) bodyV1!.run(id, r.body);
    }
  })();
  db.close();
}
