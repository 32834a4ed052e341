/**
 * Keeps the agent's resident memory near what its streams hold. Streaming 200 MB through zlib and
 * pipes churns through thousands of Buffers whose memory lives outside V8's heap; the heap itself
 * stays tiny, so V8 collects rarely and dead Buffers pile up (measured: 48–72 MiB of dead
 * ArrayBuffers at peak, RSS 130 MiB for a restore whose live buffers are under 10 MiB). While a
 * pipeline runs, a cheap check every 25 ms runs a young-generation collection (~0.1 ms) once more
 * than 8 MiB of Buffers exist; that frees the dead ones (restore peak RSS 130 → 81 MiB at 16 MiB;
 * 8 MiB took a backup of orders s=20 from 76 to 68 MiB). Buffers that waited in a queue across
 * two of those (a restore tool slower than the stream in front of it) are promoted to the old
 * generation, which only a full collection frees; when a young one leaves more than 12 MiB of
 * Buffers, a full one (~3 ms on this tiny heap) runs, at most every 250 ms (measured: restore
 * peak RSS of 107–133 MiB in 1 of 5 loaded runs, ≤ 90 after).
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (opts: { type: 'minor' | 'major'; execution: 'sync' }) => void;

const LIMIT_BYTES = 8 * 1024 * 1024;
const MAJOR_LIMIT_BYTES = 12 * 1024 * 1024;
const INTERVAL_MS = 25;
const MAJOR_INTERVAL_MS = 250;

let gc: Gc | null | undefined;
/** V8's collector, or null where it cannot be reached: pacing is an optimisation, never a failure. */
function gcFunction(): Gc | null {
  if (gc === undefined) {
    try {
      // The one documented way to reach V8's collector without a command-line flag.
      v8.setFlagsFromString('--expose-gc');
      const f: unknown = vm.runInNewContext('gc');
      gc = typeof f === 'function' ? (f as Gc) : null;
    } catch {
      gc = null;
    }
  }
  return gc;
}

/**
 * Starts pacing; returns the function that stops it. `pace.passed(bytes)` also checks after every
 * 8 MiB a stream moved: a local file read at page-cache speed moves 25 MB between two ticks (the
 * spool of orders s=70 peaked at 83 MiB on the timer alone).
 */
export function paceGc(): (() => void) & { passed: (totalBytes: number) => void } {
  const collect = gcFunction();
  let lastMajor = 0;
  let checkedAt = 0;
  const check = () => {
    if (!collect || process.memoryUsage().arrayBuffers <= LIMIT_BYTES) return;
    collect({ type: 'minor', execution: 'sync' });
    const now = performance.now();
    if (now - lastMajor < MAJOR_INTERVAL_MS || process.memoryUsage().arrayBuffers <= MAJOR_LIMIT_BYTES)
      return;
    collect({ type: 'major', execution: 'sync' });
    lastMajor = now;
  };
  const timer = collect ? setInterval(check, INTERVAL_MS) : undefined;
  timer?.unref();
  const stop = () => clearInterval(timer);
  return Object.assign(stop, {
    passed(totalBytes: number) {
      if (totalBytes - checkedAt < LIMIT_BYTES) return;
      checkedAt = totalBytes;
      check();
    },
  });
}
