/** `tracetier dump wal|manifest|partition|body`: any on-disk structure, readably or as JSON. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Manifest } from "../../../tiers/cold/manifest.js";
import { HotTier } from "../../../tiers/hot/tier.js";
import { InvalidOptionError } from "../../base/errors.js";
import {
  checkDate,
  checkRows,
  dumpBody,
  dumpManifest,
  dumpPartition,
  dumpWal,
  type PartitionDump,
  type WalSegmentDump,
} from "../../maintenance/dump.js";
import { formatBytes } from "../../read/easy-view.js";
import { type Command, type CommandContext, EXIT, str } from "../command.js";
import type { CollectorClient } from "../remote.js";
import { directOrCollector, REMOTE_OPTIONS } from "../target.js";

/** Where a dump reads from: the store's files (its lock held), or the collector that holds it. */
interface DumpSource {
  wal(): Promise<WalSegmentDump[]>;
  manifest(): Promise<Manifest>;
  partition(date: string, rows: number): Promise<PartitionDump>;
  body(ref: string): Promise<Record<string, unknown>>;
}

export const dump: Command = {
  name: "dump",
  summary: "print an on-disk structure: wal, manifest, partition <date>, body <hash|record id>",
  help: `tracetier dump wal | manifest | partition <YYYY-MM-DD> | body <sha256|record id>  [--rows N] [--json] [--dir DIR]

  wal                 every WAL segment: its frames (offset, size, checksum) and the batch each holds
  manifest            the cold manifest: generation, files, dropped files
  partition <date>    a partition's files: rows, bytes, time span, row groups with their statistics;
                      --rows N prints the first N rows of each file
  body <hash|id>      a body's manifest (inline or chunked, each chunk's stored size and codec), or its
                      eviction marker; by SHA-256 or by the id of a record that has it

Examples:
  tracetier dump wal
  tracetier dump partition 2026-11-01 --rows 3 --json
  tracetier dump body 74fb265462681e47
`,
  options: { rows: { type: "string" }, ...REMOTE_OPTIONS },
  positionals: [1, 2],
  async run(ctx) {
    const [what, arg] = ctx.positionals;
    const known = what === "wal" || what === "manifest" || ((what === "partition" || what === "body") && arg);
    if (!known)
      throw new InvalidOptionError(
        "dump",
        `takes wal, manifest, partition <date> or body <hash|id>, got "${ctx.positionals.join(" ")}"`,
      );
    return directOrCollector(
      ctx,
      () => directDump(ctx, (source) => print(ctx, source)),
      (client) => print(ctx, collectorSource(client)),
    );
  },
};

function print(ctx: CommandContext, source: DumpSource): Promise<number> {
  const [what, arg] = ctx.positionals;
  if (what === "wal") return printWal(ctx, source);
  if (what === "manifest") return printManifest(ctx, source);
  if (what === "partition") return printPartition(ctx, source, arg!);
  return printBody(ctx, source, arg!);
}

/**
 * The store's files, read with its lock held (so that no collector starts on it meanwhile). A
 * directory without a hot tier is no store: nothing holds it, and opening one would create it.
 */
async function directDump(ctx: CommandContext, use: (s: DumpSource) => Promise<number>): Promise<number> {
  const hotDir = join(ctx.dir, "hot");
  const hot = existsSync(hotDir) ? await HotTier.open(hotDir, ctx.dir) : undefined;
  try {
    return await use({
      wal: () => dumpWal(ctx.dir),
      manifest: () => dumpManifest(ctx.dir),
      partition: (date, rows) => dumpPartition(ctx.dir, date, rows),
      body: async (ref) => {
        if (!hot) throw new InvalidOptionError("dir", `${ctx.dir} holds no store (no hot tier)`);
        return dumpBody(hot, ctx.dir, ref);
      },
    });
  } finally {
    await hot?.close();
  }
}

function collectorSource(client: CollectorClient): DumpSource {
  const part = (s: string) => encodeURIComponent(s);
  return {
    wal: () => client.getJson("/v1/admin/dump/wal"),
    manifest: () => client.getJson("/v1/admin/dump/manifest"),
    partition: (date, rows) => client.getJson(`/v1/admin/dump/partition/${part(date)}`, { rows }),
    body: (ref) => client.getJson(`/v1/admin/dump/body/${part(ref)}`),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

async function printManifest(ctx: CommandContext, source: DumpSource): Promise<number> {
  const m = await source.manifest();
  if (ctx.json) ctx.print(m);
  else {
    ctx.out(
      `cold manifest: version ${m.version}, generation ${m.generation}, ${m.files.length} files, ${m.dropped.length} dropped awaiting clean-up`,
    );
    for (const f of m.files)
      ctx.out(
        `  ${f.name}  rows ${f.rows}  ${formatBytes(f.bytes)}  ${iso(f.minTs)} .. ${iso(f.maxTs)}  gen ${f.generation}  ${f.checksum ?? "no checksum"}`,
      );
    for (const f of m.dropped) ctx.out(`  dropped: ${f.name}`);
  }
  return EXIT.ok;
}

async function printWal(ctx: CommandContext, source: DumpSource): Promise<number> {
  const out = await source.wal();
  if (ctx.json) ctx.print(out);
  else {
    for (const s of out) {
      ctx.out(
        `wal/${s.file}: ${formatBytes(s.bytes)}, ${s.frames.length} frames${s.bad ? `, then ${s.bad.tornTail ? "a torn tail" : "CORRUPTION"} at ${s.bad.offset}: ${s.bad.reason}` : ""}`,
      );
      for (const f of s.frames)
        ctx.out(
          `  @${f.offset}  ${formatBytes(f.bytes)}  seq ${f.seqs[0]}..${f.seqs[1]}  ${f.records} records, ${f.newBodies} new bodies, ${f.newChunks} new chunks  crc ok`,
        );
    }
  }
  return EXIT.ok;
}

async function printPartition(ctx: CommandContext, source: DumpSource, date: string): Promise<number> {
  const out = await source.partition(checkDate(date), checkRows(str(ctx.values, "rows")));
  if (ctx.json) ctx.print(out);
  else {
    ctx.out(`partition date=${date}: ${out.length} files`);
    for (const f of out) {
      ctx.out(
        `  ${f.name}: ${f.rowCount} rows, ${formatBytes(f.bytes)}, ${iso(f.minTs)} .. ${iso(f.maxTs)}, ${f.rowGroups.length} row groups (${f.createdBy})`,
      );
      for (const g of f.rowGroups)
        ctx.out(
          `    rows ${g.rowStart}..${g.rowEnd}  turns ${g.minTurn}..${g.maxTurn}  ${iso(g.minTs)} .. ${iso(g.maxTs)}`,
        );
      for (const r of f.rows ?? [])
        ctx.out(`    ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);
    }
  }
  return EXIT.ok;
}

async function printBody(ctx: CommandContext, source: DumpSource, ref: string): Promise<number> {
  const out = await source.body(ref);
  if (ctx.json) ctx.print(out);
  else
    for (const [k, v] of Object.entries(out))
      ctx.out(
        `${k}: ${typeof v === "object" ? `\n${(v as unknown[]).map((c) => `  ${JSON.stringify(c)}`).join("\n")}` : v}`,
      );
  return EXIT.ok;
}
