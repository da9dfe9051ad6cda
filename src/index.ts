/** tracetier's public surface. Everything exported here is part of the contract (docs/design.md). */

export type { ErrorCode } from "./base/errors.js";
export {
  BatchTooLargeError,
  ClosedError,
  CorruptStoreError,
  CorruptWalError,
  DiskFullError,
  InvalidOptionError,
  InvalidRecordError,
  IoError,
  isDiskFull,
  LockedError,
  RemoteError,
  TracetierError,
  WalFailedError,
} from "./base/errors.js";
export type { CompactOptions, CompactResult } from "./maintenance/compaction.js";
export { DEFAULT_COMPACT_AGE_MS } from "./maintenance/compaction.js";
export type {
  MaintenanceJob,
  MaintenanceJobs,
  MaintenanceOptions,
  MaintenanceRun,
  MaintenanceSchedule,
} from "./maintenance/schedule.js";
export type { ViewEntry } from "./read/easy-view.js";
export { formatBytes, formatDuration, renderEasyView } from "./read/easy-view.js";
export { stableId } from "./records/stable-id.js";
export { MAX_LINK_VALUE_DEPTH, MAX_TIMESTAMP, MIN_TIMESTAMP } from "./records/validate.js";
export type { GcOptions, GcResult, PruneOptions, PruneResult, RetentionPolicy } from "./retention/policy.js";
export { DEFAULT_RETENTION } from "./retention/policy.js";
export type { TraceStore } from "./store.js";
export { openStore } from "./store.js";
export type {
  Attributes,
  ChunkingOptions,
  DiffMessage,
  Durability,
  InsertResult,
  LogLevel,
  LogRecord,
  Query,
  RecordKind,
  RequestDiff,
  Scalar,
  SearchHit,
  SearchOptions,
  SearchResult,
  SearchWhere,
  SpanCloseRecord,
  SpanLink,
  SpanOpenRecord,
  SpanStatus,
  StoredRecord,
  StoreOptions,
  StoreStats,
  TraceRecord,
  TurnOptions,
  TurnSummary,
  TurnsPage,
  TurnsQuery,
  UsageQuery,
  UsageReport,
  UsageRow,
} from "./types.js";
