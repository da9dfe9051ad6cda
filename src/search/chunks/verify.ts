/**
 * `verify`'s checks of the chunk index against the data (src/maintenance/verify.ts calls them on a
 * closed store's hot tier, or on a snapshot of an open one's):
 *   - `m·index` decodes; every listed segment's header and blocks decode;
 *   - `q` keys are exactly the stored bodies' (each body's docs: its distinct chunks, or itself inline);
 *   - once the index is complete and has caught up with the applied batches: every stored chunk and
 *     inline body is a doc of some segment, and a sample of them, retokenized, is found under each of
 *     its terms (junctions are not sampled).
 * Any problem is repaired by a rebuild (src/maintenance/reindex.ts), which `verify --repair` runs.
 */
import { P_BODY, P_CHUNK, P_DOC_BODY, prefixEnd } from "../../../tiers/hot/keys.js";
import type { HotReader } from "../../../tiers/hot/tier.js";
import { CorruptStoreError, TracetierError } from "../../base/errors.js";
import { chunkText } from "../../bodies/chunk-text.js";
import type { DictionarySource } from "../../bodies/codec.js";
import { inflateStored } from "../../bodies/codec.js";
import { decodeManifest } from "../../bodies/manifest.js";
import { termsOf } from "../text.js";
import {
  bodyDocOps,
  decodeIndexState,
  INDEX_KEY,
  type IndexState,
  STAGE_COMPLETE,
  STAGE_MAPS,
  segmentBlockKey,
  segmentHeaderKey,
} from "./keys.js";
import {
  blockOf,
  DOC_BYTES,
  decodeBlock,
  decodeHeader,
  docAt,
  docCount,
  type SegmentHeader,
} from "./segment.js";

export interface IndexFinding {
  where: string;
  what: string;
}

export interface IndexCheck {
  problems: IndexFinding[];
  /** Not problems: what the next open does (index the batches above indexedSeq, build an upgraded index). */
  pending: IndexFinding[];
  /** Not problems, nor finished by an open alone: an index being built in the background. */
  notes: string[];
}

/** Docs retokenized per verify. */
const SAMPLE = 200;
/** Findings of one kind reported one by one; beyond, a count. */
const LISTED = 20;

/**
 * `dictionaries`: the stored compression dictionaries (verify reads and checks them first). `live`: the
 * store is open (verify on a snapshot of it): what is not indexed yet, the running store indexes.
 */
export async function checkChunkIndex(
  hot: HotReader,
  appliedSeq: number | undefined,
  opts: { dictionaries: DictionarySource; live?: boolean },
): Promise<IndexCheck> {
  const out: IndexCheck = { problems: [], pending: [], notes: [] };
  const raw = await hot.get(INDEX_KEY);
  if (raw === undefined) {
    out.pending.push({
      where: "hot m·index",
      what: "absent: the next open builds the search index (an older layout)",
    });
    return out;
  }
  let state: IndexState;
  try {
    state = decodeIndexState(raw);
  } catch (err) {
    out.problems.push({ where: "hot m·index", what: (err as Error).message });
    return out;
  }
  if (state.stage === STAGE_MAPS) {
    out.pending.push({
      where: "hot m·index",
      what: "the search index's maps are being built: the next open finishes them",
    });
    return out;
  }
  const segments = await readSegments(hot, state, out);
  await checkDocBodies(hot, out);
  if (state.stage !== STAGE_COMPLETE) {
    out.notes.push(
      "hot m·index: the search index's postings are being built (in the background while the store is open, or by tracetier reindex); searches scan bodies meanwhile",
    );
    return out;
  }
  if (appliedSeq !== undefined && state.indexedSeq < appliedSeq) {
    out.pending.push({
      where: "hot m·index",
      what: `indexed up to batch ${state.indexedSeq} of ${appliedSeq}: ${opts.live ? "the running store indexes the rest (in the background)" : "the next open indexes the rest from the WAL"}`,
    });
    return out;
  }
  if (segments) await checkIndexed(hot, segments, opts.dictionaries, out);
  return out;
}

interface Loaded {
  headers: Map<number, SegmentHeader>;
  blocks: Map<string, Map<number, Uint32Array>>;
  docs: Set<string>;
}

async function readSegments(hot: HotReader, state: IndexState, out: IndexCheck): Promise<Loaded | undefined> {
  const loaded: Loaded = { headers: new Map(), blocks: new Map(), docs: new Set() };
  let sound = true;
  for (const id of state.segments) {
    const where = `hot chunk index segment ${id}`;
    const raw = await hot.get(segmentHeaderKey(id));
    if (raw === undefined) {
      out.problems.push({ where, what: "listed in m·index, but its header is not stored" });
      sound = false;
      continue;
    }
    try {
      const h = decodeHeader(raw, where);
      loaded.headers.set(id, h);
      for (let i = 0; i < docCount(h.docs); i++) loaded.docs.add(docAt(h.docs, i).toString("latin1"));
      const blocks = await hot.getMany([...h.firstTerms].map((_, b) => segmentBlockKey(id, b)));
      blocks.forEach((b, i) => {
        if (b === undefined) throw new Error(`block ${i} is not stored`);
        const decoded = decodeBlock(b, `${where} block ${i}`);
        for (const docs of decoded.values())
          if (docs.length > 0 && docs[docs.length - 1]! >= docCount(h.docs))
            throw new Error(`block ${i} names a doc past its table`);
        loaded.blocks.set(`${id}:${i}`, decoded);
      });
    } catch (err) {
      // a failed read (or an open store's close: ERR_CLOSED) ends the run; damage is a finding
      if (err instanceof TracetierError && !(err instanceof CorruptStoreError)) throw err;
      out.problems.push({ where, what: (err as Error).message });
      sound = false;
    }
  }
  return sound ? loaded : undefined;
}

/** `q` keys against the stored bodies. */
async function checkDocBodies(hot: HotReader, out: IndexCheck): Promise<void> {
  const expected = new Set<string>();
  for await (const batch of hot.entries(keyspace(P_BODY))) {
    for (const [key, manifest] of batch) {
      try {
        for (const op of bodyDocOps(key.subarray(1), manifest, "put"))
          expected.add(Buffer.from(op.key).toString("latin1"));
      } catch {
        // a manifest that does not decode is the body store's problem, reported there
      }
    }
  }
  const extra: string[] = [];
  for await (const batch of hot.entries(keyspace(P_DOC_BODY), false))
    for (const [key] of batch) if (!expected.delete(key.toString("latin1"))) extra.push(key.toString("hex"));
  report(
    out,
    extra,
    (k) => `hot q-key ${k}`,
    "names a body that is not stored (or a doc the body does not hold)",
  );
  report(
    out,
    [...expected].map((k) => Buffer.from(k, "latin1").toString("hex")),
    (k) => `hot q-key ${k}`,
    "missing: a stored body's chunk (or inline body) does not lead to it",
  );
}

/** Every stored chunk and inline body is a doc; a sample is found under each of its terms. */
async function checkIndexed(
  hot: HotReader,
  seg: Loaded,
  dicts: DictionarySource,
  out: IndexCheck,
): Promise<void> {
  const missing: string[] = [];
  const sample: { doc: Buffer; stored: Uint8Array }[] = [];
  let seen = 0;
  const textOf = (stored: Uint8Array): string | undefined => {
    try {
      return chunkText(inflateStored(stored, "a chunk", dicts)).text;
    } catch {
      return undefined; // the body store's problem, reported there
    }
  };
  const consider = (doc: Buffer, stored: Uint8Array) => {
    // a doc without a single indexable token (`{}`, a long hash) has nothing to post
    if (!seg.docs.has(doc.toString("latin1")) && termsOf(textOf(stored) ?? "").size > 0)
      missing.push(doc.toString("hex"));
    seen++;
    // reservoir sampling: every doc equally likely
    if (sample.length < SAMPLE) sample.push({ doc, stored });
    else {
      const j = Math.floor(Math.random() * seen);
      if (j < SAMPLE) sample[j] = { doc, stored };
    }
  };
  for await (const batch of hot.entries(keyspace(P_CHUNK)))
    for (const [key, stored] of batch) consider(key.subarray(1, 1 + DOC_BYTES), stored);
  for await (const batch of hot.entries(keyspace(P_BODY))) {
    for (const [key, manifest] of batch) {
      try {
        const m = decodeManifest(manifest);
        if (m.layout === "inline") consider(key.subarray(1, 1 + DOC_BYTES), m.stored);
      } catch {
        // the body store's problem
      }
    }
  }
  report(
    out,
    missing,
    (d) => `hot chunk index doc ${d}`,
    "a stored chunk or inline body that no segment indexes",
  );
  const unposted: string[] = [];
  for (const { doc, stored } of sample) {
    const text = textOf(stored);
    if (text === undefined) continue;
    for (const term of termsOf(text))
      if (!posted(seg, term, doc)) {
        unposted.push(`${doc.toString("hex")} term ${term}`);
        break;
      }
  }
  report(out, unposted, (d) => `hot chunk index doc ${d}`, "a term of the doc's text is not posted to it");
}

function posted(seg: Loaded, term: number, doc: Buffer): boolean {
  for (const [id, h] of seg.headers) {
    const b = blockOf(h, term);
    if (b < 0) continue;
    for (const d of seg.blocks.get(`${id}:${b}`)?.get(term) ?? [])
      if (docAt(h.docs, d).equals(doc)) return true;
  }
  return false;
}

function report(out: IndexCheck, items: string[], where: (item: string) => string, what: string): void {
  for (const it of items.slice(0, LISTED)) out.problems.push({ where: where(it), what });
  if (items.length > LISTED) out.problems.push({ where: where(`(${items.length - LISTED} more)`), what });
}

function keyspace(prefix: number): { gte: Buffer; lt: Buffer } {
  const p = Buffer.of(prefix);
  return { gte: p, lt: prefixEnd(p) };
}
