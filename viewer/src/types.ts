/** The API's types as the viewer uses them (type-only: nothing of the server is bundled). */
import type { RequestDiff as ServerRequestDiff, StoredRecord } from "../../src/types.js";

export type {
  DiffMessage,
  SearchHit,
  SearchResult,
  StoredRecord,
  TurnSummary,
  TurnsPage,
  UsageReport,
  UsageRow,
} from "../../src/types.js";

/** A record of `GET /v1/turns/:id?bodies=sizes`: no body, but its size (and whether it was evicted). */
export type ThinRecord = StoredRecord & { bodyBytes?: number };

/**
 * What `GET /v1/records/:id/diff` answers. No `previous`: no earlier request with a stored body was
 * found in the conversation. `previous.evicted`: the nearest earlier request's body was evicted by
 * retention, so nothing was compared (added, removed and edited are empty).
 */
export type RequestDiff = Omit<ServerRequestDiff, "previous"> & {
  previous?: NonNullable<ServerRequestDiff["previous"]> & { evicted?: true };
};
