/** The API's types as the viewer uses them (type-only: nothing of the server is bundled). */
import type { StoredRecord } from "../../src/types.js";

export type {
  DiffMessage,
  RequestDiff,
  StoredRecord,
  TurnSummary,
  TurnsPage,
  UsageReport,
  UsageRow,
} from "../../src/types.js";

/** A record of `GET /v1/turns/:id?bodies=sizes`: no body, but its size (and whether it was evicted). */
export type ThinRecord = StoredRecord & { bodyBytes?: number };
