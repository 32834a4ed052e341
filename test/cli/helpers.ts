/** Runs the real `cairn` binary as a person does: a subprocess, its stdout, stderr and exit code. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node --import tsx cli/cairn.ts …args` from the repository root; stdin is closed (not a terminal). */
export function cairn(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.KUBECONFIG;
    delete env.CAIRN_STATE_DIR;
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/cairn.ts', ...args],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}
