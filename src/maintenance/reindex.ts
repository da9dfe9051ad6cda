/**
 * `tracetier reindex` and `verify --repair`'s rebuild of the search index (src/search/chunks/): drops
 * the index (segments, `q` keys, `m·index` back to STAGE_MAPS), then builds it from what the hot
 * tier holds, in the foreground: the map (a `q` key per stored body), then the postings of every
 * stored chunk and inline body and the junctions of every body; the last write records STAGE_COMPLETE. A store whose index is incomplete (upgraded from layout
 * 3, or killed during a rebuild) builds it in the background at open instead; this is the same work,
 * done now, with progress. The store must be otherwise idle (the CLI opens it alone).
 */
import { InvalidOptionError } from "../base/errors.js";
import type { BuildProgress, ChunkIndex } from "../search/chunks/index.js";
import type { TraceStore } from "../store.js";

export function chunkIndexOf(store: TraceStore): ChunkIndex {
  const index = (store as { chunkIndex?: ChunkIndex }).chunkIndex;
  if (index === undefined) throw new InvalidOptionError("store", "must be a store opened by openStore");
  return index;
}

export async function reindex(
  store: TraceStore,
  progress?: BuildProgress,
  coldProgress?: (done: number, total: number) => void,
): Promise<{ coldFilesIndexed: number }> {
  const index = chunkIndexOf(store);
  await index.caughtUp();
  await index.drop();
  await index.buildMaps(progress);
  await index.buildPostings(progress);
  return { coldFilesIndexed: await coldFilesIndexed(store, coldProgress) };
}

/**
 * Waits for the open's background upgrade of cold files an older version wrote (each gets its search
 * sidecar, tiers/cold/sidecars.ts), reporting its progress from now on; how many it indexed.
 */
async function coldFilesIndexed(
  store: TraceStore,
  progress?: (done: number, total: number) => void,
): Promise<number> {
  const s = store as { coldIndexing?: Promise<{ indexed: number } | undefined>; coldIndexProgress?: unknown };
  s.coldIndexProgress = progress;
  return (await s.coldIndexing)?.indexed ?? 0;
}
