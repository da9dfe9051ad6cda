/** The pieces `tracetier ingest`'s reader thread is built from: resuming NDJSON at a cursor, packed prepared records. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type NdjsonCursor, type NdjsonLine, ndjsonLines } from "../src/base/ndjson.js";
import { packPrepared, unpackPrepared } from "../src/cli/commands/ingest-pack.js";
import { prepareRecord } from "../src/records/prepare.js";
import { everyKind, multiDayTurns } from "./support/fixtures.js";

async function read(bytes: Buffer, at?: NdjsonCursor, stopAfter = Number.POSITIVE_INFINITY) {
  const out: NdjsonLine[] = [];
  for await (const l of ndjsonLines([bytes], undefined, at)) {
    out.push(l);
    if (out.length === stopAfter) break;
  }
  return out;
}

describe("NDJSON from a cursor", () => {
  it("reads the same lines when one reader stops after any line and another goes on from its cursor", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.jsonValue(), fc.constant("{bad"), fc.constant("")), { maxLength: 15 }),
        fc.nat(),
        fc.boolean(),
        async (items, stop, crlf) => {
          const text = items.map((v) => (typeof v === "string" && v !== "" ? v : (JSON.stringify(v) ?? "")));
          const bytes = Buffer.from(text.map((t) => `${t}${crlf ? "\r\n" : "\n"}`).join(""), "utf8");
          const whole = await read(bytes);
          const at: NdjsonCursor = { line: 0, offset: 0 };
          const first = await read(bytes, at, whole.length === 0 ? 1 : (stop % whole.length) + 1);
          const rest = await read(bytes.subarray(at.offset), { ...at });
          expect([...first, ...rest]).toEqual(whole);
        },
      ),
    );
  });
});

describe("packed prepared records", () => {
  it("come back as the records prepareRecord made, bodies and hashes byte for byte", () => {
    const records = [...everyKind(), ...multiDayTurns(1, 2).flat()];
    const prepared = records.map((r, i) => prepareRecord(r, i));
    const packed = packPrepared(prepared);
    // through a structured clone with the bytes transferred, as a worker posts them
    const { port1, port2 } = new MessageChannel();
    const received = new Promise<typeof packed>((resolve) => port2.once("message", resolve));
    port1.postMessage(packed, [packed.bytes]);
    return received.then((m) => {
      port1.close();
      expect(packed.bytes.byteLength).toBe(0); // transferred, not copied
      const back = unpackPrepared(m);
      expect(back.map((p) => p.id)).toEqual(prepared.map((p) => p.id));
      expect(back.map((p) => p.record)).toEqual(prepared.map((p) => p.record));
      for (const [i, p] of back.entries()) {
        expect(Buffer.compare(p.encoded, prepared[i]!.encoded)).toBe(0);
        expect(p.body === undefined).toBe(prepared[i]!.body === undefined);
        if (p.body) {
          expect(p.body.utf8.toString()).toBe(records[i]!.body);
          expect(p.body.hash.equals(prepared[i]!.body!.hash)).toBe(true);
        }
      }
    });
  });

  it("are refused, coded, when their lengths do not account for their bytes exactly", () => {
    const packed = packPrepared([...everyKind()].map((r, i) => prepareRecord(r, i)));
    const broken = [
      { ...packed, lengths: packed.lengths.slice(1) },
      { ...packed, lengths: packed.lengths.map((n, i) => (i === 0 ? n + 1_000_000 : n)) },
      { ...packed, lengths: packed.lengths.map((n, i) => (i === 0 ? -5 : n)) },
      { ...packed, bytes: new ArrayBuffer(packed.bytes.byteLength + 3) },
      { ...packed, ids: packed.ids.slice(1) },
    ];
    for (const m of broken)
      expect(() => unpackPrepared(m)).toThrow(expect.objectContaining({ code: "ERR_IO" }));
  });
});
