/** Token usage rows by (day, model), as the usage report adds up LLM calls (turns.ts). */
import { dateOf } from "../../tiers/cold/layout.js";
import type { UsageQuery, UsageRow } from "../types.js";
import type { Call } from "./turn-summary.js";
import { compareText } from "./turns-query.js";

const DAY_MS = 86_400_000;

/** Usage rows by (day, model), as calls are added (a day's date text is made once). */
export class UsageRows {
  private readonly q: UsageQuery;
  private readonly byDay = new Map<number, Map<string, UsageRow>>();

  constructor(q: UsageQuery) {
    this.q = q;
  }

  add(c: Call): void {
    const q = this.q;
    if (q.extensionId !== undefined && c.extensionId !== q.extensionId) return;
    if ((q.from !== undefined && c.ts < q.from) || (q.to !== undefined && c.ts >= q.to)) return;
    const day = Math.floor(c.ts / DAY_MS);
    let models = this.byDay.get(day);
    if (models === undefined) {
      models = new Map();
      this.byDay.set(day, models);
    }
    let row = models.get(c.model);
    if (row === undefined) {
      row = { date: dateOf(c.ts), model: c.model, calls: 0, inputTokens: 0, outputTokens: 0 };
      models.set(c.model, row);
    }
    row.calls++;
    row.inputTokens += c.inputTokens;
    row.outputTokens += c.outputTokens;
  }

  sorted(): UsageRow[] {
    const rows = [...this.byDay.values()].flatMap((m) => [...m.values()]);
    return rows.sort((a, b) => compareText(a.date, b.date) || compareText(a.model, b.model));
  }
}
