/** `tracetier search`: full-text search over bodies, log messages, span names and attribute values. */
import { parseTime } from "../../base/units.js";
import type { SearchHit, SearchOptions } from "../../types.js";
import { type Command, EXIT, str } from "../command.js";
import { REMOTE_OPTIONS, withReads } from "../target.js";

const FLAGS: [flag: string, field: "kind" | "extensionId" | "conversationId" | "turnId"][] = [
  ["kind", "kind"],
  ["extension", "extensionId"],
  ["conversation", "conversationId"],
  ["turn", "turnId"],
];

export const search: Command = {
  name: "search",
  summary: "find the records whose bodies, messages, names or attributes hold words or phrases",
  help: `tracetier search "<query>" [--from T] [--to T] [--kind K] [--extension E] [--conversation C]
                 [--turn T] [--limit N] [--order asc|desc] [--json] [--dir DIR]

The query: words (case-insensitive, all must occur), "exact phrases", -excluded words or phrases, and
fields: name:WORD (span name), model:WORD (gen_ai.request.model), attr.KEY:VALUE (attribute KEY).
Newest hits first (--order asc for oldest first), at most --limit (default 50, at most 1000). Times
are ms since the epoch, ISO dates or relative (-2h, -7d); --to is exclusive. Prints each hit (time,
kind, where it matched, name, turn, id) with a snippet; with --json, { hits, truncated }.
docs/search.md has the whole language.

Examples:
  tracetier search '"could not find the file"' --from -1d
  tracetier search 'invoice 4471 -draft' --conversation conv-7
  tracetier search 'model:gpt-4o timeout' --json | jq '.hits[].turnId'
`,
  options: {
    from: { type: "string" },
    to: { type: "string" },
    limit: { type: "string" },
    order: { type: "string" },
    ...REMOTE_OPTIONS,
    ...Object.fromEntries(FLAGS.map(([f]) => [f, { type: "string" as const }])),
  },
  positionals: [1, 1],
  async run(ctx) {
    const opts: SearchOptions = {};
    for (const [flag, field] of FLAGS) {
      const v = str(ctx.values, flag);
      if (v !== undefined) opts[field] = v;
    }
    const from = str(ctx.values, "from");
    const to = str(ctx.values, "to");
    if (from !== undefined) opts.from = parseTime(from, "from");
    if (to !== undefined) opts.to = parseTime(to, "to");
    const limit = str(ctx.values, "limit");
    if (limit !== undefined) opts.limit = Number(limit); // checked by the store, named "limit"
    const order = str(ctx.values, "order");
    if (order !== undefined) opts.order = order as SearchOptions["order"];
    const result = await withReads(ctx, (store) => store.search(ctx.positionals[0]!, opts));
    if (ctx.json) ctx.print(result);
    else {
      for (const hit of result.hits) ctx.out(hitLines(hit));
      if (result.hits.length === 0) ctx.out("no hits");
      if (result.truncated)
        ctx.out(`more hits than ${result.hits.length}: raise --limit or narrow the range`);
    }
    return EXIT.ok;
  },
};

function hitLines(h: SearchHit): string {
  const name = h.name === "" ? "" : `  ${h.name}`;
  return `${new Date(h.timestamp).toISOString()}  ${h.kind.padEnd(10)}  ${h.where.padEnd(10)}${name}  turn=${h.turnId || "-"}  id=${h.recordId}\n    ${h.snippet}`;
}
