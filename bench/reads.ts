/**
 * The read half of the benchmark, run in its own process by run.ts so that neither store is measured
 * inside a heap holding the whole generated workload (a reader process does not). Prints JSON.
 * Arguments: <tracetier dir> <sqlite path> <file with JSON { turnIds, bigIds }>.
 *
 * Two figures per read: "first" is each turn's first read after the store opens (LevelDB loads table
 * blocks, V8 compiles the read path); "steady" is after one pass over every turn, as in a long-running
 * collector. The same procedure is applied to the baseline. Then the floor (`floor.*`): the LevelDB
 * calls a getTurn cannot do without, timed alone on the store's database (see floorRows in run.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { decodeManifest } from "../src/bodies/manifest.js";
import { openStore } from "../src/index.js";
import { groupPrefix, hashKey, P_BODY, P_CHUNK, P_RECORD, prefixEnd } from "../tiers/hot/keys.js";
import { HOT_DB_OPTIONS } from "../tiers/hot/tier.js";
import { decodeRecordValue } from "../tiers/hot/values.js";
import { openBaseline } from "./baseline-sqlite.js";
import { latency } from "./stats.js";

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

async function main(): Promise<void> {
  const out: Record<string, Latency> = {};
  for (const [name, cache] of [
    ["cached", undefined],
    ["uncached", 0],
  ] as const) {
    const store = await openStore({ dir: ttDir, chunkCacheBytes: cache });
    out[`first.${name}`] = await latency(turnIds.length, 0, (i) => store.getTurn(inOrder(i)));
    out[`turn.${name}`] = await latency(RUNS, WARMUP, (i) => store.getTurn(turn(i)));
    out[`thin.${name}`] = await latency(RUNS, WARMUP, (i) => store.getTurn(turn(i), { bodies: false }));
    out[`body.${name}`] = await latency(RUNS, WARMUP, (i) => store.getBody(big(i)));
    await store.close();
  }
  Object.assign(out, await floors());
  const base = openBaseline(sqlitePath, "fast");
  out["first.baseline"] = await latency(turnIds.length, 0, (i) => base.getTurn(inOrder(i), true));
  out["turn.baseline"] = await latency(RUNS, WARMUP, (i) => base.getTurn(turn(i), true));
  out["thin.baseline"] = await latency(RUNS, WARMUP, (i) => base.getTurn(turn(i), false));
  out["body.baseline"] = await latency(RUNS, WARMUP, (i) => base.getBody(big(i)));
  base.close();
  process.stdout.write(JSON.stringify(out));
}

/** The keys a turn's read touches: its records' range, its bodies' manifests, their distinct chunks. */
interface TurnKeys {
  range: { gte: Buffer; lt: Buffer };
  manifests: Buffer[];
  chunks: Buffer[];
}

type Db = ClassicLevel<Buffer, Buffer>;

async function openDb(): Promise<Db> {
  const db = new ClassicLevel<Buffer, Buffer>(join(ttDir, "hot"), HOT_DB_OPTIONS);
  await db.open();
  return db;
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

async function nextv(db: Db, k: TurnKeys): Promise<void> {
  const it = db.values(k.range);
  await it.nextv(1000);
  await it.close();
}

function getEach(db: Db, keys: Buffer[]): void {
  for (const key of keys) db.getSync(key);
}

/**
 * The floor, on the store's database opened as the hot tier opens it: the first read's on a fresh
 * open, in the order "first" read the turns, then the steady ones in the order "turn" read them.
 */
async function floors(): Promise<Record<string, Latency>> {
  const keys = new Map<string, TurnKeys>();
  let db = await openDb();
  for (const id of turnIds) keys.set(id, await turnKeys(db, id));
  await db.close();
  db = await openDb();
  const out: Record<string, Latency> = {};
  const k = (id: string) => keys.get(id)!;
  out["floor.first"] = await latency(turnIds.length, 0, async (i) => {
    const t = k(inOrder(i));
    await nextv(db, t);
    getEach(db, t.manifests);
    getEach(db, t.chunks);
  });
  out["floor.get1"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(turn(i)).manifests.slice(0, 1)));
  out["floor.nextv"] = await latency(RUNS, WARMUP, (i) => nextv(db, k(turn(i))));
  out["floor.manifests"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(turn(i)).manifests));
  out["floor.chunks"] = await latency(RUNS, WARMUP, (i) => getEach(db, k(turn(i)).chunks));
  out["floor.turn"] = await latency(RUNS, WARMUP, async (i) => {
    const t = k(turn(i));
    await nextv(db, t);
    getEach(db, t.manifests);
  });
  await db.close();
  return out;
}

void main();
