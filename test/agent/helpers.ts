/** Running the agent as a real subprocess, the way a Job does, and reading what it reports. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AgentResult, parseAgentResult } from '../../shared/agent-contract.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(REPO, 'agent/main.ts');

export interface AgentRun {
  code: number | null;
  /** The termination message, parsed. */
  result: AgentResult;
  stdout: string;
  stderr: string;
  /** Parsed JSON log lines from stderr. */
  logs: Record<string, unknown>[];
}

/** `tsx agent/main.ts …args` with `env` added to a clean environment; the termination log in a temp file. */
export async function runAgent(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<AgentRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-agent-run-'));
  const terminationLog = path.join(dir, 'termination-log');
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, CAIRN_TERMINATION_LOG: terminationLog, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const stdout = Buffer.concat(out).toString();
  const stderr = Buffer.concat(err).toString();
  let message: string;
  try {
    message = await readFile(terminationLog, 'utf8');
  } catch {
    throw new Error(`agent wrote no termination message (exit ${code}):\n${stderr}`);
  }
  const logs = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, result: parseAgentResult(message), stdout, stderr, logs };
}

/** Destination flags for a store. */
export function destArgs(d: {
  type: 's3' | 'gcs' | 'pvc';
  bucket?: string;
  endpoint?: string;
  root?: string;
  path?: string;
}): string[] {
  return [
    '--dest-type',
    d.type,
    ...(d.bucket ? ['--dest-bucket', d.bucket] : []),
    ...(d.endpoint ? ['--dest-endpoint', d.endpoint] : []),
    ...(d.type === 's3' ? ['--dest-force-path-style'] : []),
    ...(d.root ? ['--dest-root', d.root] : []),
    ...(d.path ? ['--dest-path', d.path] : []),
  ];
}

/**
 * A listing of a folder tree that two equal trees share: path, type, mode, size, content hash,
 * link target, mtime (seconds). The root itself is listed as ".".
 */
export async function treeListing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const abs = path.join(root, rel);
    const st = await stat(abs).catch(() => undefined);
    const lst = await import('node:fs/promises').then((m) => m.lstat(abs));
    const mode = (lst.mode & 0o7777).toString(8);
    if (lst.isSymbolicLink()) {
      out.push(`${rel} link ${await readlink(abs)}`);
      return;
    }
    if (lst.isDirectory()) {
      out.push(`${rel} dir ${mode} mtime=${Math.floor(lst.mtimeMs / 1000)}`);
      for (const n of (await readdir(abs)).sort()) await walk(rel === '.' ? n : `${rel}/${n}`);
      return;
    }
    const sha = createHash('sha256')
      .update(await readFile(abs))
      .digest('hex')
      .slice(0, 16);
    out.push(
      `${rel} file ${mode} size=${st?.size} sha=${sha} mtime=${Math.floor(lst.mtimeMs / 1000)} nlink=${lst.nlink}`,
    );
  };
  await walk('.');
  return out;
}

/** The connection flags for a test PostgreSQL server's superuser `postgres`. */
export function pgConn(pg: { host: string; port: number }): string[] {
  return ['--host', pg.host, '--port', String(pg.port), '--user', 'postgres'];
}

/** `backup --source postgres` of `database` into the store `dest` names, as policy `policy`'s 2030-01-01 run. */
export function pgBackupArgs(
  pg: { host: string; port: number },
  database: string,
  policy: string,
  dest: string[],
  extra: string[] = [],
): string[] {
  return [
    'backup',
    '--source',
    'postgres',
    ...pgConn(pg),
    '--database',
    database,
    ...extra,
    ...dest,
    '--policy',
    policy,
    '--scheduled-time',
    '2030-01-01T00:00:00Z',
  ];
}

/** `restore --target postgres` into `database` of the backup `b` from the store `dest` names. */
export function pgRestoreArgs(
  pg: { host: string; port: number },
  b: { manifestKey: string; sha256: string },
  database: string,
  dest: string[],
  extra: string[] = [],
): string[] {
  return [
    'restore',
    '--target',
    'postgres',
    ...pgConn(pg),
    '--database',
    database,
    '--manifest-key',
    b.manifestKey,
    '--expect-sha256',
    b.sha256,
    ...extra,
    ...dest,
  ];
}
