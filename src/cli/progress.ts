/**
 * Progress on stderr, on a TTY only (never in a pipe or a log), through cli-progress: a bar with
 * records/s and bytes when the total is known, counts when it is not, an elapsed-time line for jobs
 * that report nothing until they are done.
 */
import cliProgress from "cli-progress";
import { formatBytes } from "../read/easy-view.js";

export interface Progress {
  update(bytes: number, records: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

export function progressBar(enabled: boolean, totalBytes: number | undefined): Progress {
  if (!enabled || !process.stderr.isTTY) return NONE;
  const started = performance.now();
  const format =
    totalBytes === undefined
      ? "{records} records | {bytesText} | {rate} records/s"
      : "{bar} {percentage}% | {bytesText} of {totalText} | {records} records | {rate} records/s | eta {eta_formatted}";
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalBytes ?? 0, 0, {
    records: 0,
    rate: 0,
    bytesText: "0b",
    totalText: formatBytes(totalBytes ?? 0),
  });
  return {
    update(bytes, records) {
      const secs = (performance.now() - started) / 1000;
      bar.update(bytes, {
        records,
        rate: Math.round(records / Math.max(secs, 0.001)),
        bytesText: formatBytes(bytes),
      });
    },
    stop: () => bar.stop(),
  };
}

/** "compacting… 12.3 s" while `job` runs; `job` may change the label (waiting, then running). */
export async function withElapsed<T>(
  enabled: boolean,
  label: string,
  job: (relabel: (label: string) => void) => Promise<T>,
): Promise<T> {
  if (!enabled || !process.stderr.isTTY) return job(() => {});
  const started = performance.now();
  let current = label;
  const tick = () =>
    process.stderr.write(`\r\x1b[K${current}… ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const timer = setInterval(tick, 200);
  try {
    return await job((next) => {
      current = next;
    });
  } finally {
    clearInterval(timer);
    process.stderr.write("\r\x1b[K");
  }
}
