/**
 * Running the external tools (pg_dump, mariadb-dump, tar, psql…): argument arrays only, never a
 * shell; stderr kept (its tail) for the error message; the exit status checked so a failed tool
 * never counts as success.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { AGENT_ENV } from '../shared/agent-contract.ts';

export interface ToolSpec {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that still mean success (tar's 1: "some files changed while read"). */
  okCodes?: number[];
  /**
   * Where stdin comes from when not from the agent: another tool's stdout (the two are then
   * joined by the kernel and no byte passes through Node; the agent's own end is closed, so the
   * writer gets EPIPE when this tool dies) or an open file descriptor.
   */
  stdin?: Readable | number;
}

export interface RunningTool {
  /** `child.stdin` is null when `spec.stdin` gave it another source. */
  child: ChildProcessByStdio<Writable | null, Readable, Readable>;
  /** Resolves with the exit code when it is one of okCodes; rejects otherwise. */
  done: Promise<number>;
  /** The last few KB of stderr. */
  stderr(): string;
  /** How it ended, once it has: `code` when it exited by itself, `signal` when killed. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** When the process ended (performance.now()), once it has: which of two joined tools broke first. */
  exitedAt(): number | undefined;
  kill(): void;
}

const STDERR_KEEP = 8 * 1024;

/** Where PostgreSQL client tools are: CAIRN_PG_BINDIR, else PATH. */
export function pgTool(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[AGENT_ENV.postgresBinDir];
  return dir ? path.join(dir, name) : name;
}

export function describeCommand(spec: ToolSpec): string {
  return [spec.cmd, ...spec.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Starts a tool. `makeError(message)` builds the typed error thrown when it fails, so the
 * caller decides whether that is a SourceFailed or a RestoreFailed.
 */
export function startTool(spec: ToolSpec, makeError: (message: string) => Error): RunningTool {
  const child = spawn(spec.cmd, spec.args, {
    env: spec.env ?? process.env,
    cwd: spec.cwd,
    stdio: [spec.stdin ?? 'pipe', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  // The child has its copy of the other tool's stdout now; ours would keep the pipe open.
  if (spec.stdin !== undefined && typeof spec.stdin !== 'number') spec.stdin.destroy();
  let tail = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let exitedAt: number | undefined;
  child.once('exit', () => {
    exitedAt = performance.now();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    tail = (tail + s).slice(-STDERR_KEEP);
  });
  // Writes after the tool exited fail with EPIPE; the exit status tells the real story.
  child.stdin?.on('error', () => {});
  const name = path.basename(spec.cmd);
  const done = new Promise<number>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        makeError(
          e.code === 'ENOENT'
            ? `${name} not found: install it in the agent image or set ${AGENT_ENV.postgresBinDir}/PATH`
            : `${name} could not start: ${e.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      exit = { code, signal };
      if (code !== null && (code === 0 || spec.okCodes?.includes(code))) return resolve(code);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const err = lastLines(tail);
      reject(makeError(`${name} ${how}${err ? `: ${err}` : ''}`));
    });
  });
  done.catch(() => {}); // observed by callers; never an unhandled rejection
  return {
    child,
    done,
    stderr: () => tail,
    exit: () => exit,
    exitedAt: () => exitedAt,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Runs a tool to completion with optional input; resolves with its stdout. */
export async function runTool(
  spec: ToolSpec,
  makeError: (message: string) => Error,
  input = '',
): Promise<string> {
  const t = startTool(spec, makeError);
  const out: Buffer[] = [];
  t.child.stdout.on('data', (b: Buffer) => out.push(b));
  t.child.stdin?.end(input);
  await t.done;
  return Buffer.concat(out).toString();
}

/**
 * What a tool says when the reader of its output went away (a pipe, or the socket pair Node gives
 * a child's stdio): it failed because the tool after it did, never by itself. pg_dump: "could not
 * write to output file"; mariadb-dump: "Got errno 32 on write" (104 on a socket); tar: "Cannot
 * write: Broken pipe"; zstd: "Write error : cannot write block" (test/agent/pipes.test.ts).
 */
const CLOSED_OUTPUT =
  /broken pipe|EPIPE|connection reset by peer|could not write to output file|got errno \d+ on write|write error/i;

function failedWriting(t: RunningTool): boolean {
  return Boolean(t.exit()?.code) && CLOSED_OUTPUT.test(t.stderr());
}

/**
 * Before killing tools joined by pipes after a failure: when one of them failed writing to a
 * reader that went away, the reader is about to exit with the real cause (its own exit comes a
 * moment after it closed its input). Waits up to `graceMs` for the others to exit by themselves.
 */
async function settle(tools: RunningTool[], graceMs = 2000): Promise<void> {
  if (!tools.some(failedWriting)) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(tools.map((t) => t.done.catch(() => {}))),
    new Promise<void>((r) => {
      timer = setTimeout(r, graceMs);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Of tools joined by pipes, the one whose own failure (an exit code, not a kill) came first, up to
 * `before`: the others then only saw a broken pipe or a truncated input. A tool that failed
 * writing to a closed output is never the cause (settle); with only such failures, none is.
 */
async function firstFailure(tools: RunningTool[], before: number): Promise<unknown> {
  const failed = tools
    .filter((t) => t.exit()?.code && (t.exitedAt() ?? Number.POSITIVE_INFINITY) <= before)
    .filter((t) => !failedWriting(t))
    .sort((a, b) => (a.exitedAt() ?? 0) - (b.exitedAt() ?? 0));
  return failed[0]?.done.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/**
 * Stops tools joined by pipes after a failure and names the cause: waits for a reader that went
 * away to exit by itself (settle), kills the tools in array order (a caller puts first the one
 * that must not see its input end), waits for them all, and returns the failure of the one that
 * failed by itself first (firstFailure), or undefined when none did.
 */
export async function stopJoined(tools: RunningTool[]): Promise<unknown> {
  await settle(tools);
  const failedAt = performance.now();
  for (const t of tools) t.kill();
  await Promise.all(tools.map((t) => t.done.catch(() => {})));
  return firstFailure(tools, failedAt);
}

/** The meaningful end of a tool's stderr: its last lines, trimmed. */
function lastLines(s: string, n = 6): string {
  return s.trim().split('\n').slice(-n).join('\n').slice(-1500);
}
