/**
 * Cold search sidecars on the month workload (bench/month.ts): what they cost. Not wired into run.ts
 * (the coordinator does that); each mode prints one JSON line.
 *
 *   tsx bench/sidecar.ts build <records> [days]
 *       the month's records grouped into hourly files as compaction groups them; per file the Parquet
 *       encoding alone and with its sidecar (encodeRecords), and the sidecar build alone (rows in
 *       arrival order: the same work as in file order, bytes of the written one): sidecar bytes
 *       per record, build rate, and the encoder's time with ÷ without
 *   tsx bench/sidecar.ts prepare <dir> <records> [days]   ingest into a store (durability none), close
 *   tsx bench/sidecar.ts compact <dir> on|off [days]      open, compact everything with sidecars on or
 *       off (sidecarSettings.build, the internal switch), JSON: records/s and CPU seconds
 */
import { createHash } from "node:crypto";
import { openStore, stableId, type TraceRecord } from "../src/index.js";
import { buildSidecar, sidecarSettings } from "../tiers/cold/sidecar.js";
import { encodeRecords } from "../tiers/cold/writer.js";
import type { TierRecord } from "../tiers/record.js";
import { DAY, MONTH_START, turnsOver } from "./month.js";

const HOUR = 3_600_000;
const [mode, ...args] = process.argv.slice(2) as [string, ...string[]];

function hourlyFiles(count: number, days: number): TierRecord[][] {
  const files = new Map<number, TierRecord[]>();
  let seq = 0;
  for (const turn of turnsOver(count, days)) {
    for (const r of turn) {
      const { body, ...record } = r;
      const bodyHash = body === undefined ? null : createHash("sha256").update(body).digest();
      const tr: TierRecord = { id: stableId(r), seq: ++seq, record, bodyHash };
      const h = Math.floor(r.timestamp / HOUR);
      const list = files.get(h);
      if (list) list.push(tr);
      else files.set(h, [tr]);
    }
  }
  return [...files.values()];
}

function build(count: number, days: number): void {
  const files = hourlyFiles(count, days);
  const records = files.reduce((n, f) => n + f.length, 0);
  let plainMs = 0;
  let withMs = 0;
  let buildMs = 0;
  let sidecarBytes = 0;
  let parquetBytes = 0;
  for (const f of files) {
    let t = performance.now();
    const plain = encodeRecords(f, false);
    plainMs += performance.now() - t;
    t = performance.now();
    const withIndex = encodeRecords(f, true);
    withMs += performance.now() - t;
    t = performance.now();
    const sources = f.map((r) => {
      const rec = r.record as { msg?: string; name?: string; attributes?: unknown };
      return { msg: rec.msg, name: rec.name, attributes: rec.attributes, bodyHash: r.bodyHash };
    });
    const side = buildSidecar(sources);
    buildMs += performance.now() - t;
    if (side.length === 0) throw new Error("no sidecar");
    sidecarBytes += withIndex.index!.length; // rows in file order, as written
    parquetBytes += plain.bytes.length;
  }
  console.log(
    JSON.stringify({
      mode: "build",
      records,
      files: files.length,
      sidecarBytes,
      sidecarBytesPerRecord: +(sidecarBytes / records).toFixed(2),
      parquetBytesPerRecord: +(parquetBytes / records).toFixed(2),
      buildRecordsPerSec: Math.round(records / (buildMs / 1000)),
      encodeMsWithout: Math.round(plainMs),
      encodeMsWith: Math.round(withMs),
      encodeRateWithOverWithout: +(plainMs / withMs).toFixed(3),
    }),
  );
}

async function prepare(dir: string, count: number, days: number): Promise<void> {
  const store = await openStore({ dir, durability: "none" });
  let batch: TraceRecord[] = [];
  for (const t of turnsOver(count, days)) {
    batch.push(...t);
    if (batch.length >= 2000) {
      await store.insertRecords(batch);
      batch = [];
    }
  }
  await store.insertRecords(batch);
  await store.close();
}

async function compact(dir: string, on: boolean, days: number): Promise<void> {
  sidecarSettings.build = on;
  const store = await openStore({ dir });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await store.compact({ now: MONTH_START + (days + 10) * DAY });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  console.log(
    JSON.stringify({
      mode: "compact",
      sidecars: on,
      moved: result.recordsMoved,
      seconds: +seconds.toFixed(2),
      recordsPerSec: Math.round(result.recordsMoved / seconds),
      cpuSecs: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    }),
  );
}

if (mode === "build") build(Number(args[0]), Number(args[1] ?? 30));
else if (mode === "prepare") await prepare(args[0]!, Number(args[1]), Number(args[2] ?? 30));
else if (mode === "compact") await compact(args[0]!, args[1] === "on", Number(args[2] ?? 30));
else throw new Error(`unknown mode ${mode}`);
