/**
 * The `zstd` tool as the agent's compressor and decompressor, where it is faster than Node's zlib:
 * it compresses on several threads (Node's `ZSTD_c_nbWorkers` > 0 crashed the stream in Node
 * 24.21: ERR_STREAM_PUSH_AFTER_EOF), and as a process of its own it can read the dump tool's stdout and
 * write a restore tool's stdin directly, so the uncompressed bytes never pass through Node (a
 * chunk that does costs ~40 µs of the agent's CPU: 3 ms per MB, measured in bench/agent.ts).
 *
 * A backup records the uncompressed size, which only zstd sees then. zstd ≥ 1.5.4 prints it,
 * exactly, in its summary line at `-vv` also when writing to stdout (1.5.0–1.5.3 print no
 * summary then, 1.4 rounds): `/*stdin*\ : 29.25%   (61057272 B => 17861291 B, /*stdout*\)`.
 * The agent reads both numbers and checks the second against the bytes it received itself, so a
 * summary it misreads can never become a wrong figure. An older zstd, or none, means Node's zlib.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { availableCpus } from './cpus.ts';
import type { ToolSpec } from './tools.ts';
import { runTool } from './tools.ts';

/** The oldest zstd whose summary the agent reads (see above). */
const MIN_ZSTD: readonly [number, number, number] = [1, 5, 4];
/**
 * Bytes per compression job (twice level 3's window): zstd's resident memory at -T2 is 26–30 MiB
 * where the default (8 MiB jobs) takes 46–52, at the same size (pgbench s=20: 0.99×, orders:
 * 1.00×); 1 MiB jobs took 10 MiB but made pgbench's artifact 1.2× larger.
 */
const JOB_BYTES = 4 << 20;
/** More threads than this never help one dump stream: pg_dump writes 100–300 MB/s, one zstd -3 thread takes ~250. */
const MAX_THREADS = 4;

/** An executable named `name` on the PATH of `env`, or undefined. */
async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

/** `v1.5.4` from `zstd -V` (`*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***`). */
export function parseZstdVersion(text: string): [number, number, number] | undefined {
  const m = /\bv(\d+)\.(\d+)\.(\d+)\b/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    if ((v[i] ?? 0) !== (min[i] ?? 0)) return (v[i] ?? 0) > (min[i] ?? 0);
  }
  return true;
}

/** The zstd tool, when one on PATH is recent enough; else undefined (the caller uses zlib). */
export async function findZstd(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file = await onPath('zstd', env);
  if (!file) return undefined;
  const version = await runTool({ cmd: file, args: ['-V'], env }, (m) => new Error(m)).then(
    parseZstdVersion,
    () => undefined,
  );
  return version && atLeast(version, MIN_ZSTD) ? file : undefined;
}

/** Compression threads: what the pod may use (agent/cpus.ts), at most MAX_THREADS. */
function zstdThreads(): number {
  return Math.min(availableCpus(), MAX_THREADS);
}

/** stdin → stdout, with the summary that gives the sizes (parseZstdSummary) and the content checksum. */
export function zstdCompress(cmd: string, level: number, env: NodeJS.ProcessEnv): ToolSpec {
  return {
    cmd,
    args: ['-vv', '--no-progress', `-${level}`, `-T${zstdThreads()}`, `-B${JOB_BYTES}`, '--check', '-c'],
    env,
  };
}

/** A file (stdin when undefined) → stdout. */
export function zstdDecompress(cmd: string, file: string | undefined, env: NodeJS.ProcessEnv): ToolSpec {
  return { cmd, args: ['-q', '-d', '-c', ...(file === undefined ? [] : ['--', file])], env };
}

/** A file (stdin when undefined) → another file, for a restore tool that needs to seek. */
export function zstdDecompressTo(
  cmd: string,
  file: string | undefined,
  to: string,
  env: NodeJS.ProcessEnv,
): ToolSpec {
  return { cmd, args: ['-q', '-d', '-f', '-o', to, ...(file === undefined ? [] : ['--', file])], env };
}

/**
 * The sizes in zstd's -vv summary line, or undefined when there is none: `(61057272 B =>
 * 17861291 B, `; numbers are padded to six places (an empty input: `(     0 B =>     13 B, `).
 */
export function parseZstdSummary(stderr: string): { rawBytes: number; compressedBytes: number } | undefined {
  const matches = [...stderr.matchAll(/\( *(\d+) B => *(\d+) B, /g)];
  const last = matches.at(-1);
  if (!last) return undefined;
  return { rawBytes: Number(last[1]), compressedBytes: Number(last[2]) };
}
