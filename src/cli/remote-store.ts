/**
 * The store's read calls and maintenance jobs, answered by a running collector: the same arguments,
 * the same results (what its JSON carries), so a command cannot tell which way it went.
 */
import { TracetierError } from "../base/errors.js";
import type { CompactResult } from "../maintenance/compaction.js";
import type { VerifyReport } from "../maintenance/verify.js";
import type { GcResult, PruneResult, RetentionPolicy } from "../retention/policy.js";
import type { TraceStore } from "../store.js";
import type { Query, SearchOptions } from "../types.js";
import { type CollectorClient, ndjson, type Params } from "./remote.js";

/** What the read commands call. */
export type StoreReads = Pick<TraceStore, "getTurn" | "easyView" | "query" | "stats" | "search">;

export function remoteReads(client: CollectorClient): StoreReads {
  return {
    getTurn: (turnId, opts) =>
      client.getJson(`/v1/turns/${encodeURIComponent(turnId)}`, {
        bodies: bodiesParam(opts?.bodies ?? true),
      }),
    // The collector ends the view with a newline, as a text response should; the view itself has none.
    easyView: async (turnId) =>
      (await client.getText(`/v1/turns/${encodeURIComponent(turnId)}/view`)).replace(/\n$/, ""),
    query: (q: Query) => {
      const { bodies, ...rest } = q;
      return client.getJson("/v1/records", { ...(rest as Params), bodies: bodiesParam(bodies ?? true) });
    },
    stats: () => client.getJson("/v1/stats"),
    search: (q: string, opts: SearchOptions = {}) => client.getJson("/v1/search", { q, ...(opts as Params) }),
  };
}

function bodiesParam(b: boolean | "sizes"): string {
  return b === "sizes" ? "sizes" : String(b);
}

export type AdminJob = "compact" | "prune" | "gc" | "verify";

/** What `POST /v1/admin/<job>` streams, one JSON object per line (docs/operate.md). */
export type AdminEvent =
  | { event: "waiting"; elapsedMs: number; behind?: string }
  | { event: "started"; waitedMs: number }
  | { event: "running"; elapsedMs: number }
  | { event: "done"; result: unknown }
  | { event: "failed"; error: { code: string; message: string } };

export interface AdminResults {
  compact: CompactResult;
  prune: PruneResult;
  gc: GcResult;
  verify: VerifyReport;
}

export interface AdminBodies {
  compact: { olderThanMs?: number };
  prune: { policy: RetentionPolicy };
  gc: Record<string, never>;
  verify: Record<string, never>;
}

/**
 * Runs a maintenance job inside the collector (under its maintenance lock) and returns its result;
 * `onEvent` sees the waiting, start and heartbeat lines as they come. A failure inside the collector
 * is thrown as the error the job threw there (its code and message).
 */
export async function runInCollector<J extends AdminJob>(
  client: CollectorClient,
  job: J,
  body: AdminBodies[J],
  onEvent: (e: AdminEvent) => void = () => {},
): Promise<AdminResults[J]> {
  const res = await client.request("POST", `/v1/admin/${job}`, {}, body);
  try {
    for await (const line of ndjson(client, res)) {
      const e = line as AdminEvent;
      if (e.event === "done") return e.result as AdminResults[J];
      if (e.event === "failed") throw client.failure(e.error);
      onEvent(e);
    }
  } catch (err) {
    if (err instanceof TracetierError) throw err;
    throw client.unreachable(err);
  }
  throw client.unreachable(new Error(`the collector ended the ${job} response without its result`));
}
