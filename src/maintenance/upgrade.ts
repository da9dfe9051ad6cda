/**
 * The in-place upgrade of a store an older version wrote. Run at every open until it is done; each
 * step is crash-safe on its own and repeats harmlessly, so a crash anywhere resumes it at the next open.
 *
 * Layout 3 → 4 (the search index, src/search/chunks/): the layout is recorded with `m·index` at
 * STAGE_MAPS in one synced write, then the map is built here, at open, before any maintenance can
 * delete a body (a `q` key per stored body), and the postings in the background after the open
 * (ChunkIndex.buildInBackground; `tracetier reindex` does both in the foreground). Until they are done the index says `complete: false` and searches scan.
 * A crash redoes the current stage whole (puts only).
 *
 * Layout 2 → 3 (chunks may name a compression dictionary, src/bodies/dictionary.ts): nothing to
 * rewrite, old chunks stay readable as they are; the layout is recorded so that an older version,
 * which cannot read a dictionary-compressed chunk, refuses the store at open instead of failing reads.
 *
 * Layout 1 (written before the cold tier owned its indexes: cold manifest version 3 and older):
 *
 *   1. the hot tier forgets its cold records: every turn → file entry (`f`) and every id entry (`i`)
 *      whose record is no longer hot go, then layout 2 is recorded, in synced writes. Until step 2 is
 *      done, lookups treat a file without filters as a candidate for everything, so they stay exact;
 *   2. every cold file without lookup filters is rewritten with them (Compactor.addFilters, one manifest
 *      commit each, like a merge);
 *   3. files an older manifest lists as dropped are removed (Pruner.finishDrops, at open).
 */
import { metaKey, P_ID, P_TURN_FILE, prefixEnd } from "../../tiers/hot/keys.js";
import type { BatchOp, HotReader, HotTier } from "../../tiers/hot/tier.js";
import { CorruptStoreError } from "../base/errors.js";
import { decodeStored, encode } from "../base/msgpack.js";
import { type ChunkIndex, STAGE_MAPS } from "../search/chunks/index.js";
import type { WritePath } from "../write/path.js";
import type { Compactor } from "./compaction.js";

/** The current layout: 4, the search index's keys (`q`, `x`, `m·index`) are maintained. */
export const HOT_LAYOUT = 4;
/** Layout 3: chunks may be compressed with a stored dictionary. */
export const LAYOUT_DICTIONARIES = 3;
/** From layout 2 on, the hot tier holds entries of hot records only (absent in a layout 1 store). */
export const LAYOUT_HOT_ONLY = 2;
const LAYOUT_KEY = metaKey("layout");
/** Deletes per LevelDB write while the hot tier forgets its cold records. */
const OPS_PER_WRITE = 20_000;

export async function upgrade(
  hot: HotTier,
  writes: WritePath,
  compactor: Compactor,
  index: ChunkIndex,
): Promise<void> {
  const layout = await hotLayout(hot);
  // the index's state goes with the layout: a new store's complete one, an older store's STAGE_MAPS
  if (layout < LAYOUT_HOT_ONLY) await forgetColdRecords(hot, writes, index.stateOp());
  else if (layout < HOT_LAYOUT)
    await writes.maintain((c) => ({ ops: [layoutOp(), index.stateOp()], counters: c }));
  if (index.stage === STAGE_MAPS && index.enabled) await index.buildMaps();
  try {
    await compactor.addFilters();
  } catch (err) {
    // Not needed for correctness (a file without filters is asked every lookup): the next open retries,
    // and the operator hears of it (a full disk, an I/O error) rather than finding lookups slow.
    process.emitWarning(
      `tracetier: adding lookup filters to older cold files failed, the next open retries: ${(err as Error).message}`,
      "UpgradeWarning",
    );
  }
}

/** 1 when `m·layout` is absent (an older version wrote the store); anything but 2, 3 or 4 stored is corrupt. */
export async function hotLayout(hot: HotReader): Promise<number> {
  const raw = await hot.get(LAYOUT_KEY);
  if (raw === undefined) return 1;
  const v = decodeStored(raw, "the hot tier's layout (m·layout)");
  if (v !== LAYOUT_HOT_ONLY && v !== LAYOUT_DICTIONARIES && v !== HOT_LAYOUT)
    throw new CorruptStoreError(`the hot tier's layout (m·layout) is unknown: ${String(v)}`);
  return v;
}

/** Step 1. An id entry is kept exactly when its record is in the hot tier. */
async function forgetColdRecords(hot: HotTier, writes: WritePath, indexState: BatchOp): Promise<void> {
  let ops: BatchOp[] = [];
  const flush = async (sync: boolean) => {
    const part = ops;
    ops = [];
    await writes.maintain((c) => ({ ops: part, counters: c }), sync);
  };
  const files = Buffer.of(P_TURN_FILE);
  for await (const batch of hot.entries({ gte: files, lt: prefixEnd(files) }, false)) {
    for (const [key] of batch) ops.push({ type: "del", key });
    if (ops.length >= OPS_PER_WRITE) await flush(false);
  }
  const ids = Buffer.of(P_ID);
  for await (const batch of hot.entries({ gte: ids, lt: prefixEnd(ids) })) {
    const present = await hot.getMany(batch.map(([, pk]) => pk));
    batch.forEach(([key], i) => {
      if (present[i] === undefined) ops.push({ type: "del", key });
    });
    if (ops.length >= OPS_PER_WRITE) await flush(false);
  }
  ops.push(layoutOp(), indexState);
  await flush(true); // LevelDB's log is in order: the layout is recorded after every delete before it
}

function layoutOp(): BatchOp {
  return { type: "put", key: LAYOUT_KEY, value: encode(HOT_LAYOUT) };
}
