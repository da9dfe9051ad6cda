/**
 * Human sizes, durations and times, as flags, environment variables and query strings give them:
 * `256MiB`, `10GB`, `7d`, `90m`, `2026-11-01`, `-2h` (two hours ago). Decimal units are powers of
 * 1000, binary ones (KiB, MiB, GiB, TiB) of 1024; a bare number is bytes or milliseconds.
 */
import { InvalidOptionError } from "./errors.js";

const SIZE: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 1e3,
  m: 1e6,
  g: 1e9,
};
const DURATION: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

export function parseBytes(text: string, name: string): number {
  return parseUnit(text, name, SIZE, "a size such as 256MiB or 10GB");
}

export function parseDuration(text: string, name: string): number {
  return parseUnit(text, name, DURATION, "a duration such as 90s, 15m, 24h or 7d");
}

function parseUnit(text: string, name: string, units: Record<string, number>, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const factor = m ? (m[2] === "" ? 1 : units[m[2]!.toLowerCase()]) : undefined;
  if (!m || factor === undefined) throw new InvalidOptionError(name, `must be ${what}, got "${text}"`);
  const value = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(value)) throw new InvalidOptionError(name, `is too large: "${text}"`);
  return value;
}

/** A point in time: ms since the epoch, an ISO date or date-time, or `-<duration>` before `now`. */
export function parseTime(text: string, name: string, now = Date.now()): number {
  const t = text.trim();
  if (/^-?\d+$/.test(t) && !t.startsWith("-")) return Number(t);
  if (t.startsWith("-")) return now - parseDuration(t.slice(1), name);
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) {
    throw new InvalidOptionError(
      name,
      `must be ms since the epoch, an ISO date such as 2026-11-01T12:00Z, or -2h, got "${text}"`,
    );
  }
  return ms;
}
