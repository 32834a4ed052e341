/**
 * One container as a host process: stdout and stderr appended to the pod's log file (as the
 * container runtime does), its own process group (so a kill reaches the tools it started), and on
 * exit the termination state kubelet would report: exit code, reason (`Completed`, `Error`,
 * `OOMKilled` for a SIGKILL the runner did not send, `StartError` when it could not start) and the
 * termination message (the termination file, at most 4096 bytes; with FallbackToLogsOnError and a
 * failure, the last 80 lines / 2048 bytes of the log when the file is empty).
 */
import { spawn } from 'node:child_process';
import { open, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:os';

export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  logFile: string;
  terminationFile: string;
  terminationMessagePolicy: 'File' | 'FallbackToLogsOnError';
}

export interface Terminated {
  exitCode: number;
  signal: string | undefined;
  reason: string;
  message: string | undefined;
  startedAt: Date;
  finishedAt: Date;
}

export interface RunningProcess {
  pid: number | undefined;
  startedAt: Date;
  /** Resolves when the process ended (never rejects). */
  done: Promise<Terminated>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  kill(graceMs: number): void;
}

const MESSAGE_LIMIT = 4096;
const FALLBACK_LINES = 80;
const FALLBACK_BYTES = 2048;

/** The runtime's answer to a command that is not in the image (runc's exec error). */
export function execNotFound(exe: string): string {
  return `exec: "${exe}": executable file not found in $PATH`;
}

export async function startProcess(spec: ProcessSpec, now: () => Date): Promise<RunningProcess> {
  const log = await open(spec.logFile, 'a', 0o600);
  const startedAt = now();
  const [exe, ...args] = spec.argv as [string, ...string[]];
  let killedByUs = false;
  let killTimer: NodeJS.Timeout | undefined;
  const child = spawn(exe, args, {
    env: spec.env,
    cwd: spec.cwd,
    stdio: ['ignore', log.fd, log.fd],
    detached: true,
  });
  const done = new Promise<Terminated>((resolve) => {
    let settled = false;
    const settle = (t: Terminated) => {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      void log.close().catch(() => {});
      resolve(t);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      // Only a process that never started ends here; errors of a running one end in 'close'.
      if (child.pid !== undefined) return;
      const message = e.code === 'ENOENT' ? execNotFound(exe) : e.message;
      const at = now();
      settle({ exitCode: 128, signal: undefined, reason: 'StartError', message, startedAt, finishedAt: at });
    });
    child.once('close', (code, signal) => {
      const finishedAt = now();
      const signum = signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
      const exitCode = code ?? 128 + signum;
      const reason =
        exitCode === 0 ? 'Completed' : signal === 'SIGKILL' && !killedByUs ? 'OOMKilled' : 'Error';
      void terminationMessage(spec, exitCode).then((message) =>
        settle({ exitCode, signal: signal ?? undefined, reason, message, startedAt, finishedAt }),
      );
    });
  });
  return {
    pid: child.pid,
    startedAt,
    done,
    kill(graceMs) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      killedByUs = true;
      signalGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
    },
  };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

async function terminationMessage(spec: ProcessSpec, exitCode: number): Promise<string | undefined> {
  const fromFile = await readFile(spec.terminationFile)
    .then((b) => b.subarray(0, MESSAGE_LIMIT).toString('utf8'))
    .catch(() => '');
  if (fromFile !== '') return fromFile;
  if (spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0) {
    const tail = await logTail(spec.logFile);
    return tail === '' ? undefined : tail;
  }
  return undefined;
}

/** The last 80 lines of a log, at most its last 2048 bytes (kubelet's fallback message). */
export async function logTail(file: string): Promise<string> {
  const size = await stat(file)
    .then((s) => s.size)
    .catch(() => 0);
  if (size === 0) return '';
  const fh = await open(file, 'r');
  try {
    const len = Math.min(size, FALLBACK_BYTES);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-FALLBACK_LINES).join('\n');
  } finally {
    await fh.close();
  }
}
