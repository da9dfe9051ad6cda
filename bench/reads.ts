/**
 * The read half of the benchmark, run in its own process by run.ts so that neither store is measured
 * inside a heap holding the whole generated workload (a reader process does not). Prints JSON.
 * Arguments: <tracetier dir> <sqlite path> <file with JSON { turnIds, bigIds }>.
 *
 * Two figures per read: "first" is each turn's first read after the store opens (LevelDB loads table
 * blocks, V8 compiles the read path); "steady" is after one pass over every turn, as in a long-running
 * collector. The same procedure is applied to the baseline, interleaved with tracetier's reads (one
 * call of each in turn, `interleaved`), so that both see the same neighbours on a shared machine.
 *
 * The floor (`floor.*`): the LevelDB calls a getTurn cannot do without, timed alone with classic-level
 * on the store's own database handle: the range of the turn's records (one nextv), and one getSync
 * per body manifest. `floor.turn` is interleaved with the steady reads, on the same turns.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { decodeManifest } from "../src/bodies/manifest.js";
import { openStore, type TraceStore } from "../src/index.js";
import { groupPrefix, hashKey, P_BODY, P_CHUNK, P_RECORD, prefixEnd } from "../tiers/hot/keys.js";
import { HOT_DB_OPTIONS } from "../tiers/hot/tier.js";
import { decodeRecordValue } from "../tiers/hot/values.js";
import { openBaseline } from "./baseline-sqlite.js";
import { interleaved, latency } from "./stats.js";

const [ttDir, sqlitePath, idsFile] = process.argv.slice(2) as [string, string, string];
const { turnIds, bigIds } = JSON.parse(readFileSync(idsFile, "utf8")) as {
  turnIds: string[];
  bigIds: string[];
};
const RUNS = 2000;
const WARMUP = 100;
const turn = (i: number) => turnIds[(i * 7919) % turnIds.length]!;
const big = (i: number) => bigIds[i % bigIds.length]!;

const inOrder = (i: number) => turnIds[i % turnIds.length]!;

type Latency = { p50: number; p99: number };
type Db = ClassicLevel<Buffer, Buffer>;

/** The keys a turn's read touches: its records' range, its bodies' manifests, their distinct chunks. */
interface TurnKeys {
  range: { gte: Buffer; lt: Buffer };
  manifests: Buffer[];
  chunks: Buffer[];
}

async function main(): Promise<void> {
  const out: Record<string, Latency> = {};
  const base = openBaseline(sqlitePath, "fast");
  const store = await openStore({ dir: ttDir });
  put(
    out,
    ["first.cached", "first.baseline"],
    await interleaved(turnIds.length, 0, [
      (i) => store.getTurn(inOrder(i)),
      (i) => base.getTurn(inOrder(i), true),
    ]),
  );
  const db = storeDb(store);
  const keys = new Map<string, TurnKeys>();
  for (const id of turnIds) keys.set(id, await turnKeys(db, id));
  const k = (i: number) => keys.get(turn(i))!;
  put(
    out,
    ["turn.cached", "turn.baseline"],
    await interleaved(RUNS, WARMUP, [(i) => store.getTurn(turn(i)), (i) => base.getTurn(turn(i), true)]),
  );
  // The floor against tracetier alone: interleaved with the baseline too, it would take the collections
  // of the baseline's garbage (a whole body string a record) into its own time.
  put(
    out,
    ["turn.vsfloor", "floor.turn"],
    await interleaved(RUNS, WARMUP, [
      (i) => store.getTurn(turn(i)),
      async (i) => {
        await nextv(db, k(i));
        getEach(db, k(i).manifests);
      },
    ]),
  );
  put(
    out,
    ["thin.cached", "thin.baseline"],
    await interleaved(RUNS, WARMUP, [
      (i) => store.getTurn(turn(i), { bodies: false }),
      (i) => base.getTurn(turn(i), false),
    ]),
  );
  put(
    out,
    ["body.cached", "body.baseline"],
    await interleaved(RUNS, WARMUP, [(i) => store.getBody(big(i)), (i) => base.getBody(big(i))]),
  );
  out["floor.get1"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(i).manifests.slice(0, 1)));
  out["floor.nextv"] = await latency(RUNS, WARMUP, (i) => nextv(db, k(i)));
  out["floor.manifests"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(i).manifests));
  out["floor.chunks"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(i).chunks));
  await store.close();
  base.close();

  const uncached = await openStore({ dir: ttDir, chunkCacheBytes: 0 });
  out["first.uncached"] = await latency(turnIds.length, 0, (i) => uncached.getTurn(inOrder(i)));
  out["turn.uncached"] = await latency(RUNS, WARMUP, (i) => uncached.getTurn(turn(i)));
  out["body.uncached"] = await latency(RUNS, WARMUP, (i) => uncached.getBody(big(i)));
  await uncached.close();

  out["floor.first"] = await firstFloor(keys);
  process.stdout.write(JSON.stringify(out));
}

function put(out: Record<string, Latency>, names: string[], figures: Latency[]): void {
  names.forEach((n, i) => {
    out[n] = figures[i]!;
  });
}

/**
 * The store's own classic-level handle (its LOCK keeps a second one from opening while it is open).
 * A private field, reached only here: the floor must be classic-level alone, with none of our code.
 */
function storeDb(store: TraceStore): Db {
  return (store as unknown as { hot: { db: Db } }).hot.db;
}

async function turnKeys(db: Db, turnId: string): Promise<TurnKeys> {
  const head = groupPrefix(P_RECORD, turnId);
  const range = { gte: head, lt: prefixEnd(head) };
  const manifests = new Map<string, Buffer>();
  for (const v of await db.values(range).all()) {
    const h = decodeRecordValue(v).bodyHash;
    if (h) manifests.set(Buffer.from(h).toString("hex"), hashKey(P_BODY, h));
  }
  const chunks = new Map<string, Buffer>();
  for (const key of manifests.values()) {
    const m = decodeManifest(db.getSync(key)!);
    if (m.layout === "chunked") for (const c of m.chunks) chunks.set(c.toString("hex"), hashKey(P_CHUNK, c));
  }
  return { range, manifests: [...manifests.values()], chunks: [...chunks.values()] };
}

/** A turn's record range as the hot tier reads it: one nextv, the close not waited for. */
async function nextv(db: Db, t: TurnKeys): Promise<void> {
  const it = db.values({ ...t.range, highWaterMarkBytes: 1 << 20 });
  await it.nextv(1000);
  it.close().catch(() => {});
}

function getEach(db: Db, keys: Buffer[]): void {
  for (const key of keys) db.getSync(key);
}

/** A first read's LevelDB calls (records, manifests, chunks), on a fresh open, in "first"'s order. */
async function firstFloor(keys: Map<string, TurnKeys>): Promise<Latency> {
  const db = new ClassicLevel<Buffer, Buffer>(join(ttDir, "hot"), HOT_DB_OPTIONS);
  await db.open();
  const out = await latency(turnIds.length, 0, async (i) => {
    const t = keys.get(inOrder(i))!;
    await nextv(db, t);
    getEach(db, t.manifests);
    getEach(db, t.chunks);
  });
  await db.close();
  return out;
}

void main();
