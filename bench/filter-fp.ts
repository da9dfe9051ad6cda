/** Measured false-positive rates of the cold tier's Bloom filters (docs/decisions.md): `npx tsx bench/filter-fp.ts`. */

import { randomBytes } from "node:crypto";
import { BloomFilter, idHash, textHash } from "../tiers/cold/filter.js";

for (const [n, bpk] of [
  [15, 16],
  [76, 16],
  [1500, 12],
  [300, 12],
] as const) {
  const keys = Array.from({ length: n }, (_, i) => textHash(`k${i}${randomBytes(8).toString("hex")}`));
  const f = BloomFilter.build(keys, n, bpk);
  let fp = 0;
  const T = 200000;
  for (let i = 0; i < T; i++) if (f.mayHave(textHash(`absent${i}`))) fp++;
  let fpi = 0;
  for (let i = 0; i < T; i++) if (f.mayHave(idHash(randomBytes(8).toString("hex")))) fpi++;
  console.log(
    n,
    bpk,
    "fp text",
    `${((fp / T) * 100).toFixed(3)}%`,
    "fp id-probe",
    `${((fpi / T) * 100).toFixed(3)}%`,
  );
}
