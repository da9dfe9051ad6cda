/**
 * How body chunks are cut and compressed, measured on both workload profiles (docs/decisions.md):
 * the distinct chunks a store would keep, in the order it would meet them, under each scheme.
 *
 *   npx tsx bench/compression.ts [--conversations 30]
 *
 * "chunks ÷ raw" is the compressed chunk bytes over the workload's raw JSON; "refs ÷ raw" the 32-byte
 * chunk references every distinct body's manifest holds. Dictionaries are learned as the store does:
 * from the first 2 MiB of new chunks, then applied to the rest.
 */
import { brotliCompressSync, deflateRawSync, constants as zc } from "node:zlib";
import { createChunker, DEFAULT_CHUNKING } from "../src/bodies/chunker.js";
import { DICTIONARY_BYTES, DICTIONARY_MAX_BYTES, trainDictionary } from "../src/bodies/dictionary.js";
import { Splitter, sha256 } from "../src/bodies/splitter.js";
import type { ChunkingOptions } from "../src/types.js";
import { generateRecords, WORKLOAD_PROFILES, type WorkloadProfile } from "../src/workload/generator.js";

const argv = process.argv.slice(2);
const conversations = Number(argv[argv.indexOf("--conversations") + 1] || 30);
const TRAIN_BYTES = 2 * 1024 * 1024;

interface NewChunk {
  data: Buffer;
  /** The body's 32 KiB before the chunk (a per-body context dictionary would need them). */
  before: Buffer;
}

interface Chunked {
  raw: number;
  chunks: NewChunk[];
  /** Each body's new chunks, for packing them into one compressed unit. */
  perBody: Buffer[][];
  refs: number;
}

function chunk(profile: WorkloadProfile, chunking: ChunkingOptions, tails: boolean): Chunked {
  const records = generateRecords({ conversations, turnsPerConversation: 12, seed: 1, profile });
  const raw = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  const chunker = createChunker(chunking);
  const splitter = new Splitter(chunker, chunking);
  const bodies = new Set<string>();
  const stored = new Set<string>();
  const out: Chunked = { raw, chunks: [], perBody: [], refs: 0 };
  for (const r of records) {
    if (r.body === undefined) continue;
    const utf8 = Buffer.from(r.body);
    const key = sha256(utf8).toString("hex");
    if (bodies.has(key) || utf8.length <= chunking.inlineMax) continue;
    bodies.add(key);
    const ends = tails ? splitter.split(utf8).ends : chunker.cut(utf8);
    const fresh: Buffer[] = [];
    let start = 0;
    for (const end of ends) {
      const data = utf8.subarray(start, end);
      const h = sha256(data).toString("hex");
      if (!stored.has(h)) {
        stored.add(h);
        out.chunks.push({ data, before: utf8.subarray(Math.max(0, start - DICTIONARY_MAX_BYTES), start) });
        fresh.push(data);
      }
      start = end;
    }
    out.refs += ends.length;
    if (fresh.length > 0) out.perBody.push(fresh);
  }
  return out;
}

function learned(chunks: NewChunk[], pick: (samples: Buffer[]) => Buffer): (i: number) => Buffer | undefined {
  let seen = 0;
  let n = 0;
  while (n < chunks.length && seen < TRAIN_BYTES) seen += chunks[n++]!.data.length;
  const dict = pick(chunks.slice(0, n).map((c) => c.data.subarray(0, 1024)));
  return (i) => (i < n ? undefined : dict);
}

/** The most frequent 24-byte shingles of the samples, the alternative to sampling measured here. */
function frequentShingles(samples: Buffer[]): Buffer {
  const count = new Map<string, number>();
  for (const s of samples) {
    const seen = new Set<string>();
    for (let i = 0; i + 24 <= s.length; i += 8) {
      const k = s.toString("latin1", i, i + 24);
      if (!seen.has(k)) count.set(k, (count.get(k) ?? 0) + 1);
      seen.add(k);
    }
  }
  const top = [...count].filter(([, v]) => v > 1).sort((a, b) => b[1] - a[1]);
  const picked = top.slice(0, Math.floor(DICTIONARY_BYTES / 24)).map(([k]) => k);
  return Buffer.from(picked.reverse().join(""), "latin1");
}

const deflate = (d: Buffer, dictionary?: Buffer) =>
  deflateRawSync(d, dictionary ? { level: 6, dictionary } : { level: 6 }).length;

function row(label: string, c: Chunked, compress: () => number): string {
  const t = performance.now();
  const bytes = compress();
  const secs = (performance.now() - t) / 1000;
  const uniq = c.chunks.reduce((n, x) => n + x.data.length, 0);
  return `| ${label} | ${(uniq / c.raw).toFixed(4)} | ${(bytes / c.raw).toFixed(4)} | ${((c.refs * 32) / c.raw).toFixed(4)} | ${((bytes + c.refs * 32) / c.raw).toFixed(4)} | ${(uniq / 1e6 / secs).toFixed(0)} |`;
}

for (const profile of WORKLOAD_PROFILES) {
  const lines = [
    `\n${profile} profile, ${conversations} conversations × 12 turns`,
    "| scheme | distinct ÷ raw | chunks ÷ raw | refs ÷ raw | both ÷ raw | compress MB/s |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const avg of [4096, 8192, 16384]) {
    const chunking = { ...DEFAULT_CHUNKING, avgSize: avg, minSize: avg / 4, maxSize: avg * 8 };
    const kib = `${avg / 1024} KiB`;
    const cdc = chunk(profile, chunking, false);
    const tails = chunk(profile, chunking, true);
    const sampled = learned(tails.chunks, (s) => trainDictionary(s));
    const sampled32 = learned(tails.chunks, (s) => trainDictionary(s, DICTIONARY_MAX_BYTES)); // 8 KiB rows only
    lines.push(
      row(`${kib}, content cuts, deflate alone (before)`, cdc, () =>
        cdc.chunks.reduce((n, c) => n + deflate(c.data), 0),
      ),
    );
    lines.push(
      row(`${kib}, + tail cuts, deflate alone`, tails, () =>
        tails.chunks.reduce((n, c) => n + deflate(c.data), 0),
      ),
    );
    lines.push(
      row(`${kib}, + tail cuts, learned 8 KiB dictionary (sampled; chosen)`, tails, () =>
        tails.chunks.reduce((n, c, i) => n + deflate(c.data, sampled(i)), 0),
      ),
    );
    if (avg !== 8192) continue;
    lines.push(
      row(`${kib}, + tail cuts, learned 32 KiB dictionary (sampled)`, tails, () =>
        tails.chunks.reduce((n, c, i) => n + deflate(c.data, sampled32(i)), 0),
      ),
    );
    const frequent = learned(tails.chunks, frequentShingles);
    lines.push(
      row(`${kib}, + tail cuts, learned 8 KiB dictionary (frequent shingles)`, tails, () =>
        tails.chunks.reduce((n, c, i) => n + deflate(c.data, frequent(i)), 0),
      ),
    );
    lines.push(
      row(`${kib}, + tail cuts, the body's previous 32 KiB as dictionary`, tails, () =>
        tails.chunks.reduce((n, c) => n + deflate(c.data, c.before.length > 0 ? c.before : undefined), 0),
      ),
    );
    lines.push(
      row(`${kib}, + tail cuts, a body's new chunks packed in one deflate`, tails, () =>
        tails.perBody.reduce((n, p) => n + deflate(Buffer.concat(p)), 0),
      ),
    );
    const brotli = (d: Buffer) =>
      brotliCompressSync(d, {
        params: { [zc.BROTLI_PARAM_QUALITY]: 5, [zc.BROTLI_PARAM_SIZE_HINT]: d.length },
      }).length;
    lines.push(
      row(`${kib}, + tail cuts, brotli quality 5 alone`, tails, () =>
        tails.chunks.reduce((n, c) => n + brotli(c.data), 0),
      ),
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
