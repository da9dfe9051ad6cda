/** `tracetier reindex`: rebuilds the search index's hot part from the stored bodies. */
import { reindex as rebuild } from "../../maintenance/reindex.js";
import { type Command, EXIT, withStore } from "../command.js";

export const reindex: Command = {
  name: "reindex",
  summary: "rebuild the search index of bodies (hot tier) from scratch, with progress",
  help: `tracetier reindex [--json] [--dir DIR]

Drops the body search index (postings segments and chunk → body keys) and builds it again from the
stored bodies: every stored chunk and inline body is tokenized once, and the words across each chunk
cut are indexed under the later chunk. A store written before the
search index existed (layout 3) gets its index in the background at its first open; this command does
the same work in the foreground. Cold files written before it get their index (a sidecar file each)
in the background at open too; this command waits for that and reports it. Searches stay exact while
an index is incomplete (they scan bodies, and read cold files without a sidecar whole).
The store must not be open elsewhere.

Examples:
  tracetier reindex
  tracetier reindex --json --dir ./data
`,
  options: {},
  positionals: [0, 0],
  async run(ctx) {
    const started = performance.now();
    const shown = !ctx.quiet && !ctx.json && process.stderr.isTTY;
    const counts = { bodies: 0, chunks: 0, coldFiles: 0 };
    await withStore(ctx.dir, async (store) => {
      const { coldFilesIndexed } = await rebuild(
        store,
        (phase, done) => {
          counts[phase] = done;
          if (shown) process.stderr.write(`\rreindexing: ${phase} ${done}\x1b[K`);
        },
        (done, total) => {
          if (shown) process.stderr.write(`\rindexing cold files: ${done}/${total}\x1b[K`);
        },
      );
      counts.coldFiles = coldFilesIndexed;
    });
    if (shown) process.stderr.write("\r\x1b[K");
    const seconds = (performance.now() - started) / 1000;
    if (ctx.json) ctx.print({ ...counts, seconds });
    else
      ctx.out(
        `reindexed ${counts.chunks} chunks and ${counts.bodies} bodies, and gave ${counts.coldFiles} cold files their index, in ${seconds.toFixed(1)} s`,
      );
    return EXIT.ok;
  },
};
