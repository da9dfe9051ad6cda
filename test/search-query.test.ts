import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TracetierError } from "../src/base/errors.js";
import { MAX_QUERY_LENGTH, MAX_QUERY_TERMS, parseQuery, type QueryTerm } from "../src/search/query.js";

function terms(q: string): QueryTerm[] {
  return parseQuery(q).terms;
}

function word(tokens: string[], over: Partial<QueryTerm> = {}): QueryTerm {
  return { field: "any", tokens, negated: false, ...over };
}

/** The reason a query is refused (asserting it is ERR_INVALID_OPTION naming `q`). */
function refusal(q: string): string {
  try {
    parseQuery(q);
  } catch (e) {
    expect(e).toBeInstanceOf(TracetierError);
    expect((e as TracetierError).code).toBe("ERR_INVALID_OPTION");
    expect((e as Error).message).toMatch(/^option "q" /);
    return (e as Error).message;
  }
  throw new Error(`query ${JSON.stringify(q)} was accepted`);
}

describe("parseQuery", () => {
  it("parses a word as one folded token", () => {
    expect(terms("Invoice")).toEqual([word(["invoice"])]);
  });

  it("separates terms by whitespace of any kind", () => {
    expect(terms(" alpha\tbeta\n gamma ")).toEqual([word(["alpha"]), word(["beta"]), word(["gamma"])]);
  });

  it("parses a quoted phrase as one term of several tokens", () => {
    expect(terms('"could not  find" file')).toEqual([word(["could", "not", "find"]), word(["file"])]);
  });

  it("makes a bare term with several tokens a phrase (paths, URLs, key:value)", () => {
    expect(terms("src/a.ts https://x.io/p?q=1 status:500")).toEqual([
      word(["src", "a", "ts"]),
      word(["https", "x", "io", "p", "q", "1"]),
      word(["status", "500"]),
    ]);
  });

  it("negates a word or a phrase with a leading minus", () => {
    expect(terms('error -timeout -"rate limit"')).toEqual([
      word(["error"]),
      word(["timeout"], { negated: true }),
      word(["rate", "limit"], { negated: true }),
    ]);
  });

  it("reads name: as the span-name field", () => {
    expect(terms('name:llm.call name:"tool run"')).toEqual([
      word(["llm", "call"], { field: "name" }),
      word(["tool", "run"], { field: "name" }),
    ]);
  });

  it("reads model: as the gen_ai.request.model field", () => {
    expect(terms("model:gpt-5-mini")).toEqual([word(["gpt", "5", "mini"], { field: "model" })]);
  });

  it("reads attr.KEY: with KEY verbatim (case and dots kept) up to the first colon", () => {
    expect(terms('attr.Tool.Name:read_file attr.a:b:c attr.k:"x y"')).toEqual([
      word(["read_file"], { field: { attr: "Tool.Name" } }),
      word(["b", "c"], { field: { attr: "a" } }),
      word(["x", "y"], { field: { attr: "k" } }),
    ]);
  });

  it("negates fields too", () => {
    expect(terms("x -name:step -model:gpt -attr.k:v")).toEqual([
      word(["x"]),
      word(["step"], { field: "name", negated: true }),
      word(["gpt"], { field: "model", negated: true }),
      word(["v"], { field: { attr: "k" }, negated: true }),
    ]);
  });

  it("treats any other prefix, and a capitalised field name, as text", () => {
    expect(terms("user:alice Name:x")).toEqual([word(["user", "alice"]), word(["name", "x"])]);
  });

  it("treats attr. without a key or without a colon as text", () => {
    expect(terms("attr.:x attr.key")).toEqual([word(["attr", "x"]), word(["attr", "key"])]);
  });

  it("treats a quoted field prefix as text", () => {
    expect(terms('"name:foo"')).toEqual([word(["name", "foo"])]);
  });

  it("ignores terms without a token", () => {
    expect(terms('-- "..." name: - word -"!"')).toEqual([word(["word"])]);
  });

  it("keeps quotes inside a term as cuts between tokens", () => {
    expect(terms('foo"bar baz"')).toEqual([word(["foo", "bar", "baz"])]);
  });

  it("tokenizes terms like text (Unicode folding)", () => {
    expect(terms("CAFÉ ﬁle 漢字")).toEqual([word(["café"]), word(["file"]), word(["漢字"])]);
  });

  it("keeps a token longer than 64 units (a scan answers it)", () => {
    const long = "a".repeat(100);
    expect(terms(long)).toEqual([word([long])]);
  });

  it("accepts exactly MAX_QUERY_TERMS terms", () => {
    expect(terms(Array.from({ length: MAX_QUERY_TERMS }, (_, i) => `w${i}`).join(" "))).toHaveLength(
      MAX_QUERY_TERMS,
    );
  });

  it("accepts a query of exactly MAX_QUERY_LENGTH characters", () => {
    expect(terms("a".repeat(MAX_QUERY_LENGTH))).toHaveLength(1);
  });

  it("refuses an empty query", () => {
    expect(refusal("")).toMatch(/no word/);
  });

  it("refuses a query of whitespace only", () => {
    expect(refusal("  \t\n")).toMatch(/no word/);
  });

  it("refuses a query whose terms have no token", () => {
    expect(refusal('-- "..." ?')).toMatch(/no word/);
  });

  it("refuses a query longer than 1,000 characters", () => {
    expect(refusal("a".repeat(MAX_QUERY_LENGTH + 1))).toMatch(/longer than 1000/);
  });

  it("refuses an unclosed quote", () => {
    expect(refusal('"could not find')).toMatch(/unclosed quote/);
  });

  it("refuses more than 32 terms", () => {
    expect(refusal(Array.from({ length: MAX_QUERY_TERMS + 1 }, (_, i) => `w${i}`).join(" "))).toMatch(
      /more than 32 terms/,
    );
  });

  it("does not count token-less terms against the limit of 32", () => {
    const q = `${Array.from({ length: MAX_QUERY_TERMS }, (_, i) => `w${i}`).join(" ")} -- ...`;
    expect(terms(q)).toHaveLength(MAX_QUERY_TERMS);
  });

  it("refuses a query with only excluded terms", () => {
    expect(refusal("-error -name:x")).toMatch(/only excluded/);
  });

  it("refuses a query that is not a string", () => {
    expect(refusal(undefined as unknown as string)).toMatch(/must be a string/);
  });

  it("takes attr.__proto__ as a plain key", () => {
    expect(terms("attr.__proto__:x __proto__")).toEqual([
      word(["x"], { field: { attr: "__proto__" } }),
      word(["__proto__"]),
    ]);
  });

  it("never throws anything but ERR_INVALID_OPTION, and returns only terms with tokens", () => {
    const piece = fc.oneof(
      fc.constantFrom(
        '"',
        "-",
        "\\",
        ":",
        "name:",
        "model:",
        "attr.",
        "__proto__",
        "attr.__proto__:x",
        " ",
        "é",
      ),
      fc.string({ unit: "binary", maxLength: 8 }),
      fc.string({ unit: "grapheme", maxLength: 8 }),
    );
    const query = fc.oneof(
      fc.array(piece, { maxLength: 40 }).map((a) => a.join("")),
      fc.string({ unit: "binary", maxLength: 1200 }),
      fc.string({ minLength: 9990, maxLength: 10_010 }),
    );
    fc.assert(
      fc.property(query, (q) => {
        try {
          const parsed = parseQuery(q);
          expect(parsed.terms.length).toBeGreaterThan(0);
          expect(parsed.terms.length).toBeLessThanOrEqual(MAX_QUERY_TERMS);
          expect(parsed.terms.some((t) => !t.negated)).toBe(true);
          for (const t of parsed.terms) expect(t.tokens.length).toBeGreaterThan(0);
        } catch (e) {
          expect((e as TracetierError).code).toBe("ERR_INVALID_OPTION");
        }
      }),
      { numRuns: 1000 },
    );
  });
});
