import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs build script without types
import { assemble } from "../scripts/build-wasm.mjs";
import { FNV_WASM_BASE64 } from "../src/records/fnv-wasm.js";

describe("the WebAssembly FNV module", () => {
  it("is what fnv.wat assembles to (run npm run build:wasm after editing the .wat)", async () => {
    const wat = fileURLToPath(new URL("../src/records/fnv.wat", import.meta.url));
    expect(await assemble(wat)).toBe(FNV_WASM_BASE64);
  });
});
