/**
 * What each source kind runs to produce its artifact on stdout, and what it records about itself
 * in the manifest. Connection details reach libpq through PG* env vars and the mariadb client
 * through flags; passwords only through env (PGPASSWORD, MYSQL_PWD), never argv.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { AgentSource, MysqlSource, PostgresSource } from '../shared/agent-contract.ts';
import { messageOf } from '../shared/errors.ts';
import { SourceFailed, Unsupported } from './errors.ts';
import type { ManifestSource } from './manifest.ts';
import { pgTool, runTool, type ToolSpec } from './tools.ts';

export interface DumpPlan {
  spec: ToolSpec;
  /**
   * What the manifest says about the source: the tool's and the server's versions, asked while
   * the dump runs (each a process and a connection, 20–60 ms that a dump need not wait for). It
   * rejects with the clearer message when the server cannot be reached.
   */
  manifest: Promise<ManifestSource>;
}

const sourceError = (m: string) => new SourceFailed(m);

/** libpq's environment for a connection (PGDATABASE is never parsed as a conninfo string, unlike -d). */
export function pgEnv(
  c: { host: string; port?: number; user?: string },
  database: string | undefined,
  env: NodeJS.ProcessEnv,
) {
  return {
    ...env,
    PGHOST: c.host,
    ...(c.port !== undefined ? { PGPORT: String(c.port) } : {}),
    ...(c.user !== undefined ? { PGUSER: c.user } : {}),
    ...(database !== undefined ? { PGDATABASE: database } : {}),
    PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT ?? '15',
    PGAPPNAME: 'cairn-agent',
  };
}

/** A schema name as an exact pg_dump pattern: double quotes make `*`, `?`, `.` and case literal. */
export function exactPattern(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** mariadb client connection flags. */
export function mysqlArgs(c: { host: string; port?: number; user?: string }): string[] {
  return [
    `--host=${c.host}`,
    ...(c.port !== undefined ? [`--port=${c.port}`] : []),
    ...(c.user !== undefined ? [`--user=${c.user}`] : []),
    ...(c.host !== 'localhost' ? ['--protocol=tcp'] : []),
  ];
}

export function checkMysqlName(field: string, name: string): string {
  if (name.startsWith('-') || name.includes('\0'))
    throw new Unsupported(field, `not a usable database name: ${JSON.stringify(name)}`);
  return name;
}

async function postgresPlan(s: PostgresSource, env: NodeJS.ProcessEnv): Promise<DumpPlan> {
  const penv = pgEnv(s, s.allDatabases ? 'postgres' : s.database, env);
  const where = `PostgreSQL at ${s.host}:${s.port ?? 5432}${s.user ? ` as ${s.user}` : ''}`;
  const tool = s.allDatabases ? 'pg_dumpall' : 'pg_dump';
  const versions = Promise.all([
    runTool({ cmd: pgTool(tool, env), args: ['--version'], env: penv }, sourceError),
    runTool(
      { cmd: pgTool('psql', env), args: ['-X', '-A', '-t', '-w', '-c', 'show server_version'], env: penv },
      (m) =>
        new SourceFailed(`cannot connect to ${where}${s.database ? `, database ${s.database}` : ''}: ${m}`),
    ),
  ]);
  const args = s.allDatabases
    ? ['--no-password']
    : [
        '--no-password',
        ...(s.format === 'plain' ? ['--format=plain'] : ['--format=custom', '--compress=0']),
        ...(s.schemas?.length
          ? ['--strict-names', ...s.schemas.map((n) => `--schema=${exactPattern(n)}`)]
          : []),
      ];
  return {
    spec: { cmd: pgTool(tool, env), args, env: penv },
    manifest: versions.then(([toolVersion, serverVersion]) => ({
      kind: 'postgres',
      format: s.allDatabases || s.format === 'plain' ? 'plain' : 'custom',
      ...(s.allDatabases ? { allDatabases: true } : { database: s.database as string }),
      ...(s.schemas?.length ? { schemas: s.schemas } : {}),
      tool,
      toolVersion: toolVersion.trim(),
      serverVersion: serverVersion.trim(),
      host: s.host,
    })),
  };
}

async function mysqlPlan(s: MysqlSource, env: NodeJS.ProcessEnv): Promise<DumpPlan> {
  const conn = mysqlArgs(s);
  const where = `${s.kind} at ${s.host}:${s.port ?? 3306}${s.user ? ` as ${s.user}` : ''}`;
  const versions = Promise.all([
    runTool({ cmd: 'mariadb-dump', args: ['--version'], env }, sourceError),
    runTool(
      {
        cmd: 'mariadb',
        args: [...conn, '--batch', '--skip-column-names', '--execute=select version()'],
        env,
      },
      (m) => new SourceFailed(`cannot connect to ${where}: ${m}`),
    ),
  ]);
  const args = [
    ...conn,
    '--single-transaction',
    '--quick',
    '--routines',
    '--triggers',
    '--hex-blob',
    '--default-character-set=utf8mb4',
    ...(s.allDatabases ? ['--all-databases'] : ['--', checkMysqlName('--database', s.database as string)]),
  ];
  return {
    spec: { cmd: 'mariadb-dump', args, env },
    manifest: versions.then(([toolVersion, serverVersion]) => ({
      kind: s.kind,
      ...(s.allDatabases ? { allDatabases: true } : { database: s.database as string }),
      tool: 'mariadb-dump',
      toolVersion: toolVersion.trim(),
      serverVersion: serverVersion.trim(),
      host: s.host,
    })),
  };
}

async function tarPlan(paths: string[], env: NodeJS.ProcessEnv): Promise<DumpPlan> {
  const abs = paths.map((p) => path.resolve(p));
  for (const p of abs) {
    const st = await stat(p).catch((e: unknown) => {
      throw new SourceFailed(`cannot read folder ${p}: ${messageOf(e)} (is the volume mounted?)`);
    });
    if (!st.isDirectory()) throw new SourceFailed(`${p} is not a folder`);
  }
  const names = abs.map((p) => path.basename(p));
  if (new Set(names).size !== names.length) {
    throw new Unsupported('--volume', `folders must have distinct base names, got ${names.join(', ')}`);
  }
  const layout = abs.length === 1 ? 'contents' : 'named';
  const members =
    layout === 'contents'
      ? ['-C', abs[0] as string, '.']
      : abs.flatMap((p) => ['-C', path.dirname(p), path.basename(p)]);
  const toolVersion = runTool({ cmd: 'tar', args: ['--version'], env }, sourceError).then(
    (v) => v.split('\n')[0] ?? '',
  );
  return {
    spec: {
      cmd: 'tar',
      args: ['--create', '--file=-', '--format=posix', '--numeric-owner', '--sparse', ...members],
      env,
      // GNU tar exits 1 when a file changed while it was read: usual on a live volume, and the
      // archive is still complete. 2 is fatal.
      okCodes: [1],
    },
    manifest: toolVersion.then((v) => ({ kind: 'tar', paths: abs, layout, tool: 'tar', toolVersion: v })),
  };
}

export async function planDump(source: AgentSource, env: NodeJS.ProcessEnv): Promise<DumpPlan> {
  const plan = await planFor(source, env);
  plan.manifest.catch(() => {}); // awaited by the backup; never an unhandled rejection meanwhile
  return plan;
}

async function planFor(source: AgentSource, env: NodeJS.ProcessEnv): Promise<DumpPlan> {
  switch (source.kind) {
    case 'postgres':
      return postgresPlan(source, env);
    case 'mysql':
    case 'mariadb':
      return mysqlPlan(source, env);
    case 'tar':
      return tarPlan(source.paths, env);
    case 'custom': {
      const [cmd, ...args] = source.command;
      if (!cmd) throw new Unsupported('--', 'the custom command is empty');
      return {
        spec: { cmd, args, env },
        manifest: Promise.resolve({ kind: 'custom', program: path.basename(cmd) }),
      };
    }
    case 'snapshot':
      throw new Unsupported(
        '--source',
        'snapshot: CSI VolumeSnapshots are taken by the cluster, not by a backup pod; use backupStrategy tar ' +
          '(streams the mounted volume) or custom',
      );
  }
}
