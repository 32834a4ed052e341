/** A progress line every few seconds: bytes, rate and elapsed time, as JSON through shared/log. */
import type { Logger } from '../shared/log.ts';

export function startProgress(
  log: Logger,
  intervalSeconds: number,
  read: () => { rawBytes?: number | undefined; storedBytes: number },
): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    const { rawBytes, storedBytes } = read();
    const elapsed = (Date.now() - started) / 1000;
    // With the zstd tool only zstd sees the uncompressed bytes: the rate is then of stored ones.
    const bytes = rawBytes ?? storedBytes;
    log.info('progress', {
      ...(rawBytes !== undefined ? { rawBytes } : {}),
      storedBytes,
      rateMiBps: Math.round((bytes / 1048576 / Math.max(elapsed, 0.001)) * 10) / 10,
      elapsedSeconds: Math.round(elapsed),
      peakRssMiB: peakRssMiB(),
    });
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The agent process's peak resident memory so far (MiB), reported with each result. */
export function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
