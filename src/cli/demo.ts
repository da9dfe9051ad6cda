/**
 * The demo: what a newcomer runs first. It shows the write path and the figures that matter (records/s
 * durable, bytes on disk against raw JSON, a turn read back) on a realistic generated workload.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { diskBytes } from "../base/disk-usage.js";
import { openStore } from "../store.js";
import type { TraceRecord } from "../types.js";
import { generateTurns } from "../workload/generator.js";

export interface DemoOptions {
  dir: string | undefined;
  conversations: number;
  turns: number;
}

const BATCH = 500;

export async function runDemo(opts: DemoOptions): Promise<void> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), "tracetier-demo-")));
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out(`tracetier demo: ${opts.conversations} conversations × ${opts.turns} turns into ${dir}`);
  const records: TraceRecord[] = [];
  for (const turn of generateTurns({ conversations: opts.conversations, turnsPerConversation: opts.turns })) {
    records.push(...turn);
  }
  const rawBytes = records.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
  const store = await openStore({ dir });
  try {
    const start = performance.now();
    let inserted = 0;
    for (let i = 0; i < records.length; i += BATCH) {
      inserted += (await store.insertRecords(records.slice(i, i + BATCH))).inserted;
      if (process.stdout.isTTY) process.stdout.write(`\r  inserted ${inserted} of ${records.length}`);
    }
    const seconds = (performance.now() - start) / 1000;
    if (process.stdout.isTTY) process.stdout.write("\r");
    out(`  inserted ${inserted} records (${mb(rawBytes)} of JSON) in ${seconds.toFixed(2)} s, durable:`);
    out(`  ${Math.round(inserted / seconds)} records/s, ${(rawBytes / 1e6 / seconds).toFixed(1)} MB/s`);

    const turnId = records[Math.floor(records.length / 2)]!.turnId!;
    const t0 = performance.now();
    const turn = await store.getTurn(turnId);
    const readMs = performance.now() - t0;
    out();
    out(`turn ${turnId}: ${turn.length} records with bodies read in ${readMs.toFixed(2)} ms`);
    out(await store.easyView(turnId));
    out();
    const stats = await store.stats();
    await store.close();
    const disk = await diskBytes(dir);
    out("figures:");
    out(`  records ${stats.hotRecords}, distinct bodies ${stats.bodies}`);
    out(
      `  bodies: ${mb(stats.bodyBytesOriginal)} original, ${mb(stats.bodyBytesStored)} stored (chunk dedup + deflate)`,
    );
    out(`  disk: ${mb(disk)} for ${mb(rawBytes)} of raw JSON = ${(disk / rawBytes).toFixed(3)} of raw`);
  } finally {
    await store.close();
    if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
  }
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}
