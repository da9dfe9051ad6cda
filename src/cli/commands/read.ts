/** `tracetier turn` and `tracetier query`: reads, as text for people or JSON for scripts. */
import { InvalidOptionError } from "../../base/errors.js";
import { parseTime } from "../../base/units.js";
import type { Query, StoredRecord } from "../../types.js";
import { type Command, EXIT, str } from "../command.js";
import { REMOTE_OPTIONS, withReads } from "../target.js";

export const turn: Command = {
  name: "turn",
  summary: "print a turn as its easy view, or its records as JSON",
  help: `tracetier turn <turnId> [--json] [--bodies] [--dir DIR]

Prints the turn's easy view (an indented tree of spans and logs). With --json, its records as a JSON
array, in (timestamp, insertion) order; --bodies includes the bodies.

Examples:
  tracetier turn 4bf92f3577b34da6a3ce929d0e0e4736
  tracetier turn t1 --json --bodies | jq '.[] | select(.kind == "span-close")'
`,
  options: { bodies: { type: "boolean" }, ...REMOTE_OPTIONS },
  positionals: [1, 1],
  async run(ctx) {
    const turnId = ctx.positionals[0]!;
    await withReads(ctx, async (store) => {
      if (ctx.json) ctx.print(await store.getTurn(turnId, { bodies: ctx.values.bodies === true }));
      else ctx.out(await store.easyView(turnId));
    });
    return EXIT.ok;
  },
};

const FLAGS: [flag: string, field: keyof Query][] = [
  ["kind", "kind"],
  ["level", "level"],
  ["name", "name"],
  ["status", "status"],
  ["extension", "extensionId"],
  ["conversation", "conversationId"],
  ["turn", "turnId"],
];

export const query: Command = {
  name: "query",
  summary: "find records by time, kind, level, name, status, extension, conversation or turn",
  help: `tracetier query [--from T] [--to T] [--kind K] [--level L] [--name N] [--status S]
                [--extension E] [--conversation C] [--turn T] [--limit N] [--order asc|desc]
                [--bodies] [--json] [--dir DIR]

Times are ms since the epoch, ISO dates (2026-11-01, 2026-11-01T12:00Z) or relative (-2h, -7d);
--to is exclusive. Prints one line per record (time, kind, name or message, turn), or with --json the
records as a JSON array (--bodies includes bodies).

Examples:
  tracetier query --from -2h --kind span-close --status error
  tracetier query --conversation conv-7 --order desc --limit 20 --json
`,
  options: {
    from: { type: "string" },
    to: { type: "string" },
    limit: { type: "string" },
    order: { type: "string" },
    bodies: { type: "boolean" },
    ...REMOTE_OPTIONS,
    ...Object.fromEntries(FLAGS.map(([f]) => [f, { type: "string" as const }])),
  },
  positionals: [0, 0],
  async run(ctx) {
    const q: Query = { bodies: ctx.json && ctx.values.bodies === true };
    for (const [flag, field] of FLAGS) {
      const v = str(ctx.values, flag);
      if (v !== undefined) (q as Record<string, unknown>)[field] = v;
    }
    const from = str(ctx.values, "from");
    const to = str(ctx.values, "to");
    if (from !== undefined) q.from = parseTime(from, "from");
    if (to !== undefined) q.to = parseTime(to, "to");
    const limit = str(ctx.values, "limit");
    if (limit !== undefined) {
      q.limit = Number(limit);
      if (!Number.isInteger(q.limit) || q.limit < 0)
        throw new InvalidOptionError("limit", `must be a whole number, got "${limit}"`);
    }
    const order = str(ctx.values, "order");
    if (order !== undefined) q.order = order as Query["order"];
    const records = await withReads(ctx, (store) => store.query(q));
    if (ctx.json) ctx.print(records);
    else for (const r of records) ctx.out(line(r));
    return EXIT.ok;
  },
};

/** One record as one line (time, kind, what, turn, id): `query`'s and `tail`'s plain output. */
export function line(r: StoredRecord): string {
  const what =
    r.kind === "log"
      ? `[${r.level}] ${r.msg}`
      : r.kind === "span-close"
        ? `${r.name} ${r.durationMs}ms ${r.status}`
        : r.name;
  return `${new Date(r.timestamp).toISOString()}  ${r.kind.padEnd(10)}  ${what}  turn=${r.turnId ?? "-"}  id=${r.id}`;
}
