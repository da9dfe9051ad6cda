/**
 * NDJSON read from a byte stream: lines split on the raw bytes (not readline, whose regular expression
 * cost a fifth of an ingest), CRLF accepted, numbered from 1, the last one allowed to lack its newline;
 * each parsed, or the reason it could not be.
 */
export type NdjsonLine = { line: number; value: unknown } | { line: number; error: string };

/** A place in an NDJSON file: the lines and bytes before it. */
export interface NdjsonCursor {
  line: number;
  offset: number;
}

/**
 * A line longer than this is reported as that line's error and skipped, not gathered: a file (or a
 * stream) without newlines must not grow one buffer without bound. Far above any record the WAL takes.
 */
export const MAX_LINE_BYTES = 512 * 1024 * 1024;

/**
 * `at` says where `input` starts in its file (line numbers and offsets go on from there; default the
 * start), and is kept at the end of the last line read: when a line is yielded, `at` is just past its
 * newline, so a reader that stops there can hand the rest of the file to another from `at`.
 */
export async function* ndjsonLines(
  input: AsyncIterable<Buffer> | Iterable<Buffer>,
  onBytes: (n: number) => void = () => {},
  at: NdjsonCursor = { line: 0, offset: 0 },
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<NdjsonLine> {
  // The start of a line that chunk boundaries cut, in pieces: joined once, when its newline comes
  const cut = new CutLine(maxLineBytes);
  for await (const chunk of input) {
    onBytes(chunk.length);
    let from = 0;
    if (cut.bytes > 0) {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) {
        cut.add(chunk);
        continue;
      }
      cut.add(chunk.subarray(0, nl + 1));
      from = nl + 1;
      const parsed = cut.take(at, true);
      if (parsed) yield parsed;
    }
    for (let nl = chunk.indexOf(0x0a, from); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
      const parsed = take(chunk.subarray(from, nl + 1), nl + 1 - from, at, true, maxLineBytes);
      from = nl + 1;
      if (parsed) yield parsed;
    }
    if (from < chunk.length) cut.add(chunk.subarray(from));
  }
  if (cut.bytes > 0) {
    const parsed = cut.take(at, false);
    if (parsed) yield parsed;
  }
}

/** A line's pieces as they arrive; past the limit only their count is kept. */
class CutLine {
  bytes = 0;
  private pieces: Buffer[] = [];
  constructor(private readonly max: number) {}

  add(piece: Buffer): void {
    this.bytes += piece.length;
    if (this.bytes <= this.max) this.pieces.push(piece);
    else this.pieces = [];
  }

  take(at: NdjsonCursor, newline: boolean): NdjsonLine | undefined {
    const line = this.bytes <= this.max ? Buffer.concat(this.pieces, this.bytes) : undefined;
    const bytes = this.bytes;
    this.pieces = [];
    this.bytes = 0;
    return take(line, bytes, at, newline, this.max);
  }
}

/**
 * A line of `bytes` bytes (its newline included when `newline`; undefined when it was too long to
 * keep); moves `at` past it. A CR before the newline is dropped.
 */
function take(
  line: Buffer | undefined,
  bytes: number,
  at: NdjsonCursor,
  newline: boolean,
  max: number,
): NdjsonLine | undefined {
  at.line++;
  at.offset += bytes;
  if (line === undefined || bytes > max) return { line: at.line, error: `longer than ${max} bytes: skipped` };
  let end = newline ? line.length - 1 : line.length;
  if (newline && end > 0 && line[end - 1] === 0x0d) end--;
  return parse(line.subarray(0, end), at.line);
}

/** A line's value, its error, or nothing for a blank line. */
function parse(bytes: Buffer, line: number): NdjsonLine | undefined {
  const text = bytes.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return { line, value: JSON.parse(text) };
  } catch (err) {
    return { line, error: `not JSON: ${(err as Error).message}` };
  }
}
