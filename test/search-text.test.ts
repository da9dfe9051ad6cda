import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  foldText,
  MAX_TOKEN_UNITS,
  originalOffset,
  termArray,
  termOf,
  termsOf,
  tokenize,
} from "../src/search/text.js";
import { generateRecords } from "../src/workload/generator.js";

/** The contract's definition, applied to the whole text at once (the reference the fast paths must equal). */
function reference(text: string): string[] {
  return (
    text
      .normalize("NFKC")
      .toLowerCase()
      .match(/[\p{L}\p{N}\p{M}_]+/gu) ?? []
  );
}

/** The contract's ASCII definition: fold A–Z, maximal runs of [a-z0-9_]. */
function asciiReference(text: string): string[] {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase()).match(/[a-z0-9_]+/g) ?? [];
}

/** FNV-1a 32 written the textbook way, as a second opinion on termOf. */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const unit of s.split("").map((c) => c.charCodeAt(0))) {
    h ^= unit;
    h = Number((BigInt(h) * 0x01000193n) & 0xffffffffn);
  }
  return h;
}

// Characters that stress the Unicode path: accents (precomposed and combining), final sigma and its
// case-ignorable neighbours, compatibility forms NFKC rewrites, CJK, emoji, lone surrogates.
const tricky = [
  "é",
  "É",
  "e\u0301",
  "\u0301",
  "ß",
  "İ",
  "ı",
  "Σ",
  "σ",
  "ς",
  "Α",
  "ﬁ",
  "℡",
  "½",
  "①",
  "Ａ",
  "ｶ",
  "\u3099",
  "漢",
  "字",
  "か",
  "😀",
  "\u{1d400}",
  "\ud800",
  "\udc00",
  "\u00a0",
  "\u200b",
  "·",
  "’",
  "<",
  "\u0338",
  "a",
  "Z",
  "0",
  "_",
  " ",
  "\n",
  ".",
  ":",
  "'",
  "^",
  "`",
  "-",
  ",",
  '"',
  "/",
  "=",
];
const trickyText = fc.array(fc.constantFrom(...tricky), { maxLength: 40 }).map((a) => a.join(""));
const mixedText = fc.oneof(
  trickyText,
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.string({ maxLength: 60 }),
);

describe("tokenize", () => {
  it("folds ASCII letters and cuts at every char outside [a-z0-9_]", () => {
    expect(tokenize("Hello, World! foo_bar 42 a.b/c-D")).toEqual([
      "hello",
      "world",
      "foo_bar",
      "42",
      "a",
      "b",
      "c",
      "d",
    ]);
  });

  it("gives no token for text without letters, digits or underscores", () => {
    expect(tokenize("")).toEqual([]);
    expect(tokenize(" -- ... !? \n\t")).toEqual([]);
  });

  it("gives the ASCII definition's tokens on any ASCII string", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)) }),
        (s) => {
          expect(tokenize(s)).toEqual(asciiReference(s));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("gives the Unicode definition's tokens on ASCII strings too (both paths agree)", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)) }),
        (s) => {
          expect(reference(s)).toEqual(asciiReference(s));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("equals NFKC + toLowerCase + [\\p{L}\\p{N}\\p{M}_]+ over the whole text on any string", () => {
    fc.assert(
      fc.property(mixedText, (s) => {
        expect(tokenize(s)).toEqual(reference(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("folds é and É, precomposed or with a combining accent, to one token", () => {
    expect(tokenize("café CAFÉ cafe\u0301")).toEqual(["café", "café", "café"]);
  });

  it("keeps ß (toLowerCase does not expand it) and lowercases ẞ to ß", () => {
    expect(tokenize("Straße STRAẞE")).toEqual(["straße", "straße"]);
  });

  it("lowercases Turkish İ by toLowerCase, not by a Turkish locale", () => {
    expect(tokenize("İstanbul")).toEqual(["i\u0307stanbul"]);
  });

  it("uses the final sigma only at the end of a word, as toLowerCase does over the whole text", () => {
    expect(tokenize("ΟΔΟΣ ΟΔΟΣ.Α")).toEqual(["οδος", "οδοσ", "α"]);
  });

  it("makes a CJK run without spaces one token", () => {
    expect(tokenize("错误：找不到文件 ファイル")).toEqual(["错误", "找不到文件", "ファイル"]);
  });

  it("keeps combining marks inside the token they follow", () => {
    expect(tokenize("x\u0301y q\u0323\u0307")).toEqual(["x\u0301y", "q\u0323\u0307"]);
  });

  it("does not make emoji tokens, and cuts words at them", () => {
    expect(tokenize("ok😀done 🚀")).toEqual(["ok", "done"]);
  });

  it("keeps astral letters (surrogate pairs) whole", () => {
    expect(tokenize("a𝐀b 𠀀x")).toEqual(["aab", "𠀀x"]);
  });

  it("applies NFKC compatibility mappings (ligatures, fullwidth, circled digits)", () => {
    expect(tokenize("ﬁle ＡＢＣ ①")).toEqual(["file", "abc", "1"]);
  });

  it("keeps tokens longer than MAX_TOKEN_UNITS", () => {
    const long = "x".repeat(MAX_TOKEN_UNITS + 10);
    expect(tokenize(`a ${long} b`)).toEqual(["a", long, "b"]);
  });

  it("gives the same tokens on the workload's texts as the whole-text definition", () => {
    const records = generateRecords({ conversations: 2, turnsPerConversation: 2 });
    const bodies = records.flatMap((r) => (r.body ? [r.body] : [])).slice(0, 6);
    expect(bodies.length).toBeGreaterThan(0);
    for (const b of bodies) {
      const accented = b.replace(/e/g, (e, i: number) => (i % 97 === 0 ? "é" : e));
      expect(tokenize(accented)).toEqual(reference(accented));
    }
  });
});

describe("termOf", () => {
  it("is FNV-1a 32 over the UTF-16 code units, unsigned", () => {
    expect(termOf("")).toBe(0x811c9dc5);
    expect(termOf("a")).toBe(0xe40c292c);
    expect(termOf("foobar")).toBe(0xbf9cf968);
  });

  it("agrees with a textbook FNV-1a 32 on any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), (s) => {
        const t = termOf(s);
        expect(t).toBe(fnv1a32(s));
        expect(t).toBeGreaterThanOrEqual(0);
        expect(Number.isInteger(t)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe("termsOf", () => {
  function expected(text: string): Set<number> {
    return new Set(
      tokenize(text)
        .filter((t) => t.length <= MAX_TOKEN_UNITS)
        .map(termOf),
    );
  }

  it("equals termOf over tokenize (indexable tokens, distinct) on any string", () => {
    fc.assert(
      fc.property(mixedText, (s) => {
        expect(termsOf(s)).toEqual(expected(s));
      }),
      { numRuns: 2000 },
    );
  });

  it("equals termOf over tokenize on ASCII strings", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)) }),
        (s) => {
          expect(termsOf(s)).toEqual(expected(s));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("skips tokens longer than MAX_TOKEN_UNITS and keeps one of exactly that length", () => {
    const edge = "y".repeat(MAX_TOKEN_UNITS);
    const over = "z".repeat(MAX_TOKEN_UNITS + 1);
    expect(termsOf(`a ${edge} ${over}`)).toEqual(new Set([termOf("a"), termOf(edge)]));
    expect(termsOf(`é ${"é".repeat(MAX_TOKEN_UNITS + 1)}`)).toEqual(new Set([termOf("é")]));
  });

  it("keeps every distinct term of a text with thousands of them, and none of the previous text's", () => {
    const words = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
    expect(termsOf(words.join(" "))).toEqual(new Set(words.map(termOf)));
    expect(termsOf("one One ONE two")).toEqual(new Set([termOf("one"), termOf("two")]));
  });

  it("adds to the set it is given", () => {
    const into = new Set([1]);
    const out = termsOf("Alpha beta", into);
    expect(out).toBe(into);
    expect(out).toEqual(new Set([1, termOf("alpha"), termOf("beta")]));
  });

  it("equals termOf over tokenize on the workload's bodies", () => {
    const records = generateRecords({ conversations: 2, turnsPerConversation: 2 });
    for (const r of records.slice(0, 40)) {
      const texts = [r.body, r.kind === "log" ? r.msg : r.name].filter((t): t is string => t !== undefined);
      for (const t of texts) expect(termsOf(t)).toEqual(expected(t));
    }
  });
});

describe("termArray", () => {
  it("holds termsOf's terms, each once, in first-seen order", () => {
    fc.assert(
      fc.property(mixedText, (s) => {
        const arr = [...termArray(s)];
        expect(new Set(arr)).toEqual(termsOf(s));
        expect(arr).toHaveLength(new Set(arr).size);
      }),
      { numRuns: 500 },
    );
    expect([...termArray("b a b c a")]).toEqual(["b", "a", "c"].map(termOf));
  });
});

describe("foldText and originalOffset", () => {
  it("fold ASCII text one unit for one", () => {
    expect(foldText("AbC-1")).toBe("abc-1");
    expect(originalOffset("AbC-1", 3)).toBe(3);
  });

  it("map each token's folded start back to where the token starts in the original", () => {
    fc.assert(
      fc.property(mixedText, (s) => {
        const folded = foldText(s);
        expect(folded).toBe(s.normalize("NFKC").toLowerCase());
        for (const m of folded.matchAll(/[\p{L}\p{N}\p{M}_]+/gu)) {
          const o = originalOffset(s, m.index);
          expect(o).toBeGreaterThanOrEqual(0);
          expect(o).toBeLessThanOrEqual(s.length);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("map exactly where NFKC keeps lengths (accented and CJK text)", () => {
    const s = "Voilà: l’erreur était là — 文件未找到 near here";
    const folded = foldText(s);
    for (const word of ["erreur", "là", "文件未找到", "near"]) {
      expect(originalOffset(s, folded.indexOf(word))).toBe(s.toLowerCase().indexOf(word));
    }
  });
});
