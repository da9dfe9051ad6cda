import { openStore } from "../src/index.js";
const t = Date.now();
const s = await openStore({ dir: process.argv[2]! });
console.log("opened", Date.now() - t);
await s.close();
console.log("closed", Date.now() - t);
