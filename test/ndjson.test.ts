import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ndjsonLines } from "../src/base/ndjson.js";

async function collect(chunks: Buffer[]) {
  async function* source() {
    yield* chunks;
  }
  const out = [];
  for await (const l of ndjsonLines(source())) out.push(l);
  return out;
}

describe("NDJSON lines", () => {
  it("gives the same numbered values however the bytes are cut into chunks, with LF or CRLF", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue(), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.boolean(),
        fc.boolean(),
        async (values, cuts, crlf, finalNewline) => {
          const eol = crlf ? "\r\n" : "\n";
          const text =
            values.map((v) => JSON.stringify(v)).join(eol) + (finalNewline && values.length > 0 ? eol : "");
          const bytes = Buffer.from(text, "utf8");
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...points, bytes.length]
            .slice(1)
            .map((end, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1], end));
          const lines = await collect(chunks);
          expect(lines).toEqual(
            values.map((v, i) => ({ line: i + 1, value: JSON.parse(JSON.stringify(v)) })),
          );
        },
      ),
    );
  });

  it("reports a line longer than the limit as its error, keeps none of it, and goes on with the next", async () => {
    const long = `{"a":"${"x".repeat(100)}"}`;
    const text = `{"n":1}\n${long}\n{"n":3}\n${long}`;
    const at = { line: 0, offset: 0 };
    for (const size of [1, 7, 1000]) {
      const chunks = [];
      for (let i = 0; i < text.length; i += size) chunks.push(Buffer.from(text.slice(i, i + size)));
      Object.assign(at, { line: 0, offset: 0 });
      const lines = [];
      for await (const l of ndjsonLines(chunks, undefined, at, 50)) lines.push(l);
      expect(lines).toEqual([
        { line: 1, value: { n: 1 } },
        { line: 2, error: "longer than 50 bytes: skipped" },
        { line: 3, value: { n: 3 } },
        { line: 4, error: "longer than 50 bytes: skipped" },
      ]);
      expect(at).toEqual({ line: 4, offset: text.length });
    }
  });

  it("numbers a line that is not JSON and skips blank ones", async () => {
    const lines = await collect([Buffer.from('{"a":1}\n\n{oops\n  \n[2]')]);
    expect(lines).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, error: expect.stringContaining("not JSON") },
      { line: 5, value: [2] },
    ]);
  });
});
