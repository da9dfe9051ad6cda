/**
 * The body of `POST /v1/records`: a JSON array of records (or one record), or NDJSON, one record a
 * line (`application/x-ndjson`, also `application/jsonl`). A line that is not JSON is reported with
 * its line number and the index the record would have had.
 */
import { HttpError } from "./http.js";

const NDJSON = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/json-lines",
]);

export function parseRecordsBody(body: Buffer, contentType: string | undefined): unknown[] {
  const type = (contentType ?? "application/json").split(";")[0]!.trim().toLowerCase();
  if (NDJSON.has(type)) return parseNdjson(body.toString("utf8"));
  if (type !== "application/json") {
    throw new HttpError(
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
      `Content-Type "${type}" is not supported: send application/json or application/x-ndjson`,
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new HttpError(400, "ERR_INVALID_JSON", `the body is not JSON: ${(err as Error).message}`);
  }
  return Array.isArray(v) ? v : [v];
}

export function parseNdjson(text: string): unknown[] {
  const out: unknown[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    try {
      out.push(JSON.parse(line));
    } catch (err) {
      throw new HttpError(400, "ERR_INVALID_JSON", `line ${i + 1} is not JSON: ${(err as Error).message}`, {
        index: out.length,
        line: i + 1,
      });
    }
  });
  return out;
}
