import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findTokens, matchRecord, type SearchableRecord } from "../src/search/match.js";
import { parseQuery, type QueryTerm, type SearchQuery } from "../src/search/query.js";
import { foldText, tokenize } from "../src/search/text.js";
import type { SearchWhere } from "../src/types.js";

function match(q: string, r: SearchableRecord) {
  return matchRecord(parseQuery(q), r);
}

describe("matchRecord: words", () => {
  it("matches a word in the body, case-insensitively", () => {
    expect(match("FILE", { body: "I could not find the file." })?.where).toBe("body");
  });

  it("matches whole tokens only, not substrings", () => {
    expect(match("find", { body: "the finder found it" })).toBeUndefined();
    expect(match("file", { body: "profile files" })).toBeUndefined();
  });

  it("does not match a record without the word", () => {
    expect(match("invoice", { body: "receipt 4471", msg: "paid", name: "bill" })).toBeUndefined();
  });

  it("needs every positive term", () => {
    const r = { body: "invoice 4471 for alice" };
    expect(match("invoice alice", r)).toBeDefined();
    expect(match("invoice bob", r)).toBeUndefined();
  });

  it("matches terms in different texts of the record", () => {
    expect(match("invoice alice", { msg: "invoice sent", attributes: { user: "alice" } })?.where).toBe("msg");
  });

  it("does not match an evicted or absent body", () => {
    expect(match("secret", { name: "call" })).toBeUndefined();
  });

  it("matches across Unicode forms by NFKC and toLowerCase", () => {
    expect(match("CAFÉ", { body: "un cafe\u0301 noir" })?.where).toBe("body");
    expect(match("file", { body: "the ﬁle" })).toBeDefined();
    expect(match("cafe", { body: "un café" })).toBeUndefined();
  });

  it("does not match a word followed by a combining mark (that mark is part of the token)", () => {
    expect(match("x", { body: "x\u0301 y" })).toBeUndefined();
  });

  it("matches a CJK run only whole", () => {
    expect(match("找不到文件", { body: "错误：找不到文件。" })).toBeDefined();
    expect(match("文件", { body: "错误：找不到文件。" })).toBeUndefined();
  });
});

describe("matchRecord: phrases", () => {
  it("matches consecutive tokens with any punctuation between them", () => {
    expect(match('"could not find"', { body: "I could -- not, find it" })).toBeDefined();
  });

  it("does not match the tokens when another token is between them", () => {
    expect(match('"could find"', { body: "I could not find it" })).toBeUndefined();
  });

  it("does not match the tokens in the other order", () => {
    expect(match('"find could"', { body: "could find" })).toBeUndefined();
  });

  it("matches a bare term with several tokens as a phrase", () => {
    expect(match("src/a.ts", { body: "open SRC A TS now" })).toBeDefined();
    expect(match("src/a.ts", { body: "open src b a ts" })).toBeUndefined();
  });

  it("does not match a phrase split between two texts of the record", () => {
    expect(match('"not found"', { msg: "file not", name: "found" })).toBeUndefined();
    expect(match('"not found"', { attributes: { a: "not", b: "found" } })).toBeUndefined();
  });

  it("does not match a phrase split between two elements of an array attribute", () => {
    expect(match('"not found"', { attributes: { a: ["not", "found"] } })).toBeUndefined();
    expect(match('"not found"', { attributes: { a: ["x", "not found"] } })?.where).toBe("attributes");
  });

  it("finds a phrase whose first token also occurs earlier without the rest", () => {
    expect(match('"rate limit"', { body: "rate of 5; rates; rate: limit hit" })).toBeDefined();
  });

  it("needs the phrase's last token whole", () => {
    expect(match('"rate limit"', { body: "rate limits" })).toBeUndefined();
  });
});

describe("matchRecord: exclusions", () => {
  it("rejects a record with an excluded word in any text", () => {
    expect(match("error -timeout", { msg: "error", attributes: { reason: "timeout" } })).toBeUndefined();
    expect(match("error -timeout", { msg: "error", body: "a timeout" })).toBeUndefined();
  });

  it("keeps a record without the excluded word", () => {
    expect(match("error -timeout", { msg: "error", body: "refused" })?.where).toBe("msg");
  });

  it("excludes a phrase only as a phrase", () => {
    expect(match('error -"rate limit"', { msg: "error: limit of rate" })).toBeDefined();
    expect(match('error -"rate limit"', { msg: "error: rate limit" })).toBeUndefined();
  });

  it("excludes a field only in that field", () => {
    expect(match("x -name:step", { body: "x step", name: "run" })).toBeDefined();
    expect(match("x -name:step", { body: "x", name: "step" })).toBeUndefined();
  });
});

describe("matchRecord: fields", () => {
  it("name: matches the span name only", () => {
    expect(match("name:read", { name: "tool.read" })?.where).toBe("name");
    expect(match("name:read", { body: "read", msg: "read", attributes: { a: "read" } })).toBeUndefined();
  });

  it("model: matches gen_ai.request.model only", () => {
    const r = { attributes: { "gen_ai.request.model": "gpt-5-mini", "gen_ai.response.model": "claude" } };
    expect(match("model:gpt-5-mini", r)?.where).toBe("attributes");
    expect(match("model:mini", r)).toBeDefined();
    expect(match("model:claude", r)).toBeUndefined();
  });

  it("attr.KEY: matches that attribute's value only, with the key case-sensitive", () => {
    const r = { attributes: { "tool.name": "read_file", Other: "read_file" } };
    expect(match("attr.tool.name:read_file", r)?.where).toBe("attributes");
    expect(match("attr.Tool.name:read_file", r)).toBeUndefined();
    expect(match("attr.other:read_file", r)).toBeUndefined();
  });

  it("attr.KEY: matches numbers and booleans as text, each array element, and never null", () => {
    const r = { attributes: { n: 4471, ok: true, list: [1.5, "x y"], none: null } };
    expect(match("attr.n:4471", r)).toBeDefined();
    expect(match("attr.ok:true", r)).toBeDefined();
    expect(match("attr.list:1.5", r)).toBeDefined();
    expect(match('attr.list:"x y"', r)).toBeDefined();
    expect(match("attr.none:null", r)).toBeUndefined();
  });

  it("does not search attribute keys as free text", () => {
    expect(match("customer", { attributes: { customer: "acme" } })).toBeUndefined();
    expect(match("acme", { attributes: { customer: "acme" } })).toBeDefined();
  });

  it("reads attr.__proto__ as an own key only", () => {
    expect(match("attr.__proto__:x", { attributes: { a: "x" } })).toBeUndefined();
    const own = JSON.parse('{"__proto__":"x"}') as Record<string, string>;
    expect(match("attr.__proto__:x", { attributes: own })).toBeDefined();
    expect(match("attr.constructor:x", { attributes: { a: "x" } })).toBeUndefined();
  });
});

describe("matchRecord: where", () => {
  const r = {
    body: "alpha",
    msg: "alpha beta",
    name: "alpha beta gamma",
    attributes: { k: "alpha beta gamma delta" },
  };

  it("is the first field, in the order body, msg, name, attributes, holding the first positive term", () => {
    expect(match("alpha", r)?.where).toBe("body");
    expect(match("beta", r)?.where).toBe("msg");
    expect(match("gamma", r)?.where).toBe("name");
    expect(match("delta", r)?.where).toBe("attributes");
  });

  it("follows the first positive term in query order, not the others", () => {
    expect(match("delta alpha", r)?.where).toBe("attributes");
    expect(match("-zeta gamma alpha", r)?.where).toBe("name");
  });

  it("is the field of a field term", () => {
    expect(match("name:alpha", r)?.where).toBe("name");
    expect(match("attr.k:alpha", r)?.where).toBe("attributes");
  });
});

describe("matchRecord: snippets", () => {
  it("is the whole text when it is short, without ellipses", () => {
    expect(match("file", { body: "  could not\n\n find   the file  " })?.snippet).toBe(
      "could not find the file",
    );
  });

  it("cuts about 80 characters each side of the match, with … at each cut", () => {
    const before = "b".repeat(200);
    const after = "c".repeat(200);
    const snippet = match("needle", { body: `${before} needle ${after}` })!.snippet;
    expect(snippet).toMatch(/^….* needle .*…$/);
    expect(snippet.length).toBeGreaterThan(150);
    expect(snippet.length).toBeLessThanOrEqual(2 + 80 + 6 + 80);
  });

  it("has no … at an end the text was not cut at", () => {
    const snippet = match("needle", { body: `needle ${"c".repeat(200)}` })!.snippet;
    expect(snippet.startsWith("needle")).toBe(true);
    expect(snippet.endsWith("…")).toBe(true);
  });

  it("collapses whitespace runs, and counts each run as one character of context", () => {
    const body = `${"word\n\n\t    ".repeat(40)}needle`;
    const snippet = match("needle", { body })!.snippet;
    expect(snippet).not.toMatch(/\s\s/);
    expect(snippet.split(" ").length).toBeGreaterThan(12);
  });

  it("shows the first match of the first positive term in its text", () => {
    const body = `${"x ".repeat(100)}FIRST needle ${"y ".repeat(200)} needle LAST`;
    const snippet = match("needle", { body })!.snippet;
    expect(snippet).toContain("FIRST needle");
    expect(snippet).not.toContain("LAST");
  });

  it("comes from the text of where, in its original case and form", () => {
    const r = { body: "nothing here", attributes: { path: "/Users/Alice/Invoice-4471.PDF" } };
    expect(match('"invoice 4471"', r)?.snippet).toBe("/Users/Alice/Invoice-4471.PDF");
  });

  it("shows the matched word of a non-ASCII text in its original form", () => {
    const body = `${"Ça été très difficile à comprendre. ".repeat(10)}L’erreur: CAFE\u0301 introuvable. ${"Fin. ".repeat(40)}`;
    const snippet = match("café introuvable", { body })!.snippet;
    expect(snippet).toContain("CAFE\u0301 introuvable");
  });

  it("shows the matched word after many accents that NFKC composes (decomposed input)", () => {
    const body = `${"e\u0301te\u0301 ".repeat(1000)}${"café ".repeat(200)}Needle${" café".repeat(50)}`;
    expect(match("needle", { body })!.snippet).toContain("Needle");
  });

  it("shows the matched word inside a long CJK run", () => {
    const body = `${"数据".repeat(300)} 找不到文件 ${"结束".repeat(300)}`;
    expect(match("找不到文件", { body })!.snippet).toContain("找不到文件");
  });

  it("never cuts a surrogate pair", () => {
    fc.assert(
      fc.property(fc.nat(100), fc.nat(100), (a, b) => {
        const body = `${"😀".repeat(a)}x${"😀".repeat(a % 7)} needle ${"𝐀".repeat(b)}`;
        const snippet = match("needle", { body })!.snippet;
        expect(snippet).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }),
      { numRuns: 200 },
    );
  });

  it("contains the matched word wherever it is in a text of random words", () => {
    const w = fc.stringMatching(/^[a-zA-Zé漢 \n.,-]{0,12}$/);
    fc.assert(
      fc.property(fc.array(w, { maxLength: 60 }), fc.array(w, { maxLength: 60 }), (pre, post) => {
        const body = `${pre.join(" ")} Needle ${post.join(" ")}`;
        const m = match("needle", { body });
        expect(m?.snippet).toContain("Needle");
      }),
      { numRuns: 300 },
    );
  });
});

/** The contract's definition of a term match: the token sequence occurs in the text's tokens. */
function referenceFind(text: string, tokens: string[]): boolean {
  const all = tokenize(text);
  for (let i = 0; i + tokens.length <= all.length; i++) {
    if (tokens.every((t, j) => all[i + j] === t)) return true;
  }
  return false;
}

describe("findTokens", () => {
  it("finds a token sequence exactly when the text's tokens contain it", () => {
    const vocab = [
      "a",
      "ab",
      "é",
      "e\u0301",
      "Σ",
      "漢",
      "😀",
      "x\u0301",
      " ",
      "-",
      ".",
      "'",
      "_",
      "1",
      "ﬁ",
      "A",
    ];
    const text = fc.array(fc.constantFrom(...vocab), { maxLength: 30 }).map((a) => a.join(""));
    fc.assert(
      fc.property(text, text, (t, q) => {
        const tokens = tokenize(q);
        fc.pre(tokens.length > 0);
        expect(findTokens(foldText(t), tokens) !== undefined).toBe(referenceFind(t, tokens));
      }),
      { numRuns: 3000 },
    );
  });

  it("finds sequences taken from the text itself", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 80 });
    fc.assert(
      fc.property(text, fc.nat(), fc.nat(3), (t, start, len) => {
        const all = tokenize(t);
        fc.pre(all.length > 0);
        const i = start % all.length;
        expect(findTokens(foldText(t), all.slice(i, i + len + 1))).toBeDefined();
      }),
      { numRuns: 1000 },
    );
  });

  it("runs in linear time on a large body with many near-misses", () => {
    const body = `${"rate of limit rate ".repeat(200_000)}rate limit`;
    const t0 = performance.now();
    expect(match('"rate limit"', { body })?.where).toBe("body");
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

/** The contract's semantics written plainly over token lists: the reference matchRecord must equal. */
function referenceMatch(q: SearchQuery, r: SearchableRecord): SearchWhere | undefined {
  const valueTexts = (v: unknown): string[] =>
    Array.isArray(v)
      ? v.flatMap(valueTexts)
      : typeof v === "string"
        ? [v]
        : typeof v === "number" || typeof v === "boolean"
          ? [String(v)]
          : [];
  const attr = (key: string) =>
    r.attributes && Object.hasOwn(r.attributes, key) ? valueTexts(r.attributes[key]) : [];
  const fields = (t: QueryTerm): [SearchWhere, string[]][] => {
    if (t.field === "name") return [["name", r.name === undefined ? [] : [r.name]]];
    if (t.field === "model") return [["attributes", attr("gen_ai.request.model")]];
    if (typeof t.field === "object") return [["attributes", attr(t.field.attr)]];
    return [
      ["body", r.body === undefined ? [] : [r.body]],
      ["msg", r.msg === undefined ? [] : [r.msg]],
      ["name", r.name === undefined ? [] : [r.name]],
      ["attributes", Object.values(r.attributes ?? {}).flatMap(valueTexts)],
    ];
  };
  const whereOf = (t: QueryTerm) =>
    fields(t).find(([, texts]) => texts.some((x) => referenceFind(x, t.tokens)))?.[0];
  if (q.terms.some((t) => t.negated && whereOf(t) !== undefined)) return undefined;
  let first: SearchWhere | undefined;
  for (const t of q.terms.filter((t) => !t.negated)) {
    const w = whereOf(t);
    if (w === undefined) return undefined;
    first ??= w;
  }
  return first;
}

describe("matchRecord against the plain definition", () => {
  const vocab = ["alpha", "Beta", "gamma", "é", "e\u0301", "漢字", "4471", "x_y"];
  const sep = fc.constantFrom(" ", "-", ", ", "/", ".", "\n", "😀");
  const text = fc
    .array(fc.tuple(fc.constantFrom(...vocab), sep), { maxLength: 6 })
    .map((a) => a.map(([w, s]) => w + s).join(""));
  const scalar = fc.oneof(text, fc.constantFrom(4471, 1.5, true, false, null));
  const record = fc.record(
    {
      body: text,
      msg: text,
      name: text,
      attributes: fc.dictionary(
        fc.constantFrom("gen_ai.request.model", "k", "__proto__", "tool.name"),
        fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
      ),
    },
    { requiredKeys: [] },
  );
  const prefix = fc.constantFrom(
    "",
    "-",
    "name:",
    "model:",
    "attr.k:",
    "attr.__proto__:",
    "-name:",
    "-attr.k:",
  );
  const value = fc
    .array(fc.constantFrom(...vocab), { minLength: 1, maxLength: 2 })
    .map((a) => (a.length > 1 ? `"${a.join(" ")}"` : a[0]!));
  const query = fc
    .array(fc.tuple(prefix, value), { minLength: 1, maxLength: 4 })
    .map((a) => `alpha ${a.map(([p, v]) => p + v).join(" ")}`);

  it("matches exactly the records the definition matches, with the same where", () => {
    fc.assert(
      fc.property(record, query, (r, qs) => {
        const q = parseQuery(qs);
        const m = matchRecord(q, r);
        expect(m?.where).toBe(referenceMatch(q, r));
        if (m !== undefined) expect(m.snippet.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });
});
