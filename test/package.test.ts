import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// npm test builds before it runs vitest, so dist/ is the package as it would be published.
const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

describe("package", () => {
  it("exports built JS with its types first", () => {
    const entry = pkg.exports["."];
    expect(Object.keys(entry)[0]).toBe("types");
    expect(existsSync(new URL(`../${entry.types}`, import.meta.url))).toBe(true);
    expect(existsSync(new URL(`../${entry.import}`, import.meta.url))).toBe(true);
  });

  it("is importable by its name, with the contract's exports", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        "const m = await import('tracetier'); console.log(typeof m.openStore, typeof m.stableId)",
      ],
      { cwd: root, encoding: "utf8" },
    );
    expect(out.trim()).toBe("function function");
  });

  it("ships the built viewer: its page and every asset the page names", () => {
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: root,
        encoding: "utf8",
      }),
    ) as Array<{ files: Array<{ path: string }> }>;
    const files = new Set(packed!.files.map((f) => f.path));
    expect(files.has("dist/viewer/index.html")).toBe(true);
    const page = readFileSync(new URL("../dist/viewer/index.html", import.meta.url), "utf8");
    const assets = [...page.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => `dist/viewer/${m[1]}`);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    for (const a of assets) expect(files.has(a), a).toBe(true);
  });

  it("has a tracetier bin that prints its help", () => {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(new URL(`../${pkg.bin.tracetier}`, import.meta.url)), "--help"],
      {
        encoding: "utf8",
      },
    );
    expect(out).toContain("Usage: tracetier <command>");
    for (const c of ["serve", "ingest", "verify", "import-sqlite", "sql", "demo"])
      expect(out).toContain(`  ${c} `);
  });

  it("exits 2 with a one-line error for an unknown command", () => {
    let status = 0;
    let stderr = "";
    try {
      execFileSync(
        process.execPath,
        [fileURLToPath(new URL(`../${pkg.bin.tracetier}`, import.meta.url)), "frobnicate"],
        {
          encoding: "utf8",
          stdio: "pipe",
        },
      );
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = (e as { stderr: string }).stderr;
    }
    expect(status).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });
});
