/**
 * The contract between the job-launcher / restore-runner functions, which build an agent Job's
 * container args and env, and the backup agent, which runs in that Job and answers through the
 * pod's termination message. Both sides import only this file, so they cannot drift.
 *
 *   args   = toAgentArgs(options)          // job-launcher: container `args`
 *   opts   = parseAgentArgs(argv)          // agent: back to the same options
 *   result = parseAgentResult(message)     // job-watcher: the pod's terminationMessage
 *
 * Credentials never travel in argv: they reach the agent as env vars from secretKeyRefs
 * (AGENT_ENV) or as a mounted key file.
 */
import { parseArgs } from 'node:util';
import { InvalidSpec } from './errors.ts';
import type { StorageDestination } from './storage/types.ts';

/** The env vars the agent (and the tools it runs) read. Values come from the resource's Secrets. */
export const AGENT_ENV = {
  /** libpq (pg_dump, pg_restore, psql) reads it. */
  postgresPassword: 'PGPASSWORD',
  /** The mariadb/mysql clients (mariadb-dump, mariadb) read it. */
  mysqlPassword: 'MYSQL_PWD',
  awsAccessKeyId: 'AWS_ACCESS_KEY_ID',
  awsSecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  awsSessionToken: 'AWS_SESSION_TOKEN',
  /** Path of a mounted GCS service-account key; unset means the ambient identity (Workload Identity). */
  googleCredentials: 'GOOGLE_APPLICATION_CREDENTIALS',
  /** Where to write the termination message (else `--termination-log`, else the default). */
  terminationLog: 'CAIRN_TERMINATION_LOG',
  /** Folder of pg_dump/pg_restore/psql to use (e.g. /usr/lib/postgresql/17/bin), else PATH. */
  postgresBinDir: 'CAIRN_PG_BINDIR',
  /**
   * HMAC-SHA256 key (at least 32 bytes) that signs each manifest at backup and authenticates it at
   * restore: the store never sees it, so a bucket writer cannot forge a manifest that passes.
   */
  signingKey: 'CAIRN_SIGNING_KEY',
  /** age recipient (`age1…`) a backup with `--encryption age` encrypts to. */
  ageRecipient: 'CAIRN_AGE_RECIPIENT',
  /** age identity (`AGE-SECRET-KEY-1…`) a restore or verification of an encrypted backup decrypts with. */
  ageIdentity: 'CAIRN_AGE_IDENTITY',
  /** age passphrase (scrypt), instead of recipient and identity: both directions. */
  agePassphrase: 'CAIRN_AGE_PASSPHRASE',
  /**
   * The agent container's `requests.cpu` in whole CPUs (rounded up; "0" when none is set), from
   * the downward API: how many jobs a PostgreSQL restore runs in parallel (agent/cpus.ts).
   */
  cpuRequest: 'CAIRN_CPU_REQUEST',
} as const;

export const DEFAULT_TERMINATION_LOG = '/dev/termination-log';
/** Kubernetes keeps at most 4096 bytes of a termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

/** Exit codes, one per kind of thing to fix. */
export const AGENT_EXIT = {
  ok: 0,
  /** A bug or an unexpected failure: see the logs. */
  internal: 1,
  /** Bad arguments or an unsupported request: fix the resource's spec. */
  config: 2,
  /** The database or folder side failed (connection, permissions, the dump or restore tool). */
  source: 3,
  /** The storage side failed (credentials, bucket, network, space). */
  storage: 4,
  /** The artifact does not match its manifest (corrupt, truncated, replaced). Nothing was restored. */
  verification: 5,
  /** A restore target is not empty and neither `--overwrite` nor `--clean` was given. */
  targetNotEmpty: 6,
  /** verify: the backup restored, but a check failed on the restored copy. */
  checksFailed: 7,
} as const;
export type AgentExitCode = (typeof AGENT_EXIT)[keyof typeof AGENT_EXIT];

export type AgentFailureReason =
  | 'InvalidArguments'
  | 'Unsupported'
  | 'SourceFailed'
  | 'RestoreFailed'
  | 'StorageFailed'
  | 'VerificationFailed'
  | 'TargetNotEmpty'
  | 'ChecksFailed'
  | 'Internal';

export type Compression = 'zstd' | 'gzip' | 'none';
export const COMPRESSIONS: readonly Compression[] = ['zstd', 'gzip', 'none'];
/** How an artifact is encrypted before it leaves the pod: `age` (age-encryption.org/v1) or not. */
export type Encryption = 'age' | 'none';
export const ENCRYPTIONS: readonly Encryption[] = ['age', 'none'];

export interface DatabaseConnection {
  host: string;
  port?: number;
  user?: string;
}

export interface PostgresSource extends DatabaseConnection {
  kind: 'postgres';
  /** One database (pg_dump); omit with `allDatabases`. */
  database?: string;
  /** Every database and the roles (pg_dumpall, plain SQL). */
  allDatabases?: boolean;
  /** Only these schemas (pg_dump --schema, repeated). */
  schemas?: string[];
  /** `custom` (pg_dump -Fc -Z0, the default) or `plain` SQL. */
  format?: 'custom' | 'plain';
}

export interface MysqlSource extends DatabaseConnection {
  kind: 'mysql' | 'mariadb';
  database?: string;
  allDatabases?: boolean;
}

export interface TarSource {
  kind: 'tar';
  /** Folders to archive (PVC mounts). One folder is archived as its contents; several as subfolders named after each. */
  paths: string[];
}

export interface CustomSource {
  kind: 'custom';
  /** A command as an argument array (never a shell string); its stdout is the artifact. */
  command: string[];
  /** Extension of the artifact before compression, e.g. `bin` (the default) or `json`. */
  extension?: string;
}

export interface SnapshotSource {
  kind: 'snapshot';
}

export type AgentSource = PostgresSource | MysqlSource | TarSource | CustomSource | SnapshotSource;
export type SourceKind = AgentSource['kind'];
export const SOURCE_KINDS: readonly SourceKind[] = [
  'postgres',
  'mysql',
  'mariadb',
  'tar',
  'custom',
  'snapshot',
];

interface AgentCommon {
  destination: StorageDestination;
  /** `--termination-log`; else env CAIRN_TERMINATION_LOG; else /dev/termination-log. */
  terminationLog?: string;
  /** Seconds between progress log lines (default 5). */
  progressIntervalSeconds?: number;
}

export interface AgentBackupOptions extends AgentCommon {
  command: 'backup';
  source: AgentSource;
  /** The policy (DatabaseBackup/BackupPolicy) name: the second key segment. */
  policy: string;
  /** The Backup's scheduled time (ISO 8601): names the artifact. */
  scheduledTime: string;
  /** The Backup resource's name, recorded in the manifest. */
  backupName?: string;
  compression: Compression;
  /** zstd 1–19 (default 3) or gzip 1–9 (default 6). */
  compressionLevel?: number;
  /** `age`: encrypt after compression to CAIRN_AGE_RECIPIENT or CAIRN_AGE_PASSPHRASE (default none). */
  encryption?: Encryption;
}

export interface DatabaseTarget extends DatabaseConnection {
  kind: 'postgres' | 'mysql' | 'mariadb';
  /** Defaults to the backed-up database's name; created when missing. */
  database?: string;
}
export interface TarTarget {
  kind: 'tar';
  /** The mounted target volume. */
  directory: string;
}
export interface CustomTarget {
  kind: 'custom';
  /** Gets the verified artifact on stdin. */
  command: string[];
}
export type RestoreTarget = DatabaseTarget | TarTarget | CustomTarget;

export interface AgentRestoreOptions extends AgentCommon {
  command: 'restore';
  /** The manifest's key (from the Backup's status). */
  manifestKey: string;
  target: RestoreTarget;
  /** Restore into a non-empty target: objects/files the backup contains are replaced, others kept. */
  overwrite?: boolean;
  /** Like overwrite, but a folder target is emptied first (databases: drop what the backup creates). */
  clean?: boolean;
  /** PostgreSQL: do not restore ownership (pg_restore --no-owner), for targets without the original roles. */
  noOwner?: boolean;
  /**
   * The artifact's sha256 as the Backup object in the API records it (restore-runner passes
   * status.sha256): the artifact must hash to it, and its manifest must name it. Without it the
   * manifest must carry a valid signature (CAIRN_SIGNING_KEY), or `allowUnauthenticated` be set.
   */
  expectSha256?: string;
  /** Restore an artifact that nothing vouches for (no expected digest, no signing key): the store's word only. */
  allowUnauthenticated?: boolean;
}

/**
 * One check of a verification, as `spec.verification.checks` holds it: `sql` (with `expect`
 * and/or `compare`) for a database, `file` (with `minSizeBytes`) for a volume.
 */
export interface VerifyCheck {
  name: string;
  sql?: string;
  expect?: string;
  /** `rowCount >= 100`, `value == 3` (see COMPARISON). */
  compare?: string;
  file?: string;
  minSizeBytes?: number;
}

/** The comparisons a check's `compare` may make. */
export const COMPARISON = /^(rowCount|value) *(==|!=|>=|<=|>|<) *(-?[0-9]+(?:\.[0-9]+)?)$/;

/**
 * Restore into a scratch target (a database, dropped first if a crash left it, or a folder), run
 * the checks there, and drop the target again whatever happened.
 */
export interface AgentVerifyOptions extends Omit<AgentRestoreOptions, 'command' | 'overwrite' | 'clean'> {
  command: 'verify';
  checks: VerifyCheck[];
}

/** Deletes artifacts (and their manifests) for retention: batched DeleteObjects on S3. */
export interface AgentDeleteOptions extends AgentCommon {
  command: 'delete';
  keys: string[];
}

export type AgentOptions = AgentBackupOptions | AgentRestoreOptions | AgentVerifyOptions | AgentDeleteOptions;

// ---------------------------------------------------------------------------------------------
// Artifact naming

/** `20250327T010000Z` of an instant (UTC, seconds). */
export function keyStamp(at: Date | string): string {
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) throw new InvalidSpec('scheduledTime', `not a valid time: ${String(at)}`);
  return d
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function compressionSuffix(c: Compression): string {
  return c === 'zstd' ? '.zst' : c === 'gzip' ? '.gz' : '';
}

/** The artifact's extension before compression for a source. */
export function sourceExtension(source: AgentSource): string {
  switch (source.kind) {
    case 'postgres':
      return source.allDatabases || source.format === 'plain' ? 'sql' : 'dump';
    case 'mysql':
    case 'mariadb':
      return 'sql';
    case 'tar':
    case 'snapshot':
      return 'tar';
    case 'custom':
      return source.extension ?? 'bin';
  }
}

/**
 * `<path>/<policy>/<yyyymmddThhmmssZ>.<ext>` and its manifest `<…>/<stamp>.manifest.json`, e.g.
 * `postgres/daily/postgres-daily-backup/20250327T010000Z.dump.zst` (`….dump.zst.age` encrypted).
 */
export function artifactKeys(opts: {
  path?: string;
  policy: string;
  scheduledTime: Date | string;
  extension: string;
  compression: Compression;
  encryption?: Encryption;
}): { key: string; manifestKey: string } {
  const prefix = (opts.path ?? '').replace(/^\/+|\/+$/g, '');
  const base = `${prefix ? `${prefix}/` : ''}${opts.policy}/${keyStamp(opts.scheduledTime)}`;
  return {
    key: `${base}.${opts.extension}${compressionSuffix(opts.compression)}${opts.encryption === 'age' ? '.age' : ''}`,
    manifestKey: `${base}.manifest.json`,
  };
}

/**
 * Where a backup run writes its artifact and manifest: a function of its arguments alone, so
 * whoever holds the run's arguments (the agent; retention-pruner, from the Job) knows the keys even
 * when the run ended without reporting them.
 */
export function backupArtifactKeys(opts: AgentBackupOptions): { key: string; manifestKey: string } {
  return artifactKeys({
    ...(opts.destination.path ? { path: opts.destination.path } : {}),
    policy: opts.policy,
    scheduledTime: opts.scheduledTime,
    extension: sourceExtension(opts.source),
    compression: opts.compression,
    ...(opts.encryption === 'age' ? { encryption: opts.encryption } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// argv

type FlagType = 'string' | 'boolean';
interface Flag {
  type: FlagType;
  multiple?: boolean;
}
const FLAGS: Record<string, Flag> = {
  help: { type: 'boolean' },
  // source / target
  source: { type: 'string' },
  target: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  user: { type: 'string' },
  database: { type: 'string' },
  'all-databases': { type: 'boolean' },
  schema: { type: 'string', multiple: true },
  format: { type: 'string' },
  volume: { type: 'string', multiple: true },
  'target-dir': { type: 'string' },
  extension: { type: 'string' },
  // destination
  'dest-type': { type: 'string' },
  'dest-bucket': { type: 'string' },
  'dest-path': { type: 'string' },
  'dest-endpoint': { type: 'string' },
  'dest-region': { type: 'string' },
  'dest-force-path-style': { type: 'boolean' },
  'dest-checksums': { type: 'string' },
  'dest-root': { type: 'string' },
  // backup
  policy: { type: 'string' },
  'scheduled-time': { type: 'string' },
  'backup-name': { type: 'string' },
  compression: { type: 'string' },
  'compression-level': { type: 'string' },
  // restore
  'manifest-key': { type: 'string' },
  overwrite: { type: 'boolean' },
  clean: { type: 'boolean' },
  'no-owner': { type: 'boolean' },
  'expect-sha256': { type: 'string' },
  'allow-unauthenticated': { type: 'boolean' },
  encryption: { type: 'string' },
  // both
  'termination-log': { type: 'string' },
  'progress-interval': { type: 'string' },
  // delete
  key: { type: 'string', multiple: true },
  // verify: one JSON VerifyCheck each
  check: { type: 'string', multiple: true },
};

/** Which flags each command accepts (beyond the common ones). */
const COMMON = [
  'help',
  'dest-type',
  'dest-bucket',
  'dest-path',
  'dest-endpoint',
  'dest-region',
  'dest-force-path-style',
  'dest-checksums',
  'dest-root',
  'termination-log',
  'progress-interval',
];
const RESTORE_FLAGS = [
  ...COMMON,
  'target',
  'host',
  'port',
  'user',
  'database',
  'target-dir',
  'manifest-key',
  'no-owner',
  'expect-sha256',
  'allow-unauthenticated',
];
const ALLOWED: Record<AgentOptions['command'], Set<string>> = {
  delete: new Set([...COMMON, 'key']),
  backup: new Set([
    ...COMMON,
    'source',
    'host',
    'port',
    'user',
    'database',
    'all-databases',
    'schema',
    'format',
    'volume',
    'extension',
    'policy',
    'scheduled-time',
    'backup-name',
    'compression',
    'compression-level',
    'encryption',
  ]),
  restore: new Set([...RESTORE_FLAGS, 'overwrite', 'clean']),
  verify: new Set([...RESTORE_FLAGS, 'check']),
};

/** One `--check` value: a JSON VerifyCheck, checked field by field. */
function parseCheck(json: string): VerifyCheck {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw bad('check', `must be a JSON object, got ${JSON.stringify(json.slice(0, 80))}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('check', 'must be a JSON object');
  const o = v as Record<string, unknown>;
  const known = new Set(['name', 'sql', 'expect', 'compare', 'file', 'minSizeBytes']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad('check', `unknown field ${JSON.stringify(k)}`);
  if (typeof o.name !== 'string' || o.name === '') throw bad('check', 'needs a name');
  for (const k of ['sql', 'expect', 'compare', 'file'])
    if (o[k] !== undefined && typeof o[k] !== 'string')
      throw bad('check', `${o.name}: ${k} must be a string`);
  if (o.minSizeBytes !== undefined && !(Number.isSafeInteger(o.minSizeBytes) && Number(o.minSizeBytes) >= 0))
    throw bad('check', `${o.name}: minSizeBytes must be a non-negative integer`);
  if ((o.sql === undefined) === (o.file === undefined))
    throw bad('check', `${o.name}: set exactly one of sql and file`);
  if (typeof o.compare === 'string' && !COMPARISON.test(o.compare))
    throw bad('check', `${o.name}: compare must look like "rowCount >= 100" or "value == 3"`);
  return o as unknown as VerifyCheck;
}

/** Thrown for a bad argv; `field` is the flag (e.g. `--port`). */
function bad(flag: string, message: string): InvalidSpec {
  return new InvalidSpec(flag.startsWith('--') || flag === 'command' ? flag : `--${flag}`, message);
}

/** True when argv asks for help (the agent prints usage and exits 0). */
export function wantsHelp(argv: readonly string[]): boolean {
  const dashdash = argv.indexOf('--');
  const own = dashdash < 0 ? argv : argv.slice(0, dashdash);
  return own.length === 0 || own.includes('--help') || own.includes('-h') || own[0] === 'help';
}

/**
 * Parses the agent's argv (without node and the script): `backup|restore [flags] [-- command…]`.
 * Throws InvalidSpec naming the offending flag.
 */
export function parseAgentArgs(argv: readonly string[]): AgentOptions {
  const [command, ...rest] = argv;
  if (command !== 'backup' && command !== 'restore' && command !== 'verify' && command !== 'delete') {
    throw bad(
      'command',
      `the first argument must be "backup", "restore", "verify" or "delete", got ${JSON.stringify(command ?? '')}`,
    );
  }
  const dashdash = rest.indexOf('--');
  const own = dashdash < 0 ? rest : rest.slice(0, dashdash);
  const trailing = dashdash < 0 ? [] : rest.slice(dashdash + 1);
  const { tokens } = parseArgs({
    args: own,
    options: Object.fromEntries(
      Object.entries(FLAGS).map(([k, f]) => [k, { type: f.type, multiple: !!f.multiple }]),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values = new Map<string, string[] | boolean>();
  for (const t of tokens) {
    if (t.kind === 'positional') throw bad(t.value, `unexpected argument ${JSON.stringify(t.value)}`);
    if (t.kind !== 'option') continue;
    const flag = FLAGS[t.name];
    if (!flag || !ALLOWED[command].has(t.name))
      throw bad(t.rawName, `is not a flag of "cairn-agent ${command}"`);
    if (flag.type === 'boolean') {
      if (t.value !== undefined) throw bad(t.name, 'takes no value');
      values.set(t.name, true);
      continue;
    }
    if (t.value === undefined || (t.inlineValue !== true && t.value.startsWith('--')))
      throw bad(t.name, 'needs a value');
    const prev = values.get(t.name);
    if (prev !== undefined && !flag.multiple) throw bad(t.name, 'given more than once');
    values.set(t.name, [...(Array.isArray(prev) ? prev : []), t.value]);
  }
  const str = (name: string): string | undefined => {
    const v = values.get(name);
    return Array.isArray(v) ? v[0] : undefined;
  };
  const list = (name: string): string[] => {
    const v = values.get(name);
    return Array.isArray(v) ? v : [];
  };
  const bool = (name: string): boolean => values.get(name) === true;
  const need = (name: string, why: string): string => {
    const v = str(name);
    if (v === undefined || v === '') throw bad(name, `is required ${why}`);
    return v;
  };
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
      throw bad(name, `must be an integer ${min}-${max}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const oneOf = <T extends string>(
    name: string,
    allowed: readonly T[],
    v: string | undefined,
  ): T | undefined => {
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v))
      throw bad(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };

  const destType = oneOf('dest-type', ['s3', 'gcs', 'pvc'] as const, need('dest-type', '(s3, gcs or pvc)'));
  const destination: StorageDestination = { type: destType ?? 'pvc' };
  const setIf = <K extends keyof StorageDestination>(k: K, v: StorageDestination[K] | undefined) => {
    if (v !== undefined) destination[k] = v;
  };
  setIf('bucket', str('dest-bucket'));
  setIf('path', str('dest-path'));
  setIf('endpoint', str('dest-endpoint'));
  setIf('region', str('dest-region'));
  if (bool('dest-force-path-style')) destination.forcePathStyle = true;
  setIf(
    'checksums',
    oneOf('dest-checksums', ['when-required', 'when-supported'] as const, str('dest-checksums')),
  );
  setIf('root', str('dest-root'));
  if ((destination.type === 's3' || destination.type === 'gcs') && !destination.bucket) {
    need('dest-bucket', `for --dest-type ${destination.type}`);
  }
  if (destination.type === 'pvc') need('dest-root', 'for --dest-type pvc (the mounted claim folder)');

  const common: AgentCommon = { destination };
  const tl = str('termination-log');
  if (tl !== undefined) common.terminationLog = tl;
  const pi = int('progress-interval', 1, 3600);
  if (pi !== undefined) common.progressIntervalSeconds = pi;

  if (command === 'delete') {
    const keys = list('key');
    if (keys.length === 0) throw bad('key', 'is required for delete (repeat it for each object)');
    return { command, keys, ...common };
  }

  const connection = (): DatabaseConnection => {
    const c: DatabaseConnection = { host: need('host', 'for a database') };
    const port = int('port', 1, 65535);
    if (port !== undefined) c.port = port;
    const user = str('user');
    if (user !== undefined) c.user = user;
    return c;
  };

  if (command === 'backup') {
    const kind = oneOf('source', SOURCE_KINDS, need('source', `(${SOURCE_KINDS.join(', ')})`)) as SourceKind;
    if (kind !== 'custom' && trailing.length > 0)
      throw bad('--', 'a command after -- is only for --source custom');
    let source: AgentSource;
    switch (kind) {
      case 'postgres': {
        const s: PostgresSource = { kind, ...connection() };
        if (bool('all-databases')) {
          if (str('database') !== undefined) throw bad('all-databases', 'conflicts with --database');
          if (list('schema').length) throw bad('schema', 'cannot be combined with --all-databases');
          s.allDatabases = true;
        } else s.database = need('database', 'for --source postgres (or --all-databases)');
        if (list('schema').length) s.schemas = list('schema');
        const format = oneOf('format', ['custom', 'plain'] as const, str('format'));
        if (format !== undefined) {
          if (s.allDatabases && format === 'custom') throw bad('format', 'pg_dumpall writes plain SQL only');
          s.format = format;
        }
        source = s;
        break;
      }
      case 'mysql':
      case 'mariadb': {
        const s: MysqlSource = { kind, ...connection() };
        if (bool('all-databases')) {
          if (str('database') !== undefined) throw bad('all-databases', 'conflicts with --database');
          s.allDatabases = true;
        } else s.database = need('database', `for --source ${kind} (or --all-databases)`);
        source = s;
        break;
      }
      case 'tar': {
        const paths = list('volume');
        if (paths.length === 0)
          throw bad('volume', 'is required for --source tar (repeat it for several folders)');
        source = { kind, paths };
        break;
      }
      case 'custom': {
        if (trailing.length === 0)
          throw bad('--', '--source custom needs its command after --, e.g. -- my-exporter --all');
        const ext = str('extension');
        if (ext !== undefined && !/^[a-z0-9][a-z0-9.]{0,15}$/.test(ext))
          throw bad('extension', 'must be like "bin" or "json"');
        source = { kind, command: trailing, ...(ext !== undefined ? { extension: ext } : {}) };
        break;
      }
      case 'snapshot':
        source = { kind };
        break;
    }
    const compression = oneOf('compression', COMPRESSIONS, str('compression')) ?? 'zstd';
    const level = int('compression-level', 1, compression === 'gzip' ? 9 : 19);
    if (level !== undefined && compression === 'none')
      throw bad('compression-level', 'makes no sense with --compression none');
    const policy = need('policy', "(the policy name, the key's second segment)");
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(policy))
      throw bad('policy', 'must be a Kubernetes object name');
    const scheduledTime = need('scheduled-time', '(ISO 8601)');
    if (Number.isNaN(new Date(scheduledTime).getTime()))
      throw bad('scheduled-time', `not a valid time: ${scheduledTime}`);
    const opts: AgentBackupOptions = { command, ...common, source, policy, scheduledTime, compression };
    const backupName = str('backup-name');
    if (backupName !== undefined) opts.backupName = backupName;
    if (level !== undefined) opts.compressionLevel = level;
    const encryption = oneOf('encryption', ENCRYPTIONS, str('encryption'));
    if (encryption === 'age') opts.encryption = encryption;
    return opts;
  }

  const kind = oneOf(
    'target',
    ['postgres', 'mysql', 'mariadb', 'tar', 'custom'] as const,
    need('target', '(postgres, mysql, mariadb, tar or custom)'),
  );
  if (kind !== 'custom' && trailing.length > 0)
    throw bad('--', 'a command after -- is only for --target custom');
  let target: RestoreTarget;
  switch (kind) {
    case 'postgres':
    case 'mysql':
    case 'mariadb': {
      const t: DatabaseTarget = { kind, ...connection() };
      const db = str('database');
      if (db !== undefined) t.database = db;
      target = t;
      break;
    }
    case 'tar':
      target = { kind, directory: need('target-dir', 'for --target tar') };
      break;
    default:
      if (trailing.length === 0) throw bad('--', '--target custom needs its command after --');
      target = { kind: 'custom', command: trailing };
  }
  const manifestKey = need('manifest-key', "(the Backup's manifest key)");
  const trust: Pick<AgentRestoreOptions, 'expectSha256' | 'allowUnauthenticated'> = {};
  const expect = str('expect-sha256');
  if (expect !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(expect)) throw bad('expect-sha256', 'must be 64 lowercase hex digits');
    trust.expectSha256 = expect;
  }
  if (bool('allow-unauthenticated')) trust.allowUnauthenticated = true;
  if (command === 'verify') {
    if (target.kind === 'custom') throw bad('target', 'a custom target cannot be verified');
    if (target.kind !== 'tar' && !target.database)
      throw bad('database', 'is required for verify (the scratch database)');
    const v: AgentVerifyOptions = {
      command,
      ...common,
      manifestKey,
      target,
      checks: list('check').map(parseCheck),
      ...trust,
    };
    if (bool('no-owner')) v.noOwner = true;
    return v;
  }
  const opts: AgentRestoreOptions = { command, ...common, manifestKey, target, ...trust };
  if (bool('overwrite')) opts.overwrite = true;
  if (bool('clean')) opts.clean = true;
  if (bool('no-owner')) opts.noOwner = true;
  return opts;
}

/** Builds the agent's argv (the Job container's `args`) from options; the inverse of parseAgentArgs. */
export function toAgentArgs(opts: AgentOptions): string[] {
  const a: string[] = [opts.command];
  const add = (flag: string, v: string | number | boolean | undefined) => {
    if (v === undefined || v === false) return;
    if (v === true) a.push(`--${flag}`);
    // A value that starts with "-" would read as a flag: glue it on with "=".
    else if (String(v).startsWith('-')) a.push(`--${flag}=${String(v)}`);
    else a.push(`--${flag}`, String(v));
  };
  const conn = (c: DatabaseConnection) => {
    add('host', c.host);
    add('port', c.port);
    add('user', c.user);
  };
  let trailing: string[] = [];
  if (opts.command === 'delete') {
    for (const k of opts.keys) add('key', k);
  } else if (opts.command === 'backup') {
    const s = opts.source;
    add('source', s.kind);
    switch (s.kind) {
      case 'postgres':
        conn(s);
        add('database', s.database);
        add('all-databases', s.allDatabases);
        for (const schema of s.schemas ?? []) add('schema', schema);
        add('format', s.format);
        break;
      case 'mysql':
      case 'mariadb':
        conn(s);
        add('database', s.database);
        add('all-databases', s.allDatabases);
        break;
      case 'tar':
        for (const p of s.paths) add('volume', p);
        break;
      case 'custom':
        add('extension', s.extension);
        trailing = s.command;
        break;
      case 'snapshot':
        break;
    }
    add('policy', opts.policy);
    add('scheduled-time', opts.scheduledTime);
    add('backup-name', opts.backupName);
    add('compression', opts.compression);
    add('compression-level', opts.compressionLevel);
    if (opts.encryption === 'age') add('encryption', opts.encryption);
  } else {
    const t = opts.target;
    add('target', t.kind);
    switch (t.kind) {
      case 'tar':
        add('target-dir', t.directory);
        break;
      case 'custom':
        trailing = t.command;
        break;
      default:
        conn(t);
        add('database', t.database);
    }
    add('manifest-key', opts.manifestKey);
    if (opts.command === 'restore') {
      add('overwrite', opts.overwrite);
      add('clean', opts.clean);
    } else {
      for (const c of opts.checks) add('check', JSON.stringify(c));
    }
    add('no-owner', opts.noOwner);
    add('expect-sha256', opts.expectSha256);
    add('allow-unauthenticated', opts.allowUnauthenticated);
  }
  const d = opts.destination;
  add('dest-type', d.type);
  add('dest-bucket', d.bucket);
  add('dest-path', d.path);
  add('dest-endpoint', d.endpoint);
  add('dest-region', d.region);
  add('dest-force-path-style', d.forcePathStyle);
  add('dest-checksums', d.checksums);
  add('dest-root', d.root);
  add('termination-log', opts.terminationLog);
  add('progress-interval', opts.progressIntervalSeconds);
  if (trailing.length) a.push('--', ...trailing);
  return a;
}

// ---------------------------------------------------------------------------------------------
// The termination message

/** How one check of a verification went. */
export interface CheckResult {
  name: string;
  passed: boolean;
  /** What was found, e.g. `rowCount 3 is not >= 1000`. */
  message: string;
}

export interface AgentSuccess {
  ok: true;
  command: 'backup' | 'restore' | 'verify';
  /** `s3://bucket/key`, `gs://bucket/key` or `file:///…`. */
  location: string;
  key: string;
  manifestKey: string;
  /** Stored (compressed) size. */
  sizeBytes: number;
  /** Size before compression. */
  rawBytes: number;
  /** sha256 (hex) of the stored bytes. */
  sha256: string;
  compression: Compression;
  /** `age` when the stored bytes are encrypted; absent when not. */
  encryption?: Encryption;
  startTime: string;
  completionTime: string;
  durationMs: number;
  /** verify: every check passed; here is what each found. */
  checks?: CheckResult[];
}

export interface AgentFailure {
  ok: false;
  command?: 'backup' | 'restore' | 'verify' | 'delete';
  reason: AgentFailureReason;
  /** What went wrong and what to fix; never credentials. */
  message: string;
  exitCode: number;
  startTime?: string;
  completionTime?: string;
}

/**
 * What `delete` reports: how many objects are gone (missing ones count as gone). Nobody parses it:
 * the retention-pruner reads only the Job's Complete/Failed condition.
 */
export interface AgentDeleteSuccess {
  ok: true;
  command: 'delete';
  deleted: number;
  startTime: string;
  completionTime: string;
}

export type AgentResult = AgentSuccess | AgentFailure;

/** The JSON the agent writes as its termination message, cut to fit Kubernetes' 4096 bytes. */
export function formatAgentResult(result: AgentResult | AgentDeleteSuccess): string {
  let text = JSON.stringify(result);
  if (Buffer.byteLength(text) <= TERMINATION_MESSAGE_LIMIT || result.ok) return text;
  let message = result.message;
  while (Buffer.byteLength(text) > TERMINATION_MESSAGE_LIMIT && message.length > 0) {
    const over = Buffer.byteLength(text) - TERMINATION_MESSAGE_LIMIT;
    message = message.slice(0, Math.max(0, message.length - over - 16));
    text = JSON.stringify({ ...result, message: `${message}…` });
  }
  return text;
}

const REASONS: readonly AgentFailureReason[] = [
  'InvalidArguments',
  'Unsupported',
  'SourceFailed',
  'RestoreFailed',
  'StorageFailed',
  'VerificationFailed',
  'TargetNotEmpty',
  'ChecksFailed',
  'Internal',
];

/** Reads a termination message; throws InvalidSpec('terminationMessage') when it is not one. */
export function parseAgentResult(text: string): AgentResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new InvalidSpec('terminationMessage', `not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (typeof v !== 'object' || v === null) throw new InvalidSpec('terminationMessage', 'not an object');
  const o = v as Record<string, unknown>;
  const expect = (k: string, type: 'string' | 'number', optional = false) => {
    if (optional && o[k] === undefined) return;
    if (typeof o[k] !== type || (type === 'number' && !Number.isFinite(o[k]))) {
      throw new InvalidSpec(`terminationMessage.${k}`, `must be a ${type}`);
    }
  };
  if (o.ok === true) {
    if (o.command !== 'backup' && o.command !== 'restore' && o.command !== 'verify')
      throw new InvalidSpec('terminationMessage.command', 'must be backup, restore or verify');
    for (const k of ['location', 'key', 'manifestKey', 'sha256', 'startTime', 'completionTime'])
      expect(k, 'string');
    for (const k of ['sizeBytes', 'rawBytes', 'durationMs']) expect(k, 'number');
    if (!COMPRESSIONS.includes(o.compression as Compression))
      throw new InvalidSpec('terminationMessage.compression', 'unknown');
    if (!/^[0-9a-f]{64}$/.test(String(o.sha256)))
      throw new InvalidSpec('terminationMessage.sha256', 'must be 64 hex digits');
    return o as unknown as AgentSuccess;
  }
  if (o.ok === false) {
    if (!REASONS.includes(o.reason as AgentFailureReason))
      throw new InvalidSpec('terminationMessage.reason', `unknown reason ${String(o.reason)}`);
    expect('message', 'string');
    expect('exitCode', 'number');
    expect('startTime', 'string', true);
    expect('completionTime', 'string', true);
    return o as unknown as AgentFailure;
  }
  throw new InvalidSpec('terminationMessage.ok', 'must be true or false');
}
