/**
 * Bounds on what one OTLP request may make the collector build (docs/otlp.md, "Limits"). The body
 * limit bounds the bytes read, but not what decoding and mapping make of them: a protobuf body of
 * empty messages (`0a 00` repeated) becomes ~150 bytes of heap per 2 body bytes, and a key-value list
 * under a long key copies that key into every flattened child key. These caps are checked before the
 * expensive step (protobuf: by a wire-format scan before decoding; JSON: by the schema walk before
 * mapping; flattened keys: before each key is built), so the work per request is linear in its body
 * with a small constant, and the heap it can take is bounded whatever its shape.
 */
import { HttpError } from "../http.js";

/** Spans plus log records in one request; more is a 413 (send smaller batches). */
export const MAX_ITEMS_PER_REQUEST = 100_000;
/**
 * Protobuf messages (JSON objects, for OTLP/JSON) in one request: spans, key-values, AnyValues… An
 * ordinary span with 15 attributes is about 35 (so ~28,000 such spans); 1,000,000 empty messages decode
 * to ~150 MB of objects in ~2 s, the worst a body can make.
 */
export const MAX_MESSAGES_PER_REQUEST = 1_000_000;
/**
 * Values in an OTLP/JSON body (counted by its commas), checked before JSON.parse: `[1,1,…]` or
 * `[{},{},…]` would otherwise parse to ~20 bytes of heap per body byte. 4,000,000 values is about
 * 40,000 ordinary spans; at worst ~300 MB parsed.
 */
export const MAX_JSON_VALUES_PER_REQUEST = 4_000_000;
/** Attributes in one attribute set (a span's, an event's, a link's, a log record's, a resource's), after flattening. */
export const MAX_ATTRIBUTES_PER_SET = 4096;
/** Characters in one attribute key after flattening (`a.b.c` of nested key-value lists). */
export const MAX_ATTRIBUTE_KEY_LENGTH = 1024;
/** Characters of flattened attribute keys one request may make in all (each key counted as built). */
export const MAX_KEY_CHARS_PER_REQUEST = 64 * 1024 * 1024;

/** A request over a request-wide cap: refused whole, 413. */
export class OtlpTooLargeError extends HttpError {
  constructor(what: string) {
    super(413, "ERR_TOO_LARGE", `the request is over the collector's limit: ${what}; send smaller batches`);
  }
}

/** An item over a per-item cap: that item is rejected (partial success), the others are stored. */
export class ItemLimitError extends Error {}

/** What one request may still spend on flattened keys. */
export class KeyBudget {
  private left = MAX_KEY_CHARS_PER_REQUEST;

  take(chars: number): void {
    this.left -= chars;
    if (this.left < 0)
      throw new OtlpTooLargeError(
        `its attributes flatten to over ${MAX_KEY_CHARS_PER_REQUEST} key characters`,
      );
  }
}

/** Counts items and messages as a request is scanned; throws OtlpTooLargeError past a cap. */
export class RequestCounter {
  messages = 0;
  items = 0;

  message(): void {
    if (++this.messages > MAX_MESSAGES_PER_REQUEST)
      throw new OtlpTooLargeError(
        `over ${MAX_MESSAGES_PER_REQUEST} OTLP messages (spans, key-values, values…)`,
      );
  }

  item(): void {
    if (++this.items > MAX_ITEMS_PER_REQUEST)
      throw new OtlpTooLargeError(`over ${MAX_ITEMS_PER_REQUEST} spans or log records`);
  }
}
