/** `tracetier verify [--repair]`: checks every on-disk structure; exit 0 only when the store is clean. */
import { TracetierError } from "../../base/errors.js";
import { type VerifyReport, verifyStore } from "../../maintenance/verify.js";
import { type Command, type CommandContext, EXIT } from "../command.js";
import { withElapsed } from "../progress.js";
import type { CollectorClient } from "../remote.js";
import { runInCollector } from "../remote-store.js";
import { directOrCollector, REMOTE_OPTIONS } from "../target.js";

export const verify: Command = {
  name: "verify",
  summary:
    "check the WAL, the manifest, every Parquet file's checksum, pages and filters, every body and index; --repair the safe ones",
  help: `tracetier verify [--repair] [--json] [--dir DIR]

Checks, without changing anything: every WAL frame's checksum; the cold manifest against the files on
disk, each Parquet file's size and checksum against the manifest, every column of every row group
decoded, with the row count, and each file's lookup filters (turn ids in the manifest, record ids in
the footer) against its rows; every record's body (stored, or marked evicted), hot and cold; every chunk
a body lists; the hot tier's layout and its indexes against its records (since layout 2 it holds
nothing of cold records); the counters. A value that cannot be decoded is a problem, named with its
file or key. Prints each problem with its location.

While \`tracetier serve\` holds the store, verify runs inside the collector (found through
<dir>/collector/serve.json, or --url; --token or TRACETIER_TOKEN when it needs one): read-only, under its
maintenance lock (after a compaction or prune in progress), over one consistent snapshot of the hot
tier, while ingestion goes on. Batches in flight at that moment are listed as pending. --repair needs
the store closed: stop the collector first.

A store an unclean shutdown (a kill, a crash) left holds what the next open finishes by itself: WAL
frames not yet applied, files no manifest lists, records a compaction left in both tiers. A store an
older version wrote holds what the next open upgrades: turn → file and id entries of cold records,
files without filters, files its retention had not finished removing. Those are listed as pending,
under their own heading, and are not problems.

--repair fixes what is safe to fix (index entries whose record is gone, turn → file entries, missing
index entries, counters, files no manifest lists when the store cannot open), adds the checksum of each
sound cold file an older version listed without one, has a file whose filters miss rows rewritten with
correct ones, and says what it did; it never deletes a record or a body. Pending items and rewrites it
leaves to the store's own recovery and upgrade, which it runs by opening and closing the store.

Exit codes: 0 clean (or every problem repaired; pending items are not problems), 3 problems remain,
1 failure.

Examples:
  tracetier verify
  tracetier verify --repair --json
`,
  options: { repair: { type: "boolean" }, ...REMOTE_OPTIONS },
  positionals: [0, 0],
  async run(ctx) {
    const repair = ctx.values.repair === true;
    const report = await withElapsed(!ctx.quiet && !ctx.json, "verifying", (relabel) =>
      directOrCollector(
        ctx,
        () => verifyStore(ctx.dir, { repair }),
        (client) => verifyInCollector(ctx, client, repair, relabel),
      ),
    );
    const remaining = report.problems.filter((p) => !p.repaired);
    if (ctx.json) ctx.print({ clean: remaining.length === 0, ...report });
    else {
      const c = report.checked;
      ctx.out(
        `checked ${c.walFrames} WAL frames, ${c.coldFiles} cold files (${c.coldRows} rows), ${c.hotRecords} hot records, ${c.bodies} bodies, ${c.chunks} chunks`,
      );
      for (const n of report.notes) ctx.out(`note: ${n}`);
      if (report.pending.length > 0) {
        ctx.out("left by an unclean shutdown; the next open finishes these (not problems):");
        for (const p of report.pending) ctx.out(`  pending: ${p.where}: ${p.what}`);
      }
      for (const p of report.problems) {
        const tag = p.repaired ? "repaired" : p.repairable ? "problem (repairable)" : "problem";
        ctx.out(`${tag}: ${p.where}: ${p.what}`);
      }
      ctx.out(
        remaining.length === 0
          ? report.problems.length > 0
            ? "clean after repair"
            : "clean"
          : `${remaining.length} problem(s)`,
      );
    }
    return remaining.length === 0 ? EXIT.ok : EXIT.problems;
  },
};

function verifyInCollector(
  ctx: CommandContext,
  client: CollectorClient,
  repair: boolean,
  relabel: (label: string) => void,
): Promise<VerifyReport> {
  if (repair)
    throw new TracetierError(
      "ERR_LOCKED",
      `verify --repair needs the store closed, and the collector at ${client.link.url} holds ${ctx.dir}: stop it (SIGTERM), then run verify --repair; verify without --repair runs inside the running collector`,
    );
  return runInCollector(client, "verify", {}, (e) => {
    if (e.event === "waiting")
      relabel(`waiting for the collector's ${e.behind ?? "maintenance run"} to finish`);
    else if (e.event === "started") relabel("verifying");
  });
}
