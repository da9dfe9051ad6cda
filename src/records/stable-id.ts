/**
 * `stableId(record)`: the seed trace-store's record id, bit for bit: FNV-1a 64 over the UTF-16 code
 * units of the record's canonical JSON (keys sorted recursively by `Array.prototype.sort`, no
 * whitespace, `JSON.stringify` for scalars), as 16 lowercase hex chars.
 *
 * The seed builds the canonical string and runs a BigInt loop over it (~17 MB/s). Here the canonical
 * JSON is never concatenated: each piece is hashed as it would be emitted, JSON string escaping done
 * on the fly. Short pieces go through a JS loop whose 64-bit state is four 16-bit limbs (no BigInt,
 * no allocation per step); long strings (bodies, mostly) through a WebAssembly loop with a native
 * 64-bit multiply (fnv.wat), which the JS state is handed to and taken back from.
 */
import { FNV_WASM_BASE64 } from "./fnv-wasm.js";

interface FnvWasm {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  setState(lo: number, hi: number): void;
  lo(): number;
  hi(): number;
  run(from: number, n: number): number;
}

// The WebAssembly global is typed by lib.dom, which a Node library does not load; this is its shape here.
const { WebAssembly: Wasm } = globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object) => { exports: unknown };
  };
};
const wasm = new Wasm.Instance(new Wasm.Module(Buffer.from(FNV_WASM_BASE64, "base64"))).exports as FnvWasm;
let wasmBytes = Buffer.from(wasm.memory.buffer);

/** Strings at least this long are hashed in WebAssembly; below it the call overhead is not worth it. */
const WASM_MIN_LENGTH = 48;

// FNV-1a 64 state as 16-bit limbs, least significant first. Module state: hashing is synchronous.
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function reset(): void {
  // offset basis 0xcbf29ce484222325
  v0 = 0x2325;
  v1 = 0x8422;
  v2 = 0x9ce4;
  v3 = 0xcbf2;
}

/** One FNV-1a step: xor a UTF-16 code unit in, multiply by the prime 2^40 + 0x1b3 (mod 2^64). */
function step(c: number): void {
  v0 ^= c;
  const t0 = v0 * 0x1b3;
  let t1 = v1 * 0x1b3;
  let t2 = v2 * 0x1b3;
  let t3 = v3 * 0x1b3;
  t2 += v0 << 8;
  t3 += v1 << 8;
  t1 += t0 >>> 16;
  v0 = t0 & 0xffff;
  t2 += t1 >>> 16;
  v1 = t1 & 0xffff;
  v3 = (t3 + (t2 >>> 16)) & 0xffff;
  v2 = t2 & 0xffff;
}

function raw(s: string): void {
  for (let i = 0; i < s.length; i++) step(s.charCodeAt(i));
}

const HEX = "0123456789abcdef";

function unicodeEscape(c: number): void {
  step(0x5c); // backslash
  step(0x75); // u
  step(HEX.charCodeAt((c >>> 12) & 15));
  step(HEX.charCodeAt((c >>> 8) & 15));
  step(HEX.charCodeAt((c >>> 4) & 15));
  step(HEX.charCodeAt(c & 15));
}

const SHORT_ESCAPES: Record<number, number> = { 8: 0x62, 9: 0x74, 10: 0x6e, 12: 0x66, 13: 0x72 };

/**
 * Hashes `JSON.stringify(s)` without building it (well-formed JSON.stringify, as in ES2019+).
 * The common case (a char that needs no escape) runs with the limbs in locals: this loop is where
 * nearly all of an insert's id time goes, since bodies are most of a record's bytes.
 */
function jsonString(s: string): void {
  step(0x22);
  const n = s.length;
  let i = 0;
  while (i < n) {
    let a = v0;
    let b = v1;
    let c2 = v2;
    let d = v3;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) break;
      a ^= c;
      const t0 = a * 0x1b3;
      let t1 = b * 0x1b3;
      let t2 = c2 * 0x1b3 + (a << 8);
      const t3 = d * 0x1b3 + (b << 8);
      t1 += t0 >>> 16;
      a = t0 & 0xffff;
      t2 += t1 >>> 16;
      b = t1 & 0xffff;
      d = (t3 + (t2 >>> 16)) & 0xffff;
      c2 = t2 & 0xffff;
    }
    v0 = a;
    v1 = b;
    v2 = c2;
    v3 = d;
    if (i < n) i = escaped(s, i);
  }
  step(0x22);
}

/** Hashes the escape of the char at `i`; returns the index after what it consumed. */
function escaped(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22 || c === 0x5c) {
    step(0x5c);
    step(c);
  } else if (c < 0x20) {
    const short = SHORT_ESCAPES[c];
    if (short === undefined) unicodeEscape(c);
    else {
      step(0x5c);
      step(short);
    }
  } else if (c <= 0xdbff && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
    step(c);
    step(s.charCodeAt(i + 1));
    return i + 2;
  } else {
    unicodeEscape(c); // a lone surrogate
  }
  return i + 1;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Hashes `JSON.stringify(s)` for a long string, in WebAssembly (see fnv.wat). */
function jsonStringWasm(s: string): void {
  const n = s.length;
  if (n * 2 > wasmBytes.length) {
    wasm.memory.grow(Math.ceil((n * 2 - wasmBytes.length) / 65536));
    wasmBytes = Buffer.from(wasm.memory.buffer);
  }
  wasmBytes.write(s, 0, n * 2, "utf16le"); // code units as they are, lone surrogates included
  step(0x22);
  let i = 0;
  for (;;) {
    wasm.setState((v1 << 16) | v0, (v3 << 16) | v2);
    i = wasm.run(i, n);
    const lo = wasm.lo();
    const hi = wasm.hi();
    v0 = lo & 0xffff;
    v1 = lo >>> 16;
    v2 = hi & 0xffff;
    v3 = hi >>> 16;
    if (i >= n) break;
    i = escaped(s, i); // a control char without a short escape, or a surrogate: rare, done in JS
  }
  step(0x22);
}

/** Hashes what the seed's `toCanonicalJson(value)` returns (`undefined` hashes as the text "undefined"). */
function canonical(value: unknown): void {
  if (typeof value === "string") {
    if (value.length >= WASM_MIN_LENGTH) jsonStringWasm(value);
    else jsonString(value);
    return;
  }
  if (value === null || typeof value !== "object") {
    raw(String(JSON.stringify(value)));
    return;
  }
  if (Array.isArray(value)) {
    step(0x5b);
    for (let i = 0; i < value.length; i++) {
      if (i > 0) step(0x2c);
      canonicalArrayItem(value[i]);
    }
    step(0x5d);
    return;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  step(0x7b);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) step(0x2c);
    jsonString(key);
    step(0x3a);
    canonical(obj[key]);
  }
  step(0x7d);
}

/** `Array.prototype.join` prints undefined (what toCanonicalJson gives for it) as nothing. */
function canonicalArrayItem(item: unknown): void {
  if (item === undefined || typeof item === "function" || typeof item === "symbol") return;
  canonical(item);
}

function hex4(v: number): string {
  return HEX[(v >>> 12) & 15]! + HEX[(v >>> 8) & 15]! + HEX[(v >>> 4) & 15]! + HEX[v & 15]!;
}

/** The record's id: the same 16 hex chars the seed's trace-store computes for it. */
export function stableId(record: object): string {
  reset();
  canonical(record);
  return hex4(v3) + hex4(v2) + hex4(v1) + hex4(v0);
}
