/**
 * Where a steady getTurn's slow reads come from (a diagnostic, not part of `npm run bench`):
 *   node --import tsx bench/tail-probe.ts <tracetier dir> <ids.json> [runs]
 * Reads turns in the bench's steady order and, for the slowest 2% of reads, says how many garbage
 * collections overlapped them and how many chunk texts they had to read from LevelDB.
 */
import { readFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { openStore } from "../src/index.js";

const [dir, idsFile, runsArg] = process.argv.slice(2) as [string, string, string?];
const { turnIds } = JSON.parse(readFileSync(idsFile, "utf8")) as { turnIds: string[] };
const runs = Number(runsArg ?? 2000);
const gcs: { start: number; end: number; kind: number }[] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries())
    gcs.push({
      start: e.startTime,
      end: e.startTime + e.duration,
      kind: (e as unknown as { detail: { kind: number } }).detail.kind,
    });
}).observe({ entryTypes: ["gc"] });

const store = await openStore({ dir });
type Reader = { bodies: { texts: { size: number } }; turnRecords(id: string): Promise<unknown> };
const reader = (store as unknown as { reader: Reader }).reader;
const texts = reader.bodies.texts;
// the records' part of each read (one trip to LevelDB's thread), timed apart from the bodies'
let recordsMs = 0;
const turnRecords = reader.turnRecords.bind(reader);
reader.turnRecords = async (id: string) => {
  const t = performance.now();
  const r = await turnRecords(id);
  recordsMs = performance.now() - t;
  return r;
};
for (const id of turnIds) await store.getTurn(id);
const reads: { ms: number; start: number; end: number; cacheBefore: number; records: number }[] = [];
for (let i = 0; i < runs; i++) {
  const id = turnIds[(i * 7919) % turnIds.length]!;
  const cacheBefore = texts.size;
  const start = performance.now();
  await store.getTurn(id);
  const end = performance.now();
  reads.push({ ms: end - start, start, end, cacheBefore, records: recordsMs });
}
await store.close();
await new Promise((r) => setTimeout(r, 50));
const sorted = [...reads].sort((a, b) => b.ms - a.ms);
const slow = sorted.slice(0, Math.ceil(runs / 50));
const gcIn = (r: { start: number; end: number }) => gcs.filter((g) => g.start < r.end && g.end > r.start);
const gcMs = (r: { start: number; end: number }) =>
  gcIn(r).reduce((n, g) => n + Math.min(g.end, r.end) - Math.max(g.start, r.start), 0);
const p = (q: number) => [...reads].sort((a, b) => a.ms - b.ms)[Math.floor(q * runs)]!.ms.toFixed(2);
console.log(
  `p50 ${p(0.5)} p99 ${p(0.99)}; text cache ${(texts.size / 1e6).toFixed(1)} MB; GCs ${gcs.length}`,
);
console.log(
  `slowest 2%: ${slow.filter((r) => gcIn(r).length > 0).length}/${slow.length} overlap a GC; their ms in GC: ${slow
    .slice(0, 12)
    .map((r) => `${r.ms.toFixed(1)}(gc ${gcMs(r).toFixed(1)}, records ${r.records.toFixed(1)})`)
    .join(" ")}`,
);
