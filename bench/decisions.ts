/**
 * The measured choices behind docs/decisions.md, re-run by `npm run bench`:
 * - the deflate implementation for chunks: node:zlib against fflate (the design named fflate);
 * - the chunk size of the content-defined chunker.
 */
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from "fflate";
import { createChunker, DEFAULT_CHUNKING } from "../src/bodies/chunker.js";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { seedStableId } from "../test/support/seed-stable-id.js";
import { parquetLibraries } from "./parquet-libs.js";
import { fmt, latency, scratch, timed } from "./stats.js";

const out = (s: string) => process.stdout.write(`${s}\n`);

export async function runDecisions(records: TraceRecord[], quick: boolean): Promise<void> {
  await ids(records.slice(0, quick ? 1000 : 3000));
  await codecs(records);
  await chunkSizes(records.slice(0, quick ? 2000 : 5000));
  await parquetLibraries(quick ? 20_000 : 100_000);
}

/** The distinct chunks the store would compress for this workload. */
function distinctChunks(records: TraceRecord[]): Buffer[] {
  const chunker = createChunker(DEFAULT_CHUNKING);
  const seen = new Set<string>();
  const chunks: Buffer[] = [];
  for (const body of new Set(records.flatMap((r) => (r.body !== undefined ? [r.body] : [])))) {
    const utf8 = Buffer.from(body);
    let start = 0;
    for (const end of chunker.cut(utf8)) {
      const c = utf8.subarray(start, end);
      start = end;
      const h = createHash("sha256").update(c).digest("hex");
      if (c.length > 1024 && !seen.has(h)) {
        seen.add(h);
        chunks.push(c);
      }
    }
  }
  return chunks;
}

/** The seed's BigInt stableId against tracetier's (same ids). */
async function ids(records: TraceRecord[]): Promise<void> {
  const chars = records.reduce((n, r) => n + JSON.stringify(r).length, 0);
  out("");
  out(`stableId on ${fmt(records.length)} records (${fmt(chars / 1e6, 1)} M chars of JSON):`);
  out("");
  out("| implementation | records/s | M chars/s |");
  out("|---|---:|---:|");
  for (const [name, fn] of [
    ["seed (BigInt FNV-1a over the canonical JSON string)", seedStableId],
    ["tracetier (streamed canonical JSON, WebAssembly FNV for long strings)", stableId],
  ] as const) {
    for (const r of records.slice(0, 100)) fn(r);
    const secs = await timed(() => {
      for (const r of records) fn(r);
    });
    out(`| ${name} | ${fmt(records.length / secs)} | ${fmt(chars / 1e6 / secs)} |`);
  }
}

async function codecs(records: TraceRecord[]): Promise<void> {
  const chunks = distinctChunks(records);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const candidates: [string, (b: Buffer) => Uint8Array, (b: Uint8Array) => Uint8Array][] = [
    ["node:zlib deflateRaw level 6", (b) => deflateRawSync(b, { level: 6 }), (b) => inflateRawSync(b)],
    ["node:zlib deflateRaw level 1", (b) => deflateRawSync(b, { level: 1 }), (b) => inflateRawSync(b)],
    ["fflate deflateSync level 6", (b) => fflateDeflate(b, { level: 6 }), (b) => fflateInflate(b)],
    ["fflate deflateSync level 1", (b) => fflateDeflate(b, { level: 1 }), (b) => fflateInflate(b)],
  ];
  out("");
  out(`Chunk codecs on the workload's ${fmt(chunks.length)} distinct chunks (${fmt(total / 1e6, 1)} MB):`);
  out("");
  out("| codec | compress MB/s | inflate MB/s | stored ÷ original |");
  out("|---|---:|---:|---:|");
  for (const [name, compress, inflate] of candidates) {
    for (const c of chunks.slice(0, 200)) inflate(compress(c)); // warm the JIT (fflate is JS) before timing
    let packed: Uint8Array[] = [];
    const c = await timed(() => {
      packed = chunks.map(compress);
    });
    const d = await timed(() => {
      for (const p of packed) inflate(p);
    });
    const size = packed.reduce((n, p) => n + p.length, 0);
    out(`| ${name} | ${fmt(total / 1e6 / c)} | ${fmt(total / 1e6 / d)} | ${(size / total).toFixed(3)} |`);
  }
}

async function chunkSizes(records: TraceRecord[]): Promise<void> {
  const raw = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  const big = records.filter((r) => (r.body?.length ?? 0) > 50_000).map((r) => stableId(r));
  out("");
  out(`Chunk sizes, ${fmt(records.length)} records (${fmt(raw / 1e6, 1)} MB of JSON), batches of 500:`);
  out("");
  out("| average chunk | records/s | body stored ÷ original | getBody (>50 KB) p99 ms |");
  out("|---|---:|---:|---:|");
  for (const avgSize of [2048, 4096, 8192, 16384, 32768]) {
    const chunking = { avgSize, minSize: avgSize / 4, maxSize: avgSize * 8 };
    const store = await openStore({ dir: scratch(`chunk-${avgSize}`), chunking });
    const secs = await timed(async () => {
      for (let i = 0; i < records.length; i += 500) await store.insertRecords(records.slice(i, i + 500));
    });
    const s = await store.stats();
    const lat =
      big.length > 0
        ? await latency(200, 20, (i) => store.getBody(big[i % big.length]!))
        : { p99: Number.NaN };
    await store.close();
    const mark = avgSize === DEFAULT_CHUNKING.avgSize ? " (default)" : "";
    out(
      `| ${avgSize / 1024} KiB${mark} | ${fmt(records.length / secs)} | ${(s.bodyBytesStored / s.bodyBytesOriginal).toFixed(3)} | ${fmt(lat.p99, 2)} |`,
    );
  }
}
