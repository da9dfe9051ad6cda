/**
 * The collector as a hostile client sees it: a few thousand seeded requests over raw sockets against a
 * real `tracetier serve` process. Malformed request lines and targets, `%`-escapes, wrong content
 * types, truncated gzip, gzip bombs, random and bit-flipped protobuf, structurally wrong OTLP/JSON,
 * deep nesting, prototype keys, huge ids, slow bodies, wrongly typed records. The process must never
 * crash, never answer 5xx; every refusal is a 4xx with an error body; every acknowledged record is
 * readable afterwards and nothing of a refused batch is stored.
 *
 * `FUZZ_SEED` and `FUZZ_CASES` override the seed and the number of cases (the summary line prints both,
 * so a failing run can be replayed).
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { messages } from "../src/collector/otlp/schema.js";
import { stableId } from "../src/index.js";
import { tempDir } from "./support/fixtures.js";
import { type RawAnswer, type RawRequest, rawRequest, sendRaw } from "./support/raw-http.js";
import { serveProcess } from "./support/serve-process.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_128);
const CASES = Number(process.env.FUZZ_CASES ?? 3000);
const CONCURRENCY = 8;
const BODY_LIMIT = 256 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
  hex(chars: number): string {
    let s = "";
    for (let i = 0; i < chars; i++) s += "0123456789abcdef"[this.int(0, 15)];
    return s;
  }
}

/** What a case expects of the store afterwards, by the answer it got. */
interface Tracked {
  /** Records sent to /v1/records: all readable if acknowledged, none if refused. */
  records?: unknown[];
  /** An OTLP trace of our making: every span readable on a full success, none on a refusal. */
  trace?: { traceId: string; spanIds: string[] };
}

interface Case {
  kind: string;
  request: RawRequest;
  /** An OTLP endpoint with an OTLP content type: errors may come as a google.rpc.Status. */
  otlp?: "json" | "protobuf";
  head?: boolean;
  track?: Tracked;
}

const PROTO_KEYS = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "prototype"];
const BAD_ESCAPES = [
  "%ZZ",
  "%E0%A4%A",
  "%C0%AF",
  "%uFFFF",
  "%",
  "%2",
  "%FF",
  "%ED%A0%80",
  "%00",
  "%F4%90%80%80",
];
const GOOD_ESCAPES = ["%20", "%2F", "%C3%A9", "%E2%9C%93", "a", "-", "_", "~", "%25", "+", "%3F"];

function logRecord(turnId: string, i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: "log",
    level: "info",
    msg: `fuzz ${i}`,
    timestamp: 1_700_000_000_000 + i,
    extensionId: "fuzz",
    turnId,
    ...over,
  };
}

function batch(g: Gen, tag: string, n = g.int(1, 5)): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) =>
    logRecord(`${tag}-t${i % 2}`, i, g.bool(0.3) ? { body: `b ${tag} ${i}` } : {}),
  );
}

const ndjson = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join("\n");

function postRecords(body: Buffer | string, headers: Record<string, string> = {}): Buffer {
  return rawRequest("POST", "/v1/records", { "content-type": "application/x-ndjson", ...headers }, body);
}

/** An OTLP trace request (JSON shape) whose trace id is unique to the case. */
function otlpTrace(
  g: Gen,
  caseNo: number,
  traceId = `f${(caseNo + 1).toString(16).padStart(31, "0")}`,
): { req: Record<string, unknown>; traceId: string; spanIds: string[] } {
  const spanIds = Array.from({ length: g.int(1, 3) }, () => `a${g.hex(15)}`);
  const spans = spanIds.map((spanId, i) => ({
    traceId,
    spanId,
    name: `op ${i}`,
    kind: g.int(0, 5),
    startTimeUnixNano: String(1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n),
    endTimeUnixNano: String(1_700_000_000_500_000_000n + BigInt(i) * 1_000_000n),
    attributes: [
      { key: "gen_ai.request.model", value: { stringValue: "m" } },
      { key: "n", value: { intValue: String(i) } },
      { key: "list", value: { arrayValue: { values: [{ doubleValue: 1.5 }, { boolValue: true }] } } },
    ],
    events: [{ name: "retry", timeUnixNano: "1700000000100000000", attributes: [] }],
    status: { code: g.pick([0, 1, 2]) },
  }));
  const req = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "fuzz-svc" } }] },
        scopeSpans: [{ scope: { name: "fuzz" }, spans }],
      },
    ],
  };
  return { req, traceId, spanIds };
}

function otlpLogs(caseNo: number): Record<string, unknown> {
  const traceId = `e${(caseNo + 1).toString(16).padStart(31, "0")}`;
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "fuzz-svc" } }] },
        scopeLogs: [
          {
            logRecords: [
              {
                timeUnixNano: "1700000000000000000",
                severityNumber: 9,
                body: { stringValue: "hi" },
                traceId,
              },
              {
                observedTimeUnixNano: "1700000000000000001",
                eventName: "gen_ai.choice",
                body: { stringValue: "x" },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** The JSON request as protobuf bytes (ids hex → bytes, as an exporter would send them). */
function toProtobuf(type: "traces" | "logs", req: Record<string, unknown>): Buffer {
  const idFields = new Set(["traceId", "spanId", "parentSpanId"]);
  const convert = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(convert);
    if (typeof v !== "object" || v === null) return v;
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        idFields.has(k) && typeof x === "string" ? Buffer.from(x, "hex") : convert(x),
      ]),
    );
  };
  const t = type === "traces" ? messages.traceRequest : messages.logsRequest;
  return Buffer.from(t.encode(t.fromObject(convert(req) as Record<string, unknown>)).finish());
}

/** Every (parent, key) slot in a JSON value, to replace one with something of the wrong shape. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out);
    });
  } else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots(x, out);
    }
  }
  return out;
}

const WRONG_VALUES: unknown[] = [
  null,
  {},
  [],
  [null],
  [5],
  5,
  -1,
  1000000.5,
  1e300,
  "x",
  "",
  "1e3",
  true,
  { __proto__: 1 },
  { stringValue: 5 },
  "NaN",
  "-5",
  "18446744073709551616",
  [{}],
];

/** AnyValue JSON nested `depth` levels (built as text: JSON.stringify itself overflows at thousands). */
function deepAnyValue(depth: number, array: boolean): string {
  const open = array ? '{"arrayValue":{"values":[' : '{"kvlistValue":{"values":[{"key":"k","value":';
  const close = array ? "]}}" : "}]}}";
  return `${open.repeat(depth - 1)}{"stringValue":"leaf"}${close.repeat(depth - 1)}`;
}

function deepJson(depth: number, g: Gen): string {
  const [o, c] = g.bool() ? ["[", "]"] : ['{"a":', "}"];
  return `${o.repeat(depth)}1${c.repeat(depth)}`;
}

type Maker = (g: Gen, n: number) => Case;

const MAKERS: [number, string, Maker][] = [
  [
    6,
    "valid records",
    (g, n) => {
      const records = batch(g, `fz${n}`);
      const json = g.bool();
      const body = json ? JSON.stringify(records) : ndjson(records);
      return {
        kind: "valid records",
        request: { pieces: [postRecords(body, json ? { "content-type": "application/json" } : {})] },
        track: { records },
      };
    },
  ],
  [
    4,
    "valid otlp",
    (g, n) => {
      const { req, traceId, spanIds } = otlpTrace(g, n);
      const proto = g.bool();
      const body = proto ? toProtobuf("traces", req) : Buffer.from(JSON.stringify(req));
      const type = proto ? "application/x-protobuf" : "application/json";
      return {
        kind: "valid otlp",
        otlp: proto ? "protobuf" : "json",
        request: { pieces: [rawRequest("POST", "/v1/traces", { "content-type": type }, body)] },
        track: { trace: { traceId, spanIds } },
      };
    },
  ],
  [
    6,
    "bad request line",
    (g) => {
      const lines = [
        "GET http://[::1 HTTP/1.1",
        `GET http://[${g.hex(4)}:${g.hex(2)} HTTP/1.1`,
        "GET http://collector/v1/turns/%ZZ HTTP/1.1",
        "GET http://collector:99999/healthz HTTP/1.1",
        "GET https://x/v1/stats HTTP/1.1",
        "GET //[::1 HTTP/1.1",
        "GET //x/healthz HTTP/1.1",
        "GET x:/y HTTP/1.1",
        "GET mailto:a@b HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "CONNECT collector:443 HTTP/1.1",
        "GET / HTTP/9.9",
        "GET /healthz HTTP/1.1 extra",
        "G\u00c9T /healthz HTTP/1.1",
        `GET /${g
          .bytes(g.int(1, 30))
          .toString("latin1")
          .replace(/[\r\n ]/g, "x")} HTTP/1.1`,
        `${g.bytes(g.int(1, 40)).toString("latin1")}`,
        "GET /healthz?%ZZ=1 HTTP/1.1",
        "GET /v1/records?limit=%E0%A4%A HTTP/1.1",
        "GET /v1/records?from=-1constructor&limit=1e400 HTTP/1.1",
        "GET /v1/records?order=__proto__&limit=-0 HTTP/1.1",
        "GET /healthz#frag HTTP/1.1",
        "GET ?x HTTP/1.1",
      ];
      const line = g.pick(lines);
      const headers = g.pick([
        "host: localhost\r\n",
        "host: localhost\r\nbad header\r\n",
        "host: localhost\r\ncontent-length: abc\r\n",
        "host: localhost\r\ncontent-length: 1\r\ncontent-length: 2\r\n",
        "host: localhost\r\n folded: yes\r\n",
        "host: localhost\r\ntransfer-encoding: chunked, gzip\r\n",
        "host: localhost\r\nconnection: upgrade\r\nupgrade: websocket\r\n",
        "host: localhost\r\nconnection: upgrade\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n",
        `host: localhost\r\nx-big: ${"a".repeat(g.pick([10, 20_000]))}\r\n`,
      ]);
      return {
        kind: "bad request line",
        request: { pieces: [Buffer.from(`${line}\r\n${headers}\r\n`, "latin1")] },
      };
    },
  ],
  [
    6,
    "escapes",
    (g) => {
      const seg = () =>
        Array.from({ length: g.int(1, 4) }, () =>
          g.bool(0.5) ? g.pick(BAD_ESCAPES) : g.pick(GOOD_ESCAPES),
        ).join("");
      const target = g.pick([
        () => `/v1/turns/${seg()}`,
        () => `/v1/turns/${seg()}/view`,
        () => `/v1/records/${seg()}/body`,
        () => `/v1/records?${seg()}=${seg()}&turnId=${seg()}`,
        () => `/v1/records?kind=${seg()}&bodies=${seg()}`,
        () => `/v1/turns/${seg()}?bodies=${seg()}`,
        () => `/v1/records/${seg()}/diff`,
        () => `/v1/turns?${seg()}=${seg()}&limit=${seg()}&cursor=${seg()}`,
        () => `/v1/turns?from=${seg()}&to=${seg()}&errors=${seg()}&order=${seg()}&model=${seg()}`,
        () => `/v1/usage?from=${seg()}&extensionId=${seg()}`,
        () => `/turns/${seg()}`,
        () => `/assets/${seg()}`,
        () => `/${seg()}`,
      ])();
      return { kind: "escapes", request: { pieces: [rawRequest("GET", target, {})] } };
    },
  ],
  [
    4,
    "methods",
    (g) => {
      const method = g.pick(["DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO", "get", "POST"]);
      const path = g.pick([
        "/v1/records",
        "/v1/traces",
        "/v1/stats",
        "/healthz",
        "/metrics",
        "/v1/turns/x",
        "/v1/turns",
        "/v1/usage",
        "/v1/records/0123456789abcdef/diff",
        "/",
        "/usage",
        "/nope",
      ]);
      return {
        kind: "methods",
        head: method === "HEAD",
        request: { pieces: [rawRequest(method, path, {}, method === "POST" ? "" : undefined)] },
      };
    },
  ],
  [
    5,
    "content types",
    (g, n) => {
      const records = batch(g, `fz${n}`);
      const type = g.pick([
        "text/plain",
        "application/xml",
        "",
        "multipart/form-data; boundary=x",
        "application/json; charset=utf-16",
        "application/JSON",
        "application/x-ndjson;;;",
        "*/*",
        "application/x-protobuf",
        "application/protobuf",
      ]);
      const path = g.pick(["/v1/records", "/v1/traces", "/v1/logs"]);
      const encoding = g.pick([undefined, "br", "deflate", "gzip, gzip", " GZIP "]);
      const headers: Record<string, string> = {
        "content-type": type,
        ...(encoding ? { "content-encoding": encoding } : {}),
      };
      const body =
        encoding?.trim().toLowerCase() === "gzip" ? gzipSync(ndjson(records)) : Buffer.from(ndjson(records));
      const lower = type.toLowerCase();
      const otlp =
        path !== "/v1/records"
          ? lower.startsWith("application/json")
            ? "json"
            : lower.includes("protobuf")
              ? "protobuf"
              : undefined
          : undefined;
      return {
        kind: "content types",
        otlp,
        request: { pieces: [rawRequest("POST", path, headers, body)] },
        track: path === "/v1/records" ? { records } : undefined,
      };
    },
  ],
  [
    4,
    "truncated gzip",
    (g, n) => {
      const otlp = g.bool(0.3);
      if (otlp) {
        const { req, traceId, spanIds } = otlpTrace(g, n);
        const gz = gzipSync(JSON.stringify(req));
        const body = gz.subarray(0, g.int(0, gz.length - 1));
        return {
          kind: "truncated gzip",
          otlp: "json",
          request: {
            pieces: [
              rawRequest(
                "POST",
                "/v1/traces",
                { "content-type": "application/json", "content-encoding": "gzip" },
                body,
              ),
            ],
          },
          track: { trace: { traceId, spanIds } },
        };
      }
      const records = batch(g, `fz${n}`);
      const gz = gzipSync(ndjson(records));
      const body = g.bool(0.7)
        ? gz.subarray(0, g.int(0, gz.length - 1))
        : Buffer.concat([gz.subarray(0, gz.length - 8), g.bytes(8)]);
      return {
        kind: "truncated gzip",
        request: { pieces: [postRecords(body, { "content-encoding": "gzip" })] },
        track: { records },
      };
    },
  ],
  [
    2,
    "gzip bomb",
    (g, n) => {
      const records = batch(g, `fz${n}`, 1);
      const padding = g.pick([" ", "\n", "0"]).repeat(BODY_LIMIT + g.int(1, 3 * BODY_LIMIT));
      const path = g.pick(["/v1/records", "/v1/traces"]);
      const body = gzipSync(
        path === "/v1/records" ? `${ndjson(records)}\n${padding}` : `{"resourceSpans":[]${padding}}`,
      );
      const headers = {
        "content-type": path === "/v1/records" ? "application/x-ndjson" : "application/json",
        "content-encoding": "gzip",
      };
      return {
        kind: "gzip bomb",
        otlp: path === "/v1/traces" ? "json" : undefined,
        request: { pieces: [rawRequest("POST", path, headers, body)] },
        track: path === "/v1/records" ? { records } : undefined,
      };
    },
  ],
  [
    5,
    "random protobuf",
    (g) => {
      const path = g.pick(["/v1/traces", "/v1/logs"]);
      const body = g.bytes(g.int(0, 400));
      if (g.bool(0.5) && body.length > 0) body[0] = g.pick([0x0a, 0x12, 0x08]); // look like a field
      return {
        kind: "random protobuf",
        otlp: "protobuf",
        request: { pieces: [rawRequest("POST", path, { "content-type": "application/x-protobuf" }, body)] },
      };
    },
  ],
  [
    6,
    "bit-flipped protobuf",
    (g, n) => {
      const logs = g.bool(0.3);
      // A random trace id: flipped bits must not turn it into the id of another case's trace.
      const body = logs
        ? toProtobuf("logs", otlpLogs(n))
        : toProtobuf("traces", otlpTrace(g, n, g.hex(32)).req);
      for (let k = g.int(1, 8); k > 0; k--) {
        const at = g.int(0, body.length - 1);
        body[at] = body[at]! ^ (1 << g.int(0, 7));
      }
      return {
        kind: "bit-flipped protobuf",
        otlp: "protobuf",
        request: {
          pieces: [
            rawRequest(
              "POST",
              logs ? "/v1/logs" : "/v1/traces",
              { "content-type": "application/x-protobuf" },
              body,
            ),
          ],
        },
      };
    },
  ],
  [
    8,
    "wrong otlp json",
    (g, n) => {
      const logs = g.bool(0.3);
      const built = logs ? { req: otlpLogs(n), traceId: "", spanIds: [] } : otlpTrace(g, n);
      const all = slots(built.req);
      for (let k = g.int(1, 2); k > 0; k--) {
        const [parent, key] = g.pick(all);
        (parent as Record<string | number, unknown>)[key] = structuredClone(g.pick(WRONG_VALUES));
      }
      const body = JSON.stringify(built.req);
      // Which spans survive a mutation is not known here: only "a refusal stores nothing" is checked.
      const track = logs ? undefined : { trace: { traceId: built.traceId, spanIds: [] } };
      return {
        kind: "wrong otlp json",
        otlp: "json",
        request: {
          pieces: [
            rawRequest(
              "POST",
              logs ? "/v1/logs" : "/v1/traces",
              { "content-type": "application/json" },
              body,
            ),
          ],
        },
        track,
      };
    },
  ],
  [
    4,
    "deep nesting",
    (g, n) => {
      const depth = g.pick([2, 10, 63, 64, 65, 100, 101, 1000, 5000]);
      const where = g.pick([
        "otlp attribute",
        "otlp log body",
        "otlp protobuf",
        "record attribute",
        "record link",
        "record field",
      ]);
      if (where.startsWith("otlp")) {
        const traceId = `d${(n + 1).toString(16).padStart(31, "0")}`;
        const value = deepAnyValue(depth, g.bool());
        const span = `{"traceId":"${traceId}","spanId":"b${g.hex(15)}","name":"deep","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000000001","attributes":[{"key":"deep","value":${value}}]}`;
        const json =
          where === "otlp log body"
            ? `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","traceId":"${traceId}","body":${value}}]}]}]}`
            : `{"resourceSpans":[{"scopeSpans":[{"spans":[${span}]}]}]}`;
        const path = where === "otlp log body" ? "/v1/logs" : "/v1/traces";
        if (where === "otlp protobuf" && depth <= 65) {
          const body = toProtobuf("traces", JSON.parse(json) as Record<string, unknown>);
          return {
            kind: "deep nesting",
            otlp: "protobuf",
            request: {
              pieces: [rawRequest("POST", path, { "content-type": "application/x-protobuf" }, body)],
            },
          };
        }
        return {
          kind: "deep nesting",
          otlp: "json",
          request: { pieces: [rawRequest("POST", path, { "content-type": "application/json" }, json)] },
        };
      }
      const turnId = `fz${n}-deep`;
      const deep = deepJson(depth, g);
      const head = `{"kind":"span-open","spanId":"s","name":"n","timestamp":1700000000000,"extensionId":"fuzz","turnId":"${turnId}"`;
      const text =
        where === "record attribute"
          ? `${head},"attributes":{"a":${deep}}}`
          : where === "record link"
            ? `${head},"links":[{"spanId":"x","attributes":{"a":${deep}}}]}`
            : `${head},"extra":${deep}}`;
      return {
        kind: "deep nesting",
        request: { pieces: [postRecords(text)] },
        track: { records: depth <= 1000 ? [JSON.parse(text)] : undefined },
      };
    },
  ],
  [
    8,
    "prototype keys",
    (g, n) => {
      const key = g.pick(PROTO_KEYS);
      const turnId = `fz${n}-proto`;
      const where = g.pick([
        "attribute",
        "link attribute",
        "record field",
        "kind",
        "otlp attribute",
        "otlp kvlist",
        "turnId",
      ]);
      if (where.startsWith("otlp")) {
        const { req, traceId, spanIds } = otlpTrace(g, n);
        const span = (
          (req.resourceSpans as Record<string, unknown>[])[0]!.scopeSpans as Record<string, unknown>[]
        )[0]!.spans as Record<string, unknown>[];
        const kv =
          where === "otlp attribute"
            ? { key, value: { stringValue: "p" } }
            : { key: "outer", value: { kvlistValue: { values: [{ key, value: { intValue: "7" } }] } } };
        (span[0]!.attributes as unknown[]).push(kv);
        return {
          kind: "prototype keys",
          otlp: "json",
          request: {
            pieces: [
              rawRequest("POST", "/v1/traces", { "content-type": "application/json" }, JSON.stringify(req)),
            ],
          },
          track: { trace: { traceId, spanIds } },
        };
      }
      const base = logRecord(turnId, n);
      // Built as text: an object literal's `__proto__` would set the prototype instead of a key.
      const text =
        where === "attribute"
          ? JSON.stringify(base).replace(/}$/, `,"attributes":{"${key}":"v","ok":1}}`)
          : where === "link attribute"
            ? JSON.stringify({
                ...base,
                kind: "span-open",
                spanId: "s",
                name: "n",
                level: undefined,
                msg: undefined,
              }).replace(/}$/, `,"links":[{"spanId":"x","attributes":{"${key}":"v"}}]}`)
            : where === "record field"
              ? JSON.stringify(base).replace(/}$/, `,"${key}":"v"}`)
              : where === "kind"
                ? JSON.stringify({ ...base, kind: key })
                : JSON.stringify({ ...base, turnId: key });
      const record = JSON.parse(text) as Record<string, unknown>;
      return {
        kind: "prototype keys",
        request: { pieces: [postRecords(text)] },
        track: where === "turnId" ? undefined : { records: [record] },
      };
    },
  ],
  [
    4,
    "huge ids",
    (g, n) => {
      const size = g.pick([1000, 5000, 10_000]);
      const where = g.pick(["turnId", "spanId", "get turn", "get body", "otlp traceId"]);
      if (where === "get turn" || where === "get body") {
        const id = "x".repeat(g.pick([100, 8000, 20_000]));
        return {
          kind: "huge ids",
          request: {
            pieces: [
              rawRequest("GET", where === "get turn" ? `/v1/turns/${id}` : `/v1/records/${id}/body`, {}),
            ],
          },
        };
      }
      if (where === "otlp traceId") {
        const { req } = otlpTrace(g, n);
        const spans = (
          (req.resourceSpans as Record<string, unknown>[])[0]!.scopeSpans as Record<string, unknown>[]
        )[0]!.spans as Record<string, unknown>[];
        spans[0]!.traceId = "f".repeat(size);
        return {
          kind: "huge ids",
          otlp: "json",
          request: {
            pieces: [
              rawRequest("POST", "/v1/traces", { "content-type": "application/json" }, JSON.stringify(req)),
            ],
          },
        };
      }
      const turnId = `fz${n}-${"T".repeat(size)}`;
      const record =
        where === "turnId"
          ? logRecord(turnId, n)
          : logRecord(`fz${n}-h`, n, { spanId: "S".repeat(size * 10) });
      return {
        kind: "huge ids",
        request: { pieces: [postRecords(JSON.stringify(record))] },
        track: { records: [record] },
      };
    },
  ],
  [
    4,
    "otlp amplification",
    (g, n) => {
      const { req, traceId, spanIds } = otlpTrace(g, n);
      const spans = (
        (req.resourceSpans as Record<string, unknown>[])[0]!.scopeSpans as Record<string, unknown>[]
      )[0]!.spans as Record<string, unknown>[];
      const attrs = spans[0]!.attributes as unknown[];
      const shape = g.pick([
        "indexed prompt",
        "long key over kvlist",
        "empty messages",
        "enums",
        "empty keys",
      ]);
      const post = (body: Buffer, otlp: "json" | "protobuf", gzip = false): Case => ({
        kind: "otlp amplification",
        otlp,
        request: {
          pieces: [
            rawRequest(
              "POST",
              "/v1/traces",
              {
                "content-type": otlp === "json" ? "application/json" : "application/x-protobuf",
                ...(gzip ? { "content-encoding": "gzip" } : {}),
              },
              gzip ? gzipSync(body) : body,
            ),
          ],
        },
        track: { trace: { traceId, spanIds } },
      });
      if (shape === "empty messages") {
        // `0a 00` (an empty ResourceSpans) or `0a 02 12 00` (one with an empty ScopeSpans), repeated.
        const unit = g.bool() ? [0x0a, 0x00] : [0x0a, 0x02, 0x12, 0x00];
        const body = Buffer.alloc(unit.length * g.pick([1000, 30_000, 60_000]));
        for (let i = 0; i < body.length; i++) body[i] = unit[i % unit.length]!;
        return { ...post(body, "protobuf", g.bool()), track: undefined };
      }
      if (shape === "indexed prompt") {
        const count = g.pick([1000, 4096, 4097, 4500]);
        for (let i = 0; i < count; i++)
          attrs.push({ key: `gen_ai.prompt.0.f${i}`, value: { stringValue: "x" } });
        return post(toProtobuf("traces", req), "protobuf");
      }
      if (shape === "long key over kvlist") {
        const values = Array.from({ length: g.int(1, 500) }, (_, i) => ({
          key: `c${i}`,
          value: { intValue: "1" },
        }));
        attrs.push({
          key: "k".repeat(g.pick([100, 1020, 1030, 50_000])),
          value: { kvlistValue: { values } },
        });
        return g.bool()
          ? post(Buffer.from(JSON.stringify(req)), "json")
          : post(toProtobuf("traces", req), "protobuf");
      }
      if (shape === "enums") {
        spans[0]!.kind = g.pick(["SPAN_KIND_SERVER", "FOO", "3", "span_kind_server", 2.5, 9]);
        spans[0]!.status = { code: g.pick(["2", "STATUS_CODE_ERROR", "STATUS_CODE_FOO", "-1"]) };
        return post(Buffer.from(JSON.stringify(req)), "json");
      }
      attrs.push({ value: { stringValue: "no key" } }, { key: "", value: { stringValue: "empty" } });
      attrs.push({ key: "m", value: { kvlistValue: { values: [{ value: { boolValue: true } }] } } });
      return g.bool()
        ? post(Buffer.from(JSON.stringify(req)), "json")
        : post(toProtobuf("traces", req), "protobuf");
    },
  ],
  [
    3,
    "slow bodies",
    (g, n) => {
      const records = batch(g, `fz${n}`);
      const raw = postRecords(ndjson(records));
      const cuts = Array.from({ length: g.int(2, 5) }, () => g.int(1, raw.length - 1)).sort((a, b) => a - b);
      const pieces = [0, ...cuts, raw.length]
        .slice(1)
        .map((end, i, ends) => raw.subarray(i === 0 ? 0 : ends[i - 1], end));
      pieces.unshift(raw.subarray(0, 0));
      return { kind: "slow bodies", request: { pieces, delayMs: g.int(20, 150) }, track: { records } };
    },
  ],
  [
    6,
    "wrongly typed records",
    (g, n) => {
      const base = logRecord(`fz${n}-typed`, n);
      const field = g.pick([
        "timestamp",
        "kind",
        "level",
        "msg",
        "extensionId",
        "turnId",
        "attributes",
        "body",
        "(record)",
      ]);
      const value = g.pick([
        null,
        "1",
        1.5,
        -8.7e15,
        8.64e15 + 1,
        2 ** 53,
        [],
        {},
        { a: { b: 1 } },
        [1, [2]],
        true,
        "",
        1e308,
      ]);
      const record = field === "(record)" ? value : { ...base, [field]: value };
      const records = g.bool() ? [logRecord(`fz${n}-typed`, n + 1), record] : [record];
      return {
        kind: "wrongly typed records",
        request: { pieces: [postRecords(JSON.stringify(records), { "content-type": "application/json" })] },
        track: { records },
      };
    },
  ],
];

const TOTAL_WEIGHT = MAKERS.reduce((s, [w]) => s + w, 0);

function makeCase(g: Gen, n: number): Case {
  let r = g.int(0, TOTAL_WEIGHT - 1);
  for (const [w, , make] of MAKERS) {
    if (r < w) return make(g, n);
    r -= w;
  }
  throw new Error("unreachable");
}

/** Why an error answer's body is not an error body, or undefined when it is one. */
function errorBodyProblem(c: Case, a: RawAnswer): string | undefined {
  if (c.head) return undefined; // HEAD answers carry no body
  const type = a.headers["content-type"] ?? "";
  if (c.otlp && type.startsWith("application/x-protobuf")) {
    try {
      const s = messages.status.toObject(messages.status.decode(a.body)) as {
        code?: number;
        message?: string;
      };
      return typeof s.message === "string" && s.code !== undefined ? undefined : "an empty google.rpc.Status";
    } catch {
      return "a body that is not a google.rpc.Status";
    }
  }
  let v: { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown };
  try {
    v = JSON.parse(a.body.toString("utf8")) as typeof v;
  } catch {
    return `a body that is not JSON: ${a.body.toString("utf8").slice(0, 80)}`;
  }
  if (typeof v.error?.code === "string" && typeof v.error.message === "string") return undefined;
  if (c.otlp === "json" && typeof v.code === "number" && typeof v.message === "string") return undefined;
  return `an error body without code and message: ${JSON.stringify(v).slice(0, 80)}`;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

describe("the collector under hostile HTTP", () => {
  it("never crashes or answers 5xx, refuses with 4xx error bodies, keeps acknowledged records and nothing of refused ones", async () => {
    const started = Date.now();
    const s = serveProcess(["--dir", tempDir(), "--body-limit", String(BODY_LIMIT)]);
    const url = await s.url;
    const g = new Gen(prng(SEED));
    const cases = Array.from({ length: CASES }, (_, n) => makeCase(g, n));
    const answers: (RawAnswer | undefined)[] = new Array(cases.length);
    const failures: string[] = [];
    const byClass = new Map<string, number>();
    const fail = (n: number, what: string) => {
      const head = Buffer.concat(cases[n]!.request.pieces).subarray(0, 60).toString("latin1");
      failures.push(`#${n} ${cases[n]!.kind} ${JSON.stringify(head)}: ${what}`);
    };

    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const n = next++;
        const c = cases[n]!;
        let a: RawAnswer;
        try {
          a = await sendRaw(url, c.request);
        } catch (err) {
          fail(n, (err as Error).message);
          continue;
        }
        answers[n] = a;
        const cls = a.status === 0 ? "none" : `${String(a.status)[0]}xx`;
        byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
        if (a.status === 0) fail(n, "the connection closed without an answer");
        else if (a.status >= 500) fail(n, `answered ${a.status}: ${a.body.toString("utf8").slice(0, 160)}`);
        else if (a.status >= 400) {
          const problem = errorBodyProblem(c, a);
          if (problem) fail(n, `answered ${a.status} with ${problem}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const alive = s.child.exitCode === null && s.child.signalCode === null;

    // Afterwards: what was acknowledged is readable, what was refused left nothing.
    let checked = 0;
    let acked = 0;
    let refused = 0;
    for (const [n, c] of cases.entries()) {
      const a = answers[n];
      if (!alive || !a || !c.track || a.status === 0 || a.status >= 500) continue;
      const ok = a.status === 200;
      if (ok) acked++;
      else refused++;
      for (const problem of await storedProblems(url, c.track, ok, a)) fail(n, problem);
      checked++;
    }
    const crashes = s.crashes();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const classes = [...byClass.entries()]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    console.log(
      `fuzz-http: seed=${SEED} requests=${cases.length} ${classes} crashes=${crashes.length + (alive ? 0 : 1)} ` +
        `acked=${acked} refused=${refused} store-checked=${checked} failures=${failures.length} in ${seconds}s`,
    );
    for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
    // The server's own account of its 500s (the client only got a generic message).
    const logged = s
      .stderr()
      .split("\n")
      .filter((l) => / 5\d\d [A-Z_]+: /.test(l));
    for (const l of logged.slice(0, 40)) console.log(`  server: ${l.slice(0, 300)}`);
    expect(crashes).toEqual([]);
    expect(alive).toBe(true);
    expect(failures).toEqual([]);
    s.child.kill("SIGTERM");
    expect(await new Promise((r) => s.child.once("exit", r))).toBe(0);
  }, 180_000);
});

/** What is wrong in the store for one tracked case, given whether it was acknowledged. */
async function storedProblems(url: string, t: Tracked, acked: boolean, a: RawAnswer): Promise<string[]> {
  const problems: string[] = [];
  if (t.records) {
    const byTurn = new Map<string, string[]>();
    for (const r of t.records) {
      const turnId = (r as { turnId?: unknown } | null)?.turnId;
      if (typeof turnId !== "string") continue;
      let id: string;
      try {
        id = stableId(r as never);
      } catch {
        continue; // a record stableId cannot hash was surely refused; its turn is still checked below
      }
      byTurn.set(turnId, [...(byTurn.get(turnId) ?? []), id]);
    }
    for (const [turnId, ids] of byTurn) {
      // An empty turn id has no /v1/turns/<id> path; the query endpoint reads it.
      const path = turnId === "" ? "/v1/records?turnId=" : `/v1/turns/${encodeURIComponent(turnId)}`;
      const got = await getJson(`${url}${path}`);
      if (got.status !== 200) {
        problems.push(
          `reading turn ${turnId.slice(0, 40)} answered ${got.status}: ${JSON.stringify(got.body).slice(0, 160)}`,
        );
        continue;
      }
      const stored = new Set((got.body as { id: string }[]).map((r) => r.id));
      if (acked && !ids.every((id) => stored.has(id)))
        problems.push(`acknowledged records of turn ${turnId.slice(0, 40)} are not all readable`);
      if (!acked && stored.size > 0)
        problems.push(
          `a refused batch (${a.status}) left ${stored.size} records in turn ${turnId.slice(0, 40)}`,
        );
    }
  }
  if (t.trace) {
    const partial = a.body.toString("utf8").includes("partialSuccess") || a.body.length > 2;
    const got = await getJson(`${url}/v1/turns/${t.trace.traceId}`);
    if (got.status !== 200) {
      problems.push(`reading trace ${t.trace.traceId} answered ${got.status}`);
      return problems;
    }
    const opens = new Set(
      (got.body as { kind: string; spanId: string }[])
        .filter((r) => r.kind === "span-open")
        .map((r) => r.spanId),
    );
    if (acked && !partial && !t.trace.spanIds.every((id) => opens.has(id)))
      problems.push(`acknowledged spans of trace ${t.trace.traceId} are not all readable`);
    if (!acked && opens.size > 0)
      problems.push(`a refused OTLP request (${a.status}) left ${opens.size} spans`);
  }
  return problems;
}
