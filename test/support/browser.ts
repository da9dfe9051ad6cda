/**
 * A real headless Chromium for the viewer's tests, driven by playwright-core (which never downloads a
 * browser: it launches the one scripts/browser-install.mjs finds or installed). Each page records what
 * went wrong on it (console errors, uncaught exceptions, failed requests, HTTP error answers) so a test
 * can assert that nothing did.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { findChromium } from "../../scripts/browser-install.mjs";

/** The flags of the issue: headless, no sandbox (tests may run as root), and no traffic of its own. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  executable: string;
  context: BrowserContext;
  /** A new page (tab) that records its problems. */
  open(): Promise<WatchedPage>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

export interface WatchedPage {
  page: Page;
  /** What went wrong on the page so far, one line each; empty when nothing did. */
  problems: string[];
}

export function chromiumExecutable(): string {
  const found = findChromium();
  if (found === undefined)
    throw new Error(
      "no Chromium found: run `node scripts/browser-install.mjs` (npm test does) or set CHROME_PATH",
    );
  return found;
}

/** `timezoneId`: the pages' local time zone (an IANA name), for tests of local-time display. */
export async function launchBrowser(opts: { timezoneId?: string } = {}): Promise<Browser> {
  const executable = chromiumExecutable();
  // A profile of its own: nothing from a user's Chromium profile leaks in, and none is left behind.
  const profile = mkdtempSync(join(tmpdir(), "tracetier-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: executable,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 800 },
      timeout: 30_000,
      ...(opts.timezoneId !== undefined ? { timezoneId: opts.timezoneId } : {}),
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  // A view that works appears in well under a second; one that does not should fail its test soon,
  // not after playwright's default 30 s per step.
  context.setDefaultTimeout(10_000);
  // The persistent context opens with one blank tab; tests open their own.
  for (const p of context.pages()) await p.close();
  return {
    executable,
    context,
    open: async () => watch(await context.newPage()),
    close: async () => {
      await context.close();
      // Chromium may still be flushing the profile for a moment after it exits.
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}

function watch(page: Page): WatchedPage {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => {
    const error = r.failure()?.errorText;
    // The app aborts the fetches a newer one supersedes (AbortController): not a failure.
    if (error === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${r.method()} ${r.url()}: ${error}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return { page, problems };
}
