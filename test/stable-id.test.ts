import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stableId } from "../src/index.js";
import { generateRecords } from "../src/workload/generator.js";
import { seedStableId } from "./support/seed-stable-id.js";

const text = fc.string({ unit: "grapheme", maxLength: 40 });
const anyText = fc.oneof(text, fc.string({ unit: "binary", maxLength: 40 }), fc.string({ maxLength: 40 }));
const scalar = fc.oneof(
  anyText,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const attributes = fc.dictionary(anyText, fc.oneof(scalar, fc.array(scalar, { maxLength: 4 })), {
  maxKeys: 6,
});
const link = fc.record(
  { spanId: anyText, turnId: anyText, reason: anyText, extra: fc.jsonValue({ maxDepth: 2 }) },
  { requiredKeys: ["spanId"] },
);
const common = {
  timestamp: fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  extensionId: anyText,
  conversationId: anyText,
  turnId: anyText,
  attributes,
  body: fc.oneof(anyText, fc.string({ unit: "binary", maxLength: 3000 })),
};
const record = fc.oneof(
  fc.record(
    {
      ...common,
      kind: fc.constant("log"),
      level: fc.constantFrom("debug", "info", "warn", "error"),
      msg: anyText,
      spanId: anyText,
      parentSpanId: anyText,
    },
    { requiredKeys: ["kind", "timestamp", "extensionId", "level", "msg"] },
  ),
  fc.record(
    {
      ...common,
      kind: fc.constant("span-open"),
      spanId: anyText,
      name: anyText,
      parentSpanId: anyText,
      links: fc.array(link, { maxLength: 3 }),
    },
    { requiredKeys: ["kind", "timestamp", "extensionId", "spanId", "name"] },
  ),
  fc.record(
    {
      ...common,
      kind: fc.constant("span-close"),
      spanId: anyText,
      name: anyText,
      durationMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
      status: fc.constantFrom("ok", "error"),
      parentSpanId: anyText,
      links: fc.array(link, { maxLength: 3 }),
    },
    { requiredKeys: ["kind", "timestamp", "extensionId", "spanId", "name", "durationMs", "status"] },
  ),
);

describe("stableId", () => {
  it("equals the seed's BigInt FNV-1a 64 for generated records, unicode and lone surrogates included", () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(stableId(r)).toBe(seedStableId(r));
      }),
      { numRuns: 2000 },
    );
  });

  it("equals the seed's for any JSON value, not only records", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(stableId({ v })).toBe(seedStableId({ v }));
      }),
      { numRuns: 1000 },
    );
  });

  it("equals the seed's on realistic records with large bodies", () => {
    for (const r of generateRecords({ conversations: 1, turnsPerConversation: 3 })) {
      expect(stableId(r)).toBe(seedStableId(r));
    }
  });

  it("equals the seed's for long strings with every escape, on both sides of the WebAssembly threshold", () => {
    const specials = [
      '"',
      "\\",
      "\b",
      "\t",
      "\n",
      "\f",
      "\r",
      "\u0000",
      "\u001f",
      "\u007f",
      "\ud800",
      "\udfff",
      "\ud83d\ude00",
      "\ud83d",
      "é",
      "漢",
    ];
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...specials), fc.string({ maxLength: 30 })), { maxLength: 60 }),
        (parts) => {
          const s = parts.join("");
          for (const cut of [s, s.slice(0, 47), s.slice(0, 48), s.slice(0, 49)]) {
            const r = { kind: "log", msg: cut, body: cut.repeat(3) };
            expect(stableId(r)).toBe(seedStableId(r));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("equals the seed's for a body that grows WebAssembly memory", () => {
    const body = '😀 a "quoted" line\n'.repeat(40_000); // 1.2 M code units: more than the first pages
    const r = { kind: "span-open", body, timestamp: 1 };
    expect(stableId(r)).toBe(seedStableId(r));
  });

  it("hashes an undefined-valued key as the seed does (as the text undefined)", () => {
    const r = { kind: "log", level: "info", msg: "m", timestamp: 1, extensionId: "e", turnId: undefined };
    expect(stableId(r)).toBe(seedStableId(r));
    expect(stableId(r)).not.toBe(stableId({ ...r, turnId: "x" }));
  });

  it("is 16 lowercase hex chars", () => {
    expect(stableId({ kind: "log" })).toMatch(/^[0-9a-f]{16}$/);
  });
});
