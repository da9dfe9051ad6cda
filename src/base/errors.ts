/**
 * Every failure that crosses the public API is a `TracetierError` with a stable `code` that callers
 * can branch on; the message is for humans and may change. The table of codes lives in docs/errors.md.
 */
export type ErrorCode =
  | "ERR_INVALID_RECORD"
  | "ERR_INVALID_OPTION"
  | "ERR_CORRUPT_WAL"
  | "ERR_CORRUPT_STORE"
  | "ERR_LOCKED"
  | "ERR_CLOSED"
  | "ERR_WAL_FAILED"
  | "ERR_DISK_FULL"
  | "ERR_IO"
  | "ERR_BATCH_TOO_LARGE"
  | "ERR_UNAUTHORIZED"
  | "ERR_FORBIDDEN"
  | "ERR_UNREACHABLE"
  | "ERR_REMOTE";

export class TracetierError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A record of a batch failed validation; nothing of the batch was stored. */
export class InvalidRecordError extends TracetierError {
  /** Index of the offending record in the batch. */
  readonly index: number;
  /** Path of the offending field, e.g. `attributes.model` or `links[0].spanId`. */
  readonly field: string;

  constructor(index: number, field: string, problem: string) {
    super("ERR_INVALID_RECORD", `record ${index}: field "${field}" ${problem}`);
    this.index = index;
    this.field = field;
  }
}

/** An option given to `openStore` (or another call) is out of its range. */
export class InvalidOptionError extends TracetierError {
  constructor(option: string, problem: string) {
    super("ERR_INVALID_OPTION", `option "${option}" ${problem}`);
  }
}

/** A WAL frame that is not the torn tail of the log failed its checksum: the store refuses to open. */
export class CorruptWalError extends TracetierError {
  readonly segment: string;
  readonly offset: number;

  constructor(segment: string, offset: number, problem: string, options?: { cause?: unknown }) {
    super("ERR_CORRUPT_WAL", `WAL segment ${segment} is corrupt at offset ${offset}: ${problem}`, options);
    this.segment = segment;
    this.offset = offset;
  }
}

/** The hot tier holds data that cannot be decoded (a bug or a damaged disk). */
export class CorruptStoreError extends TracetierError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_CORRUPT_STORE", message, options);
  }
}

export class LockedError extends TracetierError {
  constructor(dir: string, cause: unknown) {
    super("ERR_LOCKED", `the directory ${dir} is locked by another open store`, { cause });
  }
}

export class ClosedError extends TracetierError {
  constructor() {
    super("ERR_CLOSED", "the store is closed");
  }
}

/**
 * Syncing the WAL failed (or cutting a failed write back did). The state of the file is then unknown,
 * so the store refuses further writes (as PostgreSQL does) instead of acknowledging records it may
 * lose. A failed write alone is not this: it is cut back and reported as ERR_DISK_FULL or ERR_IO.
 */
export class WalFailedError extends TracetierError {
  constructor(cause: unknown) {
    super("ERR_WAL_FAILED", "writing the WAL failed; the store accepts no more writes until reopened", {
      cause,
    });
  }
}

/**
 * The disk (or the file system's quota) is full: `ENOSPC` or `EDQUOT` from the file system, kept as
 * `cause`. Nothing acknowledged is lost, and the store accepts writes again once space comes back.
 */
export class DiskFullError extends TracetierError {
  constructor(what: string, cause: unknown) {
    super("ERR_DISK_FULL", `the disk is full: ${what}`, { cause });
  }
}

/** A file-system operation failed for a reason other than a full disk (`EIO`, `EACCES`, …), kept as `cause`. */
export class IoError extends TracetierError {
  constructor(what: string, cause: unknown) {
    super("ERR_IO", `${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * The records of one insert would make a WAL frame over the format's limit (FRAME_MAX_PAYLOAD, 1 GiB):
 * refused before anything is written, so nothing of the call is stored. Insert them in smaller calls.
 */
export class BatchTooLargeError extends TracetierError {
  readonly bytes: number;
  readonly limit: number;

  constructor(bytes: number, limit: number) {
    super(
      "ERR_BATCH_TOO_LARGE",
      `the batch would take ${bytes} bytes in the WAL, over the limit of ${limit}`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** True for the errno codes that mean "no space left": a full disk or an exhausted quota. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/**
 * A request to a running collector (the command line's way in while `serve` holds the store) failed:
 * `ERR_UNAUTHORIZED` (401: no token or the wrong one), `ERR_FORBIDDEN` (403: the collector refuses this
 * client, e.g. an admin call from another machine without a token), `ERR_UNREACHABLE` (no answer; the
 * network error is the `cause`), `ERR_REMOTE` (any other refusal or failure). `status` is the HTTP
 * status and `remoteCode` the collector's own code, when it answered.
 */
export class RemoteError extends TracetierError {
  readonly url: string;
  readonly status: number | undefined;
  readonly remoteCode: string | undefined;

  constructor(
    code: "ERR_UNAUTHORIZED" | "ERR_FORBIDDEN" | "ERR_UNREACHABLE" | "ERR_REMOTE",
    url: string,
    message: string,
    details: { status?: number; remoteCode?: string; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause });
    this.url = url;
    this.status = details.status;
    this.remoteCode = details.remoteCode;
  }
}
