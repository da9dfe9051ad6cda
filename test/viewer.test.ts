/**
 * The viewer in a real Chromium (playwright-core driving the installed browser) against a real
 * `tracetier serve`, with turns ingested through the OpenTelemetry SDK. The page is read only through
 * its data-testid hooks. Screenshots of the main views go to test-results/viewer/ (git-ignored), with
 * the render times measured in the browser (timings.json).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { StoredRecord } from "../src/index.js";
import { type Browser, launchBrowser, type WatchedPage } from "./support/browser.js";
import {
  type ExportedTurn,
  exportLlmTurn,
  exportScenario,
  exportSmallTurns,
  exportWideTurn,
  type GenAiMessage,
  type Scenario,
  type ShownRequest,
} from "./support/otel-turns.js";
import { type ServeProcess, serveProcess } from "./support/serve-process.js";
import { exited } from "./support/spawn.js";

const RESULTS = fileURLToPath(new URL("../test-results/viewer/", import.meta.url));
const TOKEN = "viewer-test-token-5d1c";
const WIDE_SPANS = 200;
/** The browser's time zone: not UTC (and not a whole hour off it), so local time and UTC differ. */
const TIME_ZONE = "Asia/Kolkata";

let browser: Browser;
let server: ServeProcess;
let url: string;
let scenario: Scenario;
let wide: ExportedTurn;
/** Render and API times measured in the browser (ms), written to timings.json. */
const timings: Record<string, number> = {};
/** The pages the current test opened; afterEach checks that nothing went wrong on any of them. */
let pages: WatchedPage[] = [];

/**
 * `serve` runs from the sources (tsx) but serves the built viewer (dist/viewer): a viewer edited since
 * the last build would be tested as its old bundle, silently. The build writes index.html last.
 */
function assertViewerBuilt(): void {
  const viewer = fileURLToPath(new URL("../viewer/", import.meta.url));
  const built = fileURLToPath(new URL("../dist/viewer/index.html", import.meta.url));
  if (!existsSync(built)) throw new Error("the viewer is not built (no dist/viewer): run npm run build");
  const builtAt = statSync(built).mtimeMs;
  const newer = readdirSync(viewer, { recursive: true, encoding: "utf8" }).filter(
    (f) => statSync(join(viewer, f)).mtimeMs > builtAt,
  );
  if (newer.length > 0)
    throw new Error(
      `the viewer build is older than viewer/ (${newer.slice(0, 3).join(", ")}): run npm run build`,
    );
}

beforeAll(async () => {
  assertViewerBuilt();
  mkdirSync(RESULTS, { recursive: true });
  server = serveProcess(["--dir", serverDir()]);
  [browser, url] = await Promise.all([launchBrowser({ timezoneId: TIME_ZONE }), server.url]);
  // Recent turns (minutes ago), so any default time range of the list shows them.
  const now = Date.now();
  scenario = await exportScenario(url, now - 20 * 60_000);
  wide = await exportWideTurn(url, now - 40 * 60_000, WIDE_SPANS);
});

afterAll(async () => {
  try {
    await browser?.close();
    if (server) await stop(server);
  } finally {
    // Even when a server did not stop cleanly (its expectation failed) or the browser would not close.
    for (const d of serverDirs) rmSync(d, { recursive: true, force: true });
  }
  if (Object.keys(timings).length > 0)
    writeFileSync(
      join(RESULTS, "timings.json"),
      `${JSON.stringify({ unit: "ms", measuredAt: new Date().toISOString(), ...rounded(timings) }, null, 2)}\n`,
    );
});

afterEach(async () => {
  const opened = pages;
  pages = [];
  for (const w of opened) await w.page.close();
  // Every view loads without a console error, an uncaught exception, a failed request or an HTTP error.
  expect(opened.flatMap((w) => w.problems)).toEqual([]);
});

const rounded = (t: Record<string, number>) =>
  Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v * 10) / 10]));

/**
 * A store directory for a server that lives across a describe's tests (fixtures' tempDir is removed
 * after each test), removed at the end of the file, once the servers have stopped.
 */
const serverDirs: string[] = [];
function serverDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tracetier-viewer-"));
  serverDirs.push(dir);
  return dir;
}

/** Stops a server: it shuts down cleanly (exit 0), having crashed on nothing the tests did. */
async function stop(s: ServeProcess): Promise<void> {
  s.child.kill("SIGTERM");
  expect(await exited(s.child)).toBe(0);
  expect(s.crashes()).toEqual([]);
}

/** A watched page at `path` of the viewer served by `base`. */
async function open(path: string, base = url): Promise<WatchedPage> {
  const w = await browser.open();
  pages.push(w);
  await w.page.goto(`${base}${path}`);
  return w;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });

/** A screenshot in a taller window, for a turn's detail panel (it scrolls within the window). */
async function tallShot(page: Page, name: string): Promise<void> {
  await page.setViewportSize({ width: 1280, height: 1500 });
  await page.screenshot({ path: join(RESULTS, `${name}.png`) });
}

const attrs = (page: Page, selector: string, name: string) =>
  page.locator(selector).evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name);

const turnIdsShown = (page: Page) => attrs(page, '[data-testid="turn-row"]', "data-turn-id");

/** Waits (up to 15 s) until the page shows exactly `n` elements matching `selector`. */
async function waitForCount(page: Page, selector: string, n: number): Promise<void> {
  await expect.poll(() => page.locator(selector).count(), { timeout: 15_000, message: selector }).toBe(n);
}

/** The few browser globals the in-page callbacks use (the project's type-check has no DOM library). */
interface InPage {
  document: { querySelectorAll(selector: string): { length: number } };
  MutationObserver: new (
    callback: () => void,
  ) => { observe(target: unknown, options: { childList: boolean; subtree: boolean }): void };
  requestAnimationFrame(callback: () => void): number;
  __rendered?: number;
}

/**
 * Records `performance.now()` (ms since navigation start) when the page first has `n` elements
 * matching `selector`, as `__rendered`: a MutationObserver installed before the app's script runs.
 */
async function timeRender(page: Page, selector: string, n: number): Promise<void> {
  await page.addInitScript(
    ([s, c]) => {
      const g = globalThis as unknown as InPage;
      const check = () => {
        if (g.__rendered === undefined && g.document.querySelectorAll(s).length >= c)
          g.__rendered = performance.now();
      };
      new g.MutationObserver(check).observe(g.document, { childList: true, subtree: true });
    },
    [selector, n] as const,
  );
}

/** The time `timeRender` recorded, once it has. */
const rendered = (page: Page) =>
  page
    .waitForFunction(() => (globalThis as unknown as InPage).__rendered, undefined, { timeout: 15_000 })
    .then((h) => h.jsonValue() as Promise<number>);

/** How long the page's (first) request to `path` took, from its start to the response's end (ms). */
async function apiTime(page: Page, path: string): Promise<number> {
  return page.evaluate((p) => {
    const entry = performance.getEntriesByType("resource").find((e) => new URL(e.name).pathname === p);
    if (entry === undefined) throw new Error(`no request to ${p}`);
    return entry.duration;
  }, path);
}

/** Polls `check` every 100 ms until it holds; fails after 20 s (expect.poll works only inside tests). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A duration as the viewer shows it (`840 ms`, `1.23 s`), in ms, and half its last shown digit. */
function parseDuration(text: string): { ms: number; within: number } {
  const m = /^\s*(\d+)(?:\.(\d+))?\s*(ms|s)\s*$/.exec(text);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  const unit = m[3] === "s" ? 1000 : 1;
  const decimals = m[2]?.length ?? 0;
  return { ms: Number(`${m[1]}.${m[2] ?? "0"}`) * unit, within: (unit * 10 ** -decimals) / 2 };
}

const textOf = (m: GenAiMessage) => m.parts.map((p) => p.content).join("");

/** The record ids of a turn's span records by `<kind> <spanId>` (request bodies sit on the span-open). */
async function recordIds(turnId: string): Promise<Map<string, string>> {
  const res = await fetch(`${url}/v1/turns/${turnId}?bodies=false`);
  const records = (await res.json()) as StoredRecord[];
  return new Map(
    records.flatMap((r) => (r.kind === "log" ? [] : [[`${r.kind} ${r.spanId}`, r.id] as const])),
  );
}

/** Opens a turn and selects one of its spans; the ids of the span's open and close records. */
async function openSpan(
  turnId: string,
  spanId: string,
): Promise<{ w: WatchedPage; openId: string; closeId: string }> {
  const ids = await recordIds(turnId);
  const w = await open(`/turns/${turnId}`);
  await w.page.locator(`[data-testid="span-row"][data-span-id="${spanId}"]`).click();
  return { w, openId: ids.get(`span-open ${spanId}`)!, closeId: ids.get(`span-close ${spanId}`)! };
}

/** Opens the second turn of the conversation and selects its LLM call's span. */
async function openLlmSpan(): Promise<{ w: WatchedPage; recordId: string }> {
  const { w, openId } = await openSpan(scenario.second.turnId, scenario.second.llm!.spanId);
  return { w, recordId: openId };
}

/** The span's request body is shown as these messages: roles in order, each containing its text. */
async function expectConversation(shown: ShownRequest): Promise<void> {
  const { w, openId } = await openSpan(scenario.shapes.turn.turnId, shown.spanId);
  const body = w.page.locator(`[data-testid="body-view"][data-record-id="${openId}"]`);
  await body.waitFor();
  const messages = body.locator('[data-testid="message"]');
  await expect.poll(() => messages.count()).toBe(shown.messages.length);
  expect(await messages.evaluateAll((els) => els.map((e) => e.getAttribute("data-role")))).toEqual(
    shown.messages.map((m) => m.role),
  );
  const texts = await messages.allTextContents();
  for (const [i, m] of shown.messages.entries()) expect(texts[i]).toContain(m.text);
}

describe("the viewer in a real browser", () => {
  it("lists the ingested turns, newest first", async () => {
    const w = await browser.open();
    pages.push(w);
    await timeRender(w.page, '[data-testid="turn-row"]', 1);
    await w.page.goto(`${url}/`);
    await waitForCount(w.page, '[data-testid="turn-row"]', 4);
    timings.turnsListFirstRow = await rendered(w.page);
    timings.turnsListApi = await apiTime(w.page, "/v1/turns");
    const newestFirst = [...scenario.turns].reverse().map((t) => t.turnId);
    expect(await turnIdsShown(w.page)).toEqual([...newestFirst, wide.turnId]);
    await shot(w.page, "list");
  });

  it("shows a turn's start in the browser's local time, with UTC on hover", async () => {
    const turn = scenario.turns[2]!;
    const { page } = await open("/");
    const row = page.locator(`[data-testid="turn-row"][data-turn-id="${turn.turnId}"]`);
    await row.waitFor();
    const hhmm = (timeZone: string) =>
      new Intl.DateTimeFormat("en-GB", {
        timeZone,
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      }).format(turn.start);
    const [local, utc] = [hhmm(TIME_ZONE), hhmm("UTC")];
    expect(local).not.toBe(utc);
    const titled = row.locator("[title*='UTC']").first();
    expect(await titled.getAttribute("title")).toContain(utc);
    expect(await titled.textContent()).toContain(local);
  });

  it("shows a clicked turn's spans in start order with their durations", async () => {
    const turn = scenario.second;
    const { page } = await open("/");
    await page.locator(`[data-testid="turn-row"][data-turn-id="${turn.turnId}"]`).click();
    await page.waitForURL(`**/turns/${turn.turnId}`);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    expect(await attrs(page, '[data-testid="span-row"]', "data-span-id")).toEqual(
      turn.spans.map((s) => s.spanId),
    );
    const shown = await page
      .locator('[data-testid="span-row"] [data-testid="span-duration"]')
      .allTextContents();
    expect(shown).toHaveLength(turn.spans.length);
    shown.forEach((text, i) => {
      const { ms, within } = parseDuration(text);
      expect(Math.abs(ms - turn.spans[i]!.durationMs), `${turn.spans[i]!.name}: ${text}`).toBeLessThanOrEqual(
        within,
      );
    });
    const names = await page.locator('[data-testid="span-row"] [data-testid="span-name"]').allTextContents();
    expect(names.map((n) => n.trim())).toEqual(turn.spans.map((s) => s.name));
    await shot(page, "turn");
  });

  it("shows a selected span's attributes", async () => {
    const { w } = await openLlmSpan();
    const { model, tokens } = scenario.second.llm!;
    const expected: Array<[string, string]> = [
      ["gen_ai.request.model", model],
      ["gen_ai.usage.input_tokens", String(tokens[0])],
      ["gen_ai.usage.output_tokens", String(tokens[1])],
    ];
    // Each attribute's name is shown, its value beside it (in the element holding both).
    for (const [name, value] of expected) {
      const label = w.page.getByText(name, { exact: true });
      await label.first().waitFor();
      expect(await label.count()).toBe(1);
      expect(await label.locator("..").textContent()).toContain(value);
    }
  });

  it("renders an LLM request body as a conversation of messages with their roles and text", async () => {
    const { w, recordId } = await openLlmSpan();
    const body = w.page.locator(`[data-testid="body-view"][data-record-id="${recordId}"]`);
    await body.waitFor();
    const input = scenario.second.llm!.input;
    const messages = body.locator('[data-testid="message"]');
    await expect.poll(() => messages.count()).toBe(input.length);
    expect(await messages.evaluateAll((els) => els.map((e) => e.getAttribute("data-role")))).toEqual(
      input.map((m) => m.role),
    );
    const texts = await messages.allTextContents();
    for (const [i, m] of input.entries()) expect(texts[i]).toContain(textOf(m));
    await tallShot(w.page, "body");
  });

  it("renders an OpenAI chat request, with its tool call and tool result, as a conversation", async () => {
    await expectConversation(scenario.shapes.openai);
  });

  it("renders an Anthropic messages request, with its system prompt and tool blocks, as a conversation", async () => {
    await expectConversation(scenario.shapes.anthropic);
  });

  it("renders a plain-text body as text and a JSON body as a collapsible tree, not as conversations", async () => {
    const { spanId, command, result } = scenario.shapes.tool;
    const { w, openId, closeId } = await openSpan(scenario.shapes.turn.turnId, spanId);
    const request = w.page.locator(`[data-testid="body-view"][data-record-id="${openId}"]`);
    const response = w.page.locator(`[data-testid="body-view"][data-record-id="${closeId}"]`);
    await request.waitFor();
    await response.waitFor();
    expect(await request.getAttribute("data-format")).toBe("text");
    expect((await request.textContent())?.trim()).toBe(command);
    expect(await response.getAttribute("data-format")).toBe("json");
    // Collapsible: its nodes have expand/collapse controls; opening every closed one shows every value.
    expect(await response.locator("[aria-expanded]").count()).toBeGreaterThan(0);
    const closed = response.locator('[aria-expanded="false"]');
    while ((await closed.count()) > 0) await closed.first().click();
    const shown = (await response.textContent()) ?? "";
    for (const p of result.problems) for (const v of Object.values(p)) expect(shown).toContain(String(v));
    expect(await w.page.locator('[data-testid="message"]').count()).toBe(0);
    await tallShot(w.page, "json-body");
  });

  it("loads a body over 2 MiB only when asked to", async () => {
    const { spanId, bytes, head } = scenario.shapes.big;
    expect(bytes).toBeGreaterThan(2 * 1024 * 1024);
    const ids = await recordIds(scenario.shapes.turn.turnId);
    const openId = ids.get(`span-open ${spanId}`)!;
    const w = await open(`/turns/${scenario.shapes.turn.turnId}`);
    const fetched: string[] = [];
    w.page.on("request", (r) => fetched.push(new URL(r.url()).pathname));
    await w.page.locator(`[data-testid="span-row"][data-span-id="${spanId}"]`).click();
    const load = w.page.locator('[data-testid="load-body"]');
    await load.waitFor();
    const body = w.page.locator(`[data-testid="body-view"][data-record-id="${openId}"]`);
    expect(await body.count()).toBe(0);
    // Not fetched (the request diff, a small answer computed by the server, may be).
    expect(fetched).not.toContain(`/v1/records/${openId}/body`);
    await load.click();
    await body.waitFor();
    expect(fetched).toContain(`/v1/records/${openId}/body`);
    const messages = body.locator('[data-testid="message"]');
    expect(await messages.evaluateAll((els) => els.map((e) => e.getAttribute("data-role")))).toEqual([
      "user",
    ]);
    expect(await messages.first().textContent()).toContain(head);
  });

  it("shows exactly the appended messages in the request diff", async () => {
    const { w } = await openLlmSpan();
    const diff = w.page.locator('[data-testid="request-diff"]');
    await diff.waitFor();
    const added = diff.locator('[data-testid="diff-added"]');
    await expect.poll(() => added.count()).toBe(scenario.appended.length);
    expect(await added.evaluateAll((els) => els.map((e) => e.getAttribute("data-role")))).toEqual(
      scenario.appended.map((m) => m.role),
    );
    const texts = await added.allTextContents();
    for (const [i, m] of scenario.appended.entries()) expect(texts[i]).toContain(textOf(m));
    // The repeated messages are neither added nor removed nor edited.
    expect(await diff.locator('[data-testid="diff-removed"]').count()).toBe(0);
    expect(await diff.locator('[data-testid="diff-edited"]').count()).toBe(0);
    await tallShot(w.page, "diff");
  });

  it("says there is no earlier request to compare for the first request of a conversation", async () => {
    const { w } = await openSpan(scenario.first.turnId, scenario.first.llm!.spanId);
    const none = w.page.locator('[data-testid="request-diff"] [data-testid="diff-none"]');
    await none.waitFor();
    expect(await none.textContent()).toBe("No earlier request with a stored body in this conversation.");
  });

  it("marks the error span, and only it, as an error", async () => {
    const turn = scenario.errorTurn;
    const { page } = await open(`/turns/${turn.turnId}`);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    const statuses = await attrs(page, '[data-testid="span-row"]', "data-status");
    expect(statuses.map((s) => s === "error")).toEqual(
      turn.spans.map((s) => s.spanId === scenario.errorSpanId),
    );
  });

  it("shows a log inside its span, right below the span's row", async () => {
    const { turn, spanId, msg } = scenario.log;
    const { page } = await open(`/turns/${turn.turnId}`);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    const rows = await page
      .locator('[data-testid="span-row"], [data-testid="log-row"]')
      .evaluateAll((els) =>
        els.map((e) => `${e.getAttribute("data-testid")} ${e.getAttribute("data-span-id") ?? e.textContent}`),
      );
    const at = rows.indexOf(`span-row ${spanId}`);
    expect(rows.filter((r) => r.startsWith("log-row"))).toHaveLength(1);
    expect(rows[at + 1]).toMatch(/^log-row /);
    expect(rows[at + 1]).toContain(msg);
  });

  it("shows the same turn after a reload of its deep link", async () => {
    const turn = scenario.first;
    const { page } = await open(`/turns/${turn.turnId}`);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    await page.reload();
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    expect(await attrs(page, '[data-testid="span-row"]', "data-span-id")).toEqual(
      turn.spans.map((s) => s.spanId),
    );
  });

  it("shows a conversation's turns in order from its deep link, also after a reload", async () => {
    const { page } = await open(`/conversations/${scenario.conversationId}`);
    const inOrder = [scenario.first.turnId, scenario.second.turnId];
    await waitForCount(page, '[data-testid="turn-row"]', inOrder.length);
    expect(await turnIdsShown(page)).toEqual(inOrder);
    await page.reload();
    await waitForCount(page, '[data-testid="turn-row"]', inOrder.length);
    expect(await turnIdsShown(page)).toEqual(inOrder);
    await shot(page, "conversation");
  });

  it("finds a log by a word of its message with the search box, and opens the hit's turn at that log", async () => {
    const { turn, msg } = scenario.log;
    expect(msg).toContain("retrying");
    const { page } = await open("/");
    await page.locator('[data-testid="search-box"]').fill("Retrying");
    await page.locator('[data-testid="search-submit"]').click();
    await page.waitForURL("**/?q=Retrying");
    const hit = page.locator(`[data-testid="search-hit"][data-turn-id="${turn.turnId}"][data-where="msg"]`);
    await hit.waitFor();
    expect(await hit.locator('[data-testid="snippet"] mark').allTextContents()).toEqual(["retrying"]);
    await shot(page, "search");
    await hit.locator("a").first().click();
    await page.waitForURL(`**/turns/${turn.turnId}?log=*`);
    await page.locator('[data-testid="log-row"].selected').waitFor();
  });

  it("finds the LLM request whose prompt added a phrase, as a body hit that opens its span", async () => {
    const turn = scenario.second;
    const { page } = await open(`/?q=${encodeURIComponent('"rerun the tests"')}`);
    const hit = page.locator(`[data-testid="search-hit"][data-turn-id="${turn.turnId}"][data-where="body"]`);
    await hit.waitFor();
    expect(await hit.locator('[data-testid="snippet"]').textContent()).toContain("rerun the tests");
    // the first turn's request came before the phrase: no hit of it
    expect(
      await page.locator(`[data-testid="search-hit"][data-turn-id="${scenario.first.turnId}"]`).count(),
    ).toBe(0);
    await hit.locator("a").first().click();
    await page.waitForURL(`**/turns/${turn.turnId}?span=${turn.llm!.spanId}`);
    await page.locator(`[data-testid="span-row"][data-span-id="${turn.llm!.spanId}"].selected`).waitFor();
  });

  it("says that no record matches a search that finds nothing, and keeps the query in the box", async () => {
    const { page } = await open("/?q=xylophonic");
    await page.locator('[data-testid="search-results"] .empty').waitFor();
    expect(await page.locator('[data-testid="search-hit"]').count()).toBe(0);
    expect(await page.locator('[data-testid="search-box"]').inputValue()).toBe("xylophonic");
  });

  it("returns from a turn to the list with the back button", async () => {
    const turn = scenario.first;
    const { page } = await open("/");
    await waitForCount(page, '[data-testid="turn-row"]', 4);
    await page.locator(`[data-testid="turn-row"][data-turn-id="${turn.turnId}"]`).click();
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    await page.goBack();
    await page.waitForURL(`${url}/`);
    await waitForCount(page, '[data-testid="turn-row"]', 4);
    expect(await page.locator('[data-testid="span-row"]').count()).toBe(0);
  });

  it("draws the usage chart with bars for each ingested model, their heights in proportion to its tokens", async () => {
    const { page } = await open("/usage");
    const chart = page.locator('svg[data-testid="usage-chart"]');
    await chart.waitFor();
    const bars = chart.locator("rect");
    await expect.poll(() => bars.count()).toBeGreaterThan(0);
    // A bar names its model in its title (tooltip) or a data-model attribute.
    const drawn = await bars.evaluateAll((els) =>
      els.map((e) => ({
        model: `${e.getAttribute("data-model") ?? ""} ${e.textContent ?? ""}`,
        height: e.getBoundingClientRect().height,
      })),
    );
    const heightOf = (model: string) =>
      drawn.filter((b) => b.model.includes(model)).reduce((sum, b) => sum + b.height, 0);
    const tokensOf = (model: string) =>
      scenario.turns
        .filter((t) => t.llm?.model === model)
        .reduce((sum, t) => sum + t.llm!.tokens[0] + t.llm!.tokens[1], 0);
    const [a, b] = scenario.models as [string, string];
    expect(heightOf(a)).toBeGreaterThan(0);
    expect(heightOf(b)).toBeGreaterThan(0);
    // One linear axis: each model's bars (input plus output, on one day) are as tall as its tokens.
    expect(heightOf(a) / heightOf(b)).toBeCloseTo(tokensOf(a) / tokensOf(b), 0);
    await shot(page, "usage");
  });

  const filters: Array<[name: string, value: string | "check", expected: () => ExportedTurn[]]> = [
    ["errors", "check", () => [scenario.errorTurn]],
    ["model", "gpt-4o-mini", () => scenario.turns.filter((t) => t.llm?.model === "gpt-4o-mini")],
    ["extension", "review-bot", () => scenario.turns.filter((t) => t.extensionId === "review-bot")],
    ["conversation", "conv-build-red", () => [scenario.second, scenario.first]],
  ];
  for (const [name, value, expected] of filters) {
    it(`filters the list by ${name}, keeping the filter in the URL`, async () => {
      const { page } = await open("/");
      await waitForCount(page, '[data-testid="turn-row"]', 4);
      const input = page.locator(`[data-testid="filter-${name}"]`);
      if (value === "check") await input.check();
      else {
        await input.fill(value);
        await input.press("Enter");
      }
      const ids = expected().map((t) => t.turnId);
      await waitForCount(page, '[data-testid="turn-row"]', ids.length);
      expect(await turnIdsShown(page)).toEqual(ids);
      // The filtered list is a link: a reload shows the same turns.
      expect(page.url()).not.toBe(`${url}/`);
      await page.reload();
      await waitForCount(page, '[data-testid="turn-row"]', ids.length);
      expect(await turnIdsShown(page)).toEqual(ids);
    });
  }

  it("opens the turn selected with the keyboard (j to move down, Enter to open)", async () => {
    const { page } = await open("/");
    await waitForCount(page, '[data-testid="turn-row"]', 4);
    // The rows are drawn; the key listener goes in with the effects, after the next frame.
    await page.evaluate(
      () =>
        new Promise((r) => (globalThis as unknown as InPage).requestAnimationFrame(() => setTimeout(r, 0))),
    );
    const selected = () => attrs(page, '[data-testid="turn-row"]', "aria-selected");
    await page.keyboard.press("j");
    await expect.poll(selected).toEqual(["true", "false", "false", "false"]);
    await page.keyboard.press("j");
    await expect.poll(selected).toEqual(["false", "true", "false", "false"]);
    await page.keyboard.press("Enter");
    const turn = scenario.second; // the second newest
    await page.waitForURL(`**/turns/${turn.turnId}`);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
  });

  it(`renders a turn of ${WIDE_SPANS} spans in start order (the time is reported)`, async () => {
    const w = await browser.open();
    pages.push(w);
    await timeRender(w.page, '[data-testid="span-row"]', WIDE_SPANS);
    // Five loads (the init script runs on each): the first with a cold server-side turn, then warm.
    const runs: Array<{ total: number; api: number; dataToDom: number | undefined }> = [];
    for (let i = 0; i < 5; i++) {
      await w.page.goto(`${url}/turns/${wide.turnId}?load=${i}`);
      runs.push({
        total: await rendered(w.page),
        api: await apiTime(w.page, `/v1/turns/${wide.turnId}`),
        // The viewer's own measure, from the data's arrival to the waterfall in the DOM (docs/viewer.md).
        dataToDom: await w.page.evaluate(
          () => performance.getEntriesByName("tracetier:turn-render")[0]?.duration,
        ),
      });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const key = `turn${WIDE_SPANS}Spans`;
    timings[`${key}First`] = runs[0]!.total;
    timings[`${key}Median`] = median(runs.map((r) => r.total));
    timings[`${key}ApiMedian`] = median(runs.map((r) => r.api));
    const dataToDom = runs.flatMap((r) => (r.dataToDom === undefined ? [] : [r.dataToDom]));
    if (dataToDom.length > 0) timings[`${key}DataToDomMedian`] = median(dataToDom);
    console.log(
      `viewer: ${WIDE_SPANS} span rows rendered after navigation start in ` +
        `${runs.map((r) => r.total.toFixed(0)).join(", ")} ms (5 loads; API ` +
        `${runs.map((r) => r.api.toFixed(0)).join(", ")} ms; data to DOM ` +
        `${dataToDom.map((d) => d.toFixed(0)).join(", ")} ms)`,
    );
    expect(await attrs(w.page, '[data-testid="span-row"]', "data-span-id")).toEqual(
      wide.spans.map((s) => s.spanId),
    );
    // A log in each span, each shown inside it.
    expect(await w.page.locator('[data-testid="log-row"]').count()).toBe(WIDE_SPANS);
  });
});

describe("the viewer over many turns, in both tiers", () => {
  let many: ServeProcess;
  let manyUrl: string;
  let recent: ExportedTurn[];
  let old: ExportedTurn[];
  /** An old turn whose bodies retention evicted. */
  let evicted: ExportedTurn;

  beforeAll(async () => {
    // Compaction and retention every second: records over a day old move to the cold tier, and
    // their bodies are evicted.
    const everySecond = "* * * * * *";
    many = serveProcess([
      "--dir",
      serverDir(),
      ...["--compact-schedule", everySecond, "--compact-older-than", "1d"],
      ...["--prune-schedule", everySecond, "--max-body-age", "1d"],
    ]);
    manyUrl = await many.url;
    const now = Date.now();
    const twoDaysAgo = now - 2 * 86_400_000;
    // 3 turns in the last hour; 118 two to four days ago (newest first: recent, then old).
    recent = await exportSmallTurns(
      manyUrl,
      [3, 2, 1].map((m) => now - m * 10 * 60_000),
    );
    old = await exportSmallTurns(
      manyUrl,
      Array.from({ length: 117 }, (_, i) => twoDaysAgo - (117 - i) * 30 * 60_000),
    );
    evicted = await exportLlmTurn(manyUrl, twoDaysAgo + 60_000);
    old.push(evicted);
    // Wait for both: the old records in the cold tier, the old turn's request body evicted.
    const openRecord = async () => {
      const res = await fetch(`${manyUrl}/v1/turns/${evicted.turnId}?bodies=sizes`);
      const records = (await res.json()) as Array<StoredRecord & { bodyEvicted?: boolean }>;
      return records.find((r) => r.kind === "span-open" && r.spanId === evicted.llm!.spanId);
    };
    const stats = async () =>
      (await (await fetch(`${manyUrl}/v1/stats`)).json()) as { coldRecords: number; hotRecords: number };
    await until("old records in the cold tier", async () => (await stats()).coldRecords > 0);
    await until("the old turn's body evicted", async () => (await openRecord())?.bodyEvicted === true);
  }, 60_000);

  afterAll(async () => {
    await stop(many);
  });

  const newestFirst = () => [...recent, ...old].sort((a, b) => b.start - a.start).map((t) => t.turnId);

  it("pages through all the turns, newest first, with the next-page button", async () => {
    const { page } = await open("/", manyUrl);
    const all = newestFirst();
    await page.locator('[data-testid="turn-row"]').first().waitFor();
    let shown = await turnIdsShown(page);
    expect(shown.length).toBeLessThan(all.length);
    while (shown.length < all.length) {
      const before = shown.length;
      await page.locator('[data-testid="next-page"]').click();
      await expect.poll(() => page.locator('[data-testid="turn-row"]').count()).toBeGreaterThan(before);
      shown = await turnIdsShown(page);
    }
    expect(shown).toEqual(all);
    expect(await page.locator('[data-testid="next-page"]').count()).toBe(0);
  });

  it("shows an evicted body as evicted, not as a conversation", async () => {
    const { page } = await open(`/turns/${evicted.turnId}`, manyUrl);
    await page.locator(`[data-testid="span-row"][data-span-id="${evicted.llm!.spanId}"]`).click();
    await page.locator('[data-testid="body-evicted"]').first().waitFor();
    expect(await page.locator('[data-testid="message"]').count()).toBe(0);
    const text = (await page.locator("body").textContent()) ?? "";
    for (const m of [...evicted.llm!.input, ...evicted.llm!.output]) expect(text).not.toContain(textOf(m));
  });

  it("shows only the last 24 hours' turns with the -24h range", async () => {
    const { page } = await open("/", manyUrl);
    await page.locator('[data-testid="turn-row"]').first().waitFor();
    await page.locator('[data-testid="filter-range"]').selectOption("-24h");
    await waitForCount(page, '[data-testid="turn-row"]', recent.length);
    expect(await turnIdsShown(page)).toEqual(newestFirst().slice(0, recent.length));
  });
});

describe("the viewer with --token", () => {
  let tokenServer: ServeProcess;
  let tokenUrl: string;
  let tokenScenario: Scenario;

  beforeAll(async () => {
    tokenServer = serveProcess(["--dir", serverDir(), "--token", TOKEN]);
    tokenUrl = await tokenServer.url;
    tokenScenario = await exportScenario(tokenUrl, Date.now() - 20 * 60_000, TOKEN);
  });

  afterAll(async () => {
    await stop(tokenServer);
  });

  /** The API calls the page makes, with the Authorization header each sent. */
  function trackApi(page: Page): Array<{ url: string; auth: string | undefined }> {
    const calls: Array<{ url: string; auth: string | undefined }> = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname.startsWith("/v1/"))
        calls.push({ url: r.url(), auth: r.headers().authorization });
    });
    return calls;
  }

  /**
   * Drops from the page's problems the 401 answers to `refused` (calls made before the token was
   * entered: refusing them is the point) and the console lines the browser logs for them.
   */
  function forgiveRefused(w: WatchedPage, refused: Array<{ url: string }>): void {
    const expected = (p: string) =>
      refused.some(
        ({ url: u }) =>
          p === `HTTP 401: GET ${u}` ||
          (p.startsWith("console error: Failed to load resource") &&
            p.includes(" 401 ") &&
            p.endsWith(`(${u})`)),
      );
    w.problems.splice(0, w.problems.length, ...w.problems.filter((p) => !expected(p)));
  }

  /** Texts of the ingested data that must not be in the page before the token is accepted. */
  const secrets = () =>
    tokenScenario.turns.flatMap((t) => [
      t.turnId,
      t.extensionId,
      t.conversationId!,
      ...t.spans.map((s) => s.name),
      ...t.llm!.input.map(textOf),
    ]);

  const html = (page: Page) => page.locator("html").evaluate((e) => e.outerHTML as string);

  async function enterToken(page: Page): Promise<void> {
    const form = page.locator('[data-testid="token-form"]');
    await form.locator('input[type="password"]').fill(TOKEN);
    await form.locator('button[type="submit"], input[type="submit"]').first().click();
  }

  it("shows only the token form before the token, and the turns after it, every API call sending it", async () => {
    const w = await browser.open();
    pages.push(w);
    const { page } = w;
    const calls = trackApi(page);
    await page.goto(`${tokenUrl}/`);
    const form = page.locator('[data-testid="token-form"]');
    await form.waitFor();
    const before = await html(page);
    for (const s of secrets()) expect(before).not.toContain(s);
    expect(await page.locator('[data-testid="turn-row"]').count()).toBe(0);
    await shot(page, "token-form");
    const refused = calls.length;

    await enterToken(page);
    await waitForCount(page, '[data-testid="turn-row"]', tokenScenario.turns.length);
    expect(await turnIdsShown(page)).toEqual([...tokenScenario.turns].reverse().map((t) => t.turnId));
    expect(await form.count()).toBe(0);
    const after = calls.slice(refused);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((c) => c.auth !== `Bearer ${TOKEN}`)).toEqual([]);
    forgiveRefused(w, calls.slice(0, refused));
  });

  it("asks for the token on a turn's deep link too, then keeps it for the tab's session across a reload", async () => {
    const turn = tokenScenario.second;
    const w = await browser.open();
    pages.push(w);
    const { page } = w;
    const calls = trackApi(page);
    await page.goto(`${tokenUrl}/turns/${turn.turnId}`);
    await page.locator('[data-testid="token-form"]').waitFor();
    expect(await page.locator('[data-testid="span-row"]').count()).toBe(0);
    const before = await html(page);
    for (const s of secrets().filter((x) => x !== turn.turnId)) expect(before).not.toContain(s);
    const refused = calls.length;

    await enterToken(page);
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    await page.reload();
    await waitForCount(page, '[data-testid="span-row"]', turn.spans.length);
    expect(await page.locator('[data-testid="token-form"]').count()).toBe(0);
    expect(calls.slice(refused).filter((c) => c.auth !== `Bearer ${TOKEN}`)).toEqual([]);
    forgiveRefused(w, calls.slice(0, refused));
  });
});
