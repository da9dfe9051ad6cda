/**
 * Cold search sidecars under SIGKILL: a compaction (and the merges it runs) killed at any point never
 * leaves a listed file without its sound sidecar, and after the next open nothing unlisted (a replaced
 * file, an uncommitted write, or either's sidecar) is left on disk to be found.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../src/index.js";
import { checksumOf } from "../tiers/cold/checksum.js";
import type { ColdFile } from "../tiers/cold/manifest.js";
import { decodeSidecar, sidecarName } from "../tiers/cold/sidecar.js";
import { tempDir } from "./support/fixtures.js";
import { exited, startChild, waitForLine } from "./support/spawn.js";

const ROUNDS = 6;

function listed(dir: string): ColdFile[] {
  const path = join(dir, "cold", "MANIFEST.json");
  if (!existsSync(path)) return [];
  return (JSON.parse(readFileSync(path, "utf8")) as { files: ColdFile[] }).files;
}

/** Every listed file has a sidecar on disk as its entry records it, indexing its row count. */
function expectSoundSidecars(dir: string): void {
  for (const f of listed(dir)) {
    expect(f.index, `${f.name} is listed without a sidecar`).toBeDefined();
    const bytes = readFileSync(join(dir, "cold", sidecarName(f.name)));
    expect(bytes.length).toBe(f.index!.bytes);
    expect(checksumOf(bytes)).toBe(f.index!.checksum);
    expect(decodeSidecar(bytes, f.name).rows).toBe(f.rows);
  }
}

function filesOnDisk(dir: string): string[] {
  const cold = join(dir, "cold");
  return readdirSync(cold)
    .filter((d) => d.startsWith("date="))
    .flatMap((d) => readdirSync(join(cold, d)).map((n) => `${d}/${n}`))
    .sort();
}

describe("cold sidecars and SIGKILL", () => {
  it("never leaves a listed file without its sidecar, nor an unlisted file or sidecar after the next open", async () => {
    const dir = tempDir();
    for (let round = 0; round < ROUNDS; round++) {
      const child = startChild(["compact-loop", dir, String(round * 10_000)]);
      await waitForLine(child, (l) => l === "compacted", 30_000);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      child.kill("SIGKILL");
      await exited(child);
      expectSoundSidecars(dir); // as the kill left the disk, before any recovery
      const store = await openStore({ dir });
      await store.close();
      expectSoundSidecars(dir);
      const expected = listed(dir).flatMap((f) => [f.name, sidecarName(f.name)]);
      expect(filesOnDisk(dir)).toEqual(expected.sort());
    }
  });
});
