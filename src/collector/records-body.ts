/**
 * The body of `POST /v1/records`: a JSON array of records (or one record), or NDJSON, one record a
 * line (`application/x-ndjson`, also `application/jsonl`). A line that is not JSON is reported with
 * its line number and the index the record would have had.
 */
import { ndjsonLines } from "../base/ndjson.js";
import { HttpError } from "./http.js";

const NDJSON = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/json-lines",
]);

export async function parseRecordsBody(body: Buffer, contentType: string | undefined): Promise<unknown[]> {
  const type = (contentType ?? "application/json").split(";")[0]!.trim().toLowerCase();
  if (NDJSON.has(type)) return parseNdjson(body);
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

/** The lines' values; the first line that is not JSON fails the request (nothing of it is stored). */
async function parseNdjson(body: Buffer): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const l of ndjsonLines([body])) {
    if ("error" in l) {
      throw new HttpError(400, "ERR_INVALID_JSON", `line ${l.line} is ${l.error}`, {
        index: out.length,
        line: l.line,
      });
    }
    out.push(l.value);
  }
  return out;
}
