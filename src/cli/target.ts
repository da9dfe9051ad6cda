/**
 * Which way a command reaches the store: opened directly when it is free (as before), or through the
 * collector that holds it (its HTTP API, found through `<dir>/collector/serve.json` or `--url`).
 *
 * The store's lock is the truth, serve.json only a hint: a command first tries the lock; a free lock
 * means no collector holds the store, so a serve.json left by a killed one is stale (and removed, under
 * the lock). A held lock with a serve.json whose process runs means the collector; with none, another
 * command holds the store (ERR_LOCKED, as before).
 */
import { rm } from "node:fs/promises";
import { LockedError, RemoteError, type TracetierError } from "../base/errors.js";
import { processAlive, readServeFile, serveFilePath } from "../collector/serve-file.js";
import { openStore, type TraceStore } from "../store.js";
import { type CommandContext, type Options, str, UsageError } from "./command.js";
import { CollectorClient, type CollectorLink } from "./remote.js";
import { remoteReads, type StoreReads } from "./remote-store.js";

/** `--url` and `--token`, for every command that can go through a running collector. */
export const REMOTE_OPTIONS: Options = {
  url: { type: "string" },
  token: { type: "string" },
};

export type Target = { kind: "direct"; store: TraceStore } | { kind: "collector"; client: CollectorClient };

/** Runs `fn` on the store (closed after) or on the collector that holds it. */
export async function withTarget<T>(ctx: CommandContext, fn: (target: Target) => Promise<T>): Promise<T> {
  const given = givenLink(ctx);
  if (given) return fn(collectorTarget(ctx, given));
  let store: TraceStore;
  try {
    store = await openStore({ dir: ctx.dir });
  } catch (err) {
    if ((err as TracetierError).code !== "ERR_LOCKED") throw err;
    return fn(collectorTarget(ctx, await heldBy(ctx, err)));
  }
  try {
    await forgetStale(ctx);
    ctx.debug(`the store at ${ctx.dir} is free: opened directly`);
    return await fn({ kind: "direct", store });
  } finally {
    await store.close();
  }
}

/**
 * For commands that take the store's lock their own way (`verify`, `dump`): `direct` when the lock is
 * free, `remote` through the collector that holds it (or the one `--url` names). `direct` must take the
 * lock before it prints anything.
 */
export async function directOrCollector<T>(
  ctx: CommandContext,
  direct: () => Promise<T>,
  remote: (client: CollectorClient) => Promise<T>,
): Promise<T> {
  const given = givenLink(ctx);
  if (given) return remote(collectorClient(ctx, given));
  try {
    const result = await direct();
    ctx.debug(`the store at ${ctx.dir} was free: read directly`);
    return result;
  } catch (err) {
    if ((err as TracetierError).code !== "ERR_LOCKED") {
      ctx.debug(`the store at ${ctx.dir} was free: read directly`);
      throw err;
    }
    return remote(collectorClient(ctx, await heldBy(ctx, err)));
  }
}

/** Runs `fn` on the store's read calls, answered by the store or by the collector that holds it. */
export function withReads<T>(ctx: CommandContext, fn: (reads: StoreReads) => Promise<T>): Promise<T> {
  return withTarget(ctx, (t) => fn(t.kind === "direct" ? t.store : remoteReads(t.client)));
}

/** The collector holding the store, for commands that only work through one (`tail`). */
export async function collectorLink(ctx: CommandContext): Promise<CollectorLink> {
  const given = givenLink(ctx);
  if (given) return given;
  const file = await readServeFile(ctx.dir);
  if (!file || !processAlive(file.pid))
    throw new RemoteError(
      "ERR_UNREACHABLE",
      file?.url ?? "",
      `no collector serves the store at ${ctx.dir} (${file ? `${serveFilePath(ctx.dir)} is stale: process ${file.pid} is not running` : `no ${serveFilePath(ctx.dir)}`}): start \`tracetier serve\` on it, or give --url`,
    );
  return linkOf(ctx, file.url, serveFilePath(ctx.dir));
}

function collectorTarget(ctx: CommandContext, link: CollectorLink): Target {
  return { kind: "collector", client: collectorClient(ctx, link) };
}

function collectorClient(ctx: CommandContext, link: CollectorLink): CollectorClient {
  ctx.debug(`through the collector at ${link.url} (found through ${link.via})`);
  return new CollectorClient(link);
}

function givenLink(ctx: CommandContext): CollectorLink | undefined {
  const url = str(ctx.values, "url");
  if (url === undefined) return undefined;
  if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--url takes http(s)://host:port, got "${url}"`);
  return linkOf(ctx, url, "--url");
}

function linkOf(ctx: CommandContext, url: string, via: string): CollectorLink {
  const token = str(ctx.values, "token") ?? process.env.TRACETIER_TOKEN;
  return { url: url.replace(/\/+$/, ""), token: token === "" ? undefined : token, via };
}

/** The lock is held: by a collector that published how to reach it, or by something else. */
async function heldBy(ctx: CommandContext, locked: unknown): Promise<CollectorLink> {
  const file = await readServeFile(ctx.dir).catch(() => undefined);
  if (!file) throw locked;
  if (!processAlive(file.pid)) {
    throw new LockedError(
      ctx.dir,
      new Error(
        `${serveFilePath(ctx.dir)} names process ${file.pid}, which is not running: another program holds the store`,
      ),
    );
  }
  ctx.debug(`the store is held by tracetier serve (pid ${file.pid}, since ${file.startedAt})`);
  return linkOf(ctx, file.url, serveFilePath(ctx.dir));
}

/** We hold the lock, so no collector runs on the store: a serve.json is a killed one's. */
async function forgetStale(ctx: CommandContext): Promise<void> {
  const file = await readServeFile(ctx.dir).catch(() => undefined);
  if (!file) return;
  ctx.debug(
    `${serveFilePath(ctx.dir)} is stale (process ${file.pid}, started ${file.startedAt}, no longer holds the store): removed`,
  );
  await rm(serveFilePath(ctx.dir), { force: true });
}
