/** `tracetier dump wal|manifest|partition|body`: any on-disk structure, readably or as JSON. */
import { join } from "node:path";
import { idHash } from "../../../tiers/cold/filter.js";
import { loadManifest } from "../../../tiers/cold/manifest.js";
import { readParquetColumns, readParquetInfo } from "../../../tiers/cold/parquet.js";
import { hashKey, idKey, P_BODY, P_CHUNK, P_EVICTED } from "../../../tiers/hot/keys.js";
import { HotTier } from "../../../tiers/hot/tier.js";
import { bodyHashOf } from "../../../tiers/hot/values.js";
import { inspectWal } from "../../../wal/reader.js";
import { InvalidOptionError } from "../../base/errors.js";
import { codecName } from "../../bodies/codec.js";
import { decodeEvicted, decodeManifest } from "../../bodies/manifest.js";
import { formatBytes } from "../../read/easy-view.js";
import { decodeBatch } from "../../write/batch.js";
import { type Command, type CommandContext, EXIT, str } from "../command.js";

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
  options: { rows: { type: "string" } },
  positionals: [1, 2],
  async run(ctx) {
    const [what, arg] = ctx.positionals;
    if (what === "wal") return dumpWal(ctx);
    if (what === "manifest") {
      const m = await loadManifest(join(ctx.dir, "cold"));
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
    if (what === "partition" && arg) return dumpPartition(ctx, arg);
    if (what === "body" && arg) return dumpBody(ctx, arg);
    throw new InvalidOptionError(
      "dump",
      `takes wal, manifest, partition <date> or body <hash|id>, got "${ctx.positionals.join(" ")}"`,
    );
  },
};

const iso = (ms: number) => new Date(ms).toISOString();

async function dumpWal(ctx: CommandContext): Promise<number> {
  const segments = await inspectWal(join(ctx.dir, "wal"));
  const out = segments.map((s) => ({
    file: s.file,
    bytes: s.bytes,
    frames: s.frames.map((f) => {
      const b = decodeBatch(f.payload, { segment: s.file, offset: f.offset });
      return {
        offset: f.offset,
        bytes: f.payload.length,
        seqs: [b.firstSeq, b.lastSeq],
        records: b.records.length,
        newBodies: b.bodies.bodies.length,
        newChunks: b.bodies.chunks.length,
      };
    }),
    bad: s.bad,
  }));
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

async function dumpPartition(ctx: CommandContext, date: string): Promise<number> {
  const coldDir = join(ctx.dir, "cold");
  const files = (await loadManifest(coldDir)).files.filter((f) => f.date === date);
  const rowsWanted = Number(str(ctx.values, "rows") ?? 0);
  const out = [];
  for (const f of files) {
    const info = await readParquetInfo(join(coldDir, f.name));
    const rows =
      rowsWanted > 0
        ? ((await readParquetColumns(join(coldDir, f.name), undefined)) ?? []).slice(0, rowsWanted)
        : [];
    out.push({
      ...f,
      rowGroups: info.groups,
      createdBy: info.metadata.created_by,
      rows: rowsWanted > 0 ? rows : undefined,
      rowCount: f.rows,
    });
  }
  if (ctx.json) ctx.print(out);
  else {
    ctx.out(`partition date=${date}: ${files.length} files`);
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

async function dumpBody(ctx: CommandContext, ref: string): Promise<number> {
  const hot = await HotTier.open(join(ctx.dir, "hot"), ctx.dir);
  try {
    const hash = await resolveHash(hot, ctx.dir, ref);
    if (!hash)
      throw new InvalidOptionError(
        "body",
        `"${ref}" is neither a stored body's SHA-256 nor the id of a record with a body`,
      );
    const [manifest, marker] = hot.getManySync([hashKey(P_BODY, hash), hashKey(P_EVICTED, hash)]);
    let out: Record<string, unknown>;
    if (manifest) {
      const m = decodeManifest(manifest);
      const chunks = m.layout === "chunked" ? hot.getManySync(m.chunks.map((c) => hashKey(P_CHUNK, c))) : [];
      out = {
        sha256: hash.toString("hex"),
        layout: m.layout,
        originalBytes: m.originalBytes,
        manifestBytes: manifest.length,
        ...(m.layout === "inline"
          ? { storedBytes: m.stored.length, codec: codecName(m.stored) }
          : {
              chunks: m.chunks.map((c, i) => ({
                sha256: c.toString("hex"),
                storedBytes: chunks[i]?.length,
                codec: chunks[i] ? codecName(chunks[i]!) : "MISSING",
              })),
            }),
      };
    } else if (marker)
      out = { sha256: hash.toString("hex"), evicted: true, originalBytes: decodeEvicted(marker) };
    else out = { sha256: hash.toString("hex"), stored: false };
    if (ctx.json) ctx.print(out);
    else
      for (const [k, v] of Object.entries(out))
        ctx.out(
          `${k}: ${typeof v === "object" ? `\n${(v as unknown[]).map((c) => `  ${JSON.stringify(c)}`).join("\n")}` : v}`,
        );
    return EXIT.ok;
  } finally {
    await hot.close();
  }
}

/** A body's hash from itself, or from the id of a hot or cold record. */
async function resolveHash(hot: HotTier, dir: string, ref: string): Promise<Buffer | undefined> {
  if (/^[0-9a-f]{64}$/i.test(ref)) return Buffer.from(ref, "hex");
  if (!/^[0-9a-f]{16}$/.test(ref)) return undefined;
  const pk = hot.getManySync([idKey(ref)])[0];
  const value = pk && hot.getManySync([pk])[0];
  if (value) {
    const h = bodyHashOf(value);
    return h ? Buffer.from(h) : undefined;
  }
  // A cold record: the files whose record-id filters may hold it (all of them, for a file without one).
  const cold = join(dir, "cold");
  for (const file of (await loadManifest(cold)).files) {
    const path = join(cold, file.name);
    const ids = (await readParquetInfo(path)).ids;
    if (ids && !ids.mayHave(idHash(ref))) continue;
    const row = (await readParquetColumns(path, ["id", "bodyHash"]))?.find((r) => r.id === ref);
    if (row) return typeof row.bodyHash === "string" ? Buffer.from(row.bodyHash, "hex") : undefined;
  }
  return undefined;
}
