// Assembles src/records/fnv.wat into src/records/fnv-wasm.ts (base64), so that the package needs no
// assembler at run time. test/fnv-wasm.test.ts checks the committed bytes against the .wat.
import { readFileSync, writeFileSync } from "node:fs";
import wabtInit from "wabt";

export async function assemble(path) {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(path, readFileSync(path, "utf8"));
  const { buffer } = mod.toBinary({});
  mod.destroy();
  return Buffer.from(buffer).toString("base64");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const wat = new URL("../src/records/fnv.wat", import.meta.url).pathname;
  const out = new URL("../src/records/fnv-wasm.ts", import.meta.url).pathname;
  const b64 = await assemble(wat);
  writeFileSync(
    out,
    `/** Generated from fnv.wat by scripts/build-wasm.mjs (npm run build:wasm). Do not edit. */\nexport const FNV_WASM_BASE64 =\n  "${b64}";\n`,
  );
  console.log(`wrote ${out} (${Buffer.from(b64, "base64").length} bytes of wasm)`);
}
