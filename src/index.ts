/** tracetier's public surface. Everything exported here is part of the contract (docs/design.md). */
export { openStore } from "./store.js";
export type { TraceStore } from "./store.js";
export { stableId } from "./records/stable-id.js";
export { formatDuration, formatBytes, renderEasyView } from "./easy-view.js";
export type { ViewEntry } from "./easy-view.js";
export {
  TracetierError,
  InvalidRecordError,
  InvalidOptionError,
  CorruptWalError,
  CorruptStoreError,
  LockedError,
  ClosedError,
  WalFailedError,
} from "./errors.js";
export type { ErrorCode } from "./errors.js";
export type {
  Scalar,
  Attributes,
  SpanLink,
  LogLevel,
  SpanStatus,
  LogRecord,
  SpanOpenRecord,
  SpanCloseRecord,
  TraceRecord,
  RecordKind,
  StoredRecord,
  InsertResult,
  TurnOptions,
  Query,
  StoreStats,
  StoreOptions,
  Durability,
  ChunkingOptions,
} from "./types.js";
