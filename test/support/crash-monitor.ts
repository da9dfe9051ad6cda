/**
 * Preloaded into a `serve` process under test (`--import`): an uncaught exception, or a promise
 * rejection nobody handled (which Node turns into one), leaves a marker line on stderr before the
 * process dies, so that a test can tell a crash from an ordinary exit and say what it was.
 */
process.on("uncaughtExceptionMonitor", (err, origin) => {
  process.stderr.write(`CRASH-MONITOR ${origin}: ${err instanceof Error ? err.stack : String(err)}\n`);
});
