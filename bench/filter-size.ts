/**
 * Sizes of the cold tier's lookup filters on the month workload, and the time to read every footer
 * (docs/decisions.md): `npx tsx bench/filter-size.ts 200000`.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type TraceRecord } from "../src/index.js";
import { readParquetInfo } from "../tiers/cold/parquet.js";
import { DAY, MONTH_START, monthOfTurns } from "./month.js";

const dir = mkdtempSync(join(tmpdir(), "tracetier-filter-size-"));
const N = Number(process.argv[2] ?? 200000);
const store = await openStore({ dir, durability: "none" });
let batch: TraceRecord[] = [];
for (const t of monthOfTurns(N)) {
  batch.push(...t);
  if (batch.length >= 2000) {
    await store.insertRecords(batch);
    batch = [];
  }
}
await store.insertRecords(batch);
await store.compact({ now: MONTH_START + 40 * DAY });
const st = await store.stats();
await store.close();
const m = JSON.parse(readFileSync(join(dir, "cold/MANIFEST.json"), "utf8"));
let turnsB64 = 0;
for (const f of m.files) turnsB64 += f.turns.length;
let idsBytes = 0;
const t0 = performance.now();
for (const f of m.files) {
  const i = await readParquetInfo(join(dir, "cold", f.name));
  idsBytes += i.ids!.bytes;
}
const footerMs = performance.now() - t0;
const manifestBytes = statSync(join(dir, "cold/MANIFEST.json")).size;
console.log(
  JSON.stringify({
    records: st.coldRecords,
    files: m.files.length,
    coldBytes: st.coldBytes,
    perRecord: st.coldBytes / st.coldRecords,
    turnFilterB64: turnsB64,
    manifestBytes,
    idFilterBytes: idsBytes,
    idFilterB64PerRecord: (idsBytes * 4) / 3 / st.coldRecords,
    footersReadMs: footerMs,
    filterBytesStat: st.coldFilterBytes,
  }),
);
rmSync(dir, { recursive: true, force: true });
