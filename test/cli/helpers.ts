/**
 * Runs the real `cairn` as a person does: the `cairn` bin (cli/bin/cairn.mjs, which builds the
 * bundle when its sources changed, then runs it) under the machine's own node — the oldest Node the
 * CLI supports here (20), not the node@24 that npm scripts put first on PATH — as a subprocess:
 * its stdout, stderr and exit code.
 */
import { execFile, execFileSync } from 'node:child_process';
import { delimiter, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CAIRN_BIN = join(ROOT, 'cli', 'bin', 'cairn.mjs');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** PATH without npm's node_modules/.bin folders: what a terminal has. */
export const MACHINE_PATH = (process.env.PATH ?? '')
  .split(delimiter)
  .filter((d) => !d.includes(`node_modules${sep}.bin`))
  .join(delimiter);

/** The machine's `node` (first on MACHINE_PATH), or this one when there is none. */
export const MACHINE_NODE: string = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v node'], {
      env: { ...process.env, PATH: MACHINE_PATH },
      encoding: 'utf8',
    }).trim();
  } catch {
    return process.execPath;
  }
})();

/** `cairn …args` from the repository root; stdin is closed (not a terminal). */
export function cairn(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: MACHINE_PATH };
    delete env.KUBECONFIG;
    delete env.CAIRN_STATE_DIR;
    const child = execFile(
      MACHINE_NODE,
      [CAIRN_BIN, ...args],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}
