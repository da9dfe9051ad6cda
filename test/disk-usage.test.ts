/**
 * Measuring a directory that changes underneath: LevelDB deletes table files and logs whenever it
 * compacts, between the `readdir` that lists them and the `stat` that sizes them. The races are made
 * deterministic by wrapping `stat`/`readdir` to remove an entry, or fail, just before they look at it.
 */

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import type * as fsp from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { diskBytes } from "../src/base/disk-usage.js";
import { tempDir } from "./support/fixtures.js";

/** Called with the path before the real call: may delete it, or throw. */
const before = { stat: (_p: string) => {}, readdir: (_p: string) => {} };

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof fsp>();
  return {
    ...real,
    stat: (p: string, ...rest: []) => {
      before.stat(p);
      return real.stat(p, ...rest);
    },
    readdir: (p: string, ...rest: [{ withFileTypes: true }]) => {
      before.readdir(p);
      return real.readdir(p, ...rest);
    },
  };
});

function tree(): string {
  const dir = tempDir();
  mkdirSync(join(dir, "sub"));
  for (const n of ["a", "b", "sub/c"]) writeFileSync(join(dir, n), Buffer.alloc(64 * 1024, 1));
  return dir;
}

const eio = (path: string) => Object.assign(new Error(`EIO: i/o error, stat '${path}'`), { code: "EIO" });

beforeEach(() => {
  before.stat = () => {};
  before.readdir = () => {};
});

describe("diskBytes", () => {
  it("counts a file deleted between readdir and stat as zero bytes", async () => {
    const dir = tree();
    const whole = await diskBytes(dir);
    before.stat = (p) => {
      if (p === join(dir, "a")) rmSync(p);
    };
    const less = await diskBytes(dir);
    expect(less).toBeGreaterThan(0);
    expect(less).toBeLessThan(whole);
  });

  it("counts a subdirectory removed between readdir and its own listing as zero bytes", async () => {
    const dir = tree();
    before.readdir = (p) => {
      if (p === join(dir, "sub")) rmSync(p, { recursive: true });
    };
    await expect(diskBytes(dir)).resolves.toBeGreaterThan(0);
  });

  it("wraps any other failure as ERR_IO naming the path, with the fs error as cause", async () => {
    const dir = tree();
    before.stat = (p) => {
      if (p === join(dir, "b")) throw eio(p);
    };
    const err = await diskBytes(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_IO", cause: { code: "EIO" } });
    expect((err as Error).message).toContain(join(dir, "b"));
  });

  it("reports a missing root as ERR_IO: only entries inside the tree may vanish", async () => {
    const dir = join(tempDir(), "nope");
    await expect(diskBytes(dir, true)).rejects.toMatchObject({ code: "ERR_IO" });
  });
});
