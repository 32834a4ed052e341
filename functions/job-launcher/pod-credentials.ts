/**
 * A database connection read from the Pod a `databaseSelector` picks, the way its image is
 * configured (seed 000's users put credentials there, not in the DatabaseBackup):
 *
 * - postgres (the official image): `POSTGRES_USER` (default `postgres`), `POSTGRES_DB` (default:
 *   the user), `POSTGRES_PASSWORD`;
 * - mysql / mariadb (the official images; `MARIADB_*` wins over `MYSQL_*`): `MARIADB_USER` with
 *   `MARIADB_PASSWORD`, else `root` with `MARIADB_ROOT_PASSWORD` (`MARIADB_ALLOW_EMPTY_ROOT_PASSWORD`:
 *   none); `MARIADB_DATABASE`, else every database;
 * - the port: the container's (a port named like the engine first), else `PGPORT` /
 *   `MYSQL_TCP_PORT`, else the engine's default.
 *
 * What the DatabaseBackup's `spec.database` sets wins; the Pod fills only the rest. A `value:` is
 * read from the Pod spec (it is no secret there either); a `secretKeyRef` password is handed on
 * to the agent Job as the same secretKeyRef — no Secret's data is ever read. A user or database
 * name that only a Secret (or a `*_FILE`) holds cannot be known: that is a Missing answer.
 * Pure: the Pod is gathered, nothing here calls the API.
 */
import type { DatabaseConnection, DatabaseType } from '../../shared/api/index.ts';
import { type EnvVar, passwordEnv } from '../../shared/jobs.ts';

export interface PodEnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; [other: string]: unknown };
}
export interface PodContainer {
  name: string;
  image?: string;
  env?: PodEnvVar[];
  ports?: { name?: string; containerPort: number }[];
}
export interface PodInfo {
  name: string;
  containers: PodContainer[];
}

export interface PodConnection {
  user: string;
  database?: string;
  /** The password env for the agent (PGPASSWORD / MYSQL_PWD), when the Pod names one. */
  password?: EnvVar;
  port?: number;
  /** What was found and where, for the condition (names of Secrets and variables, never values). */
  found: string;
}

/** Something the connection needs that the Pod keeps where Cairn does not look. */
export class MissingCredentials {
  constructor(readonly message: string) {}
}

/** Image repositories (the last path segment) of each engine's servers, not its exporters or tools. */
const IMAGE: Record<DatabaseType, RegExp> = {
  postgres: /^(postgres|postgresql|postgis|timescaledb(-ha)?)$/,
  mysql: /^(mysql|mysql-server|percona|percona-server)$/,
  mariadb: /^mariadb$/,
};
const repository = (image: string) =>
  (image.split('@')[0] ?? '')
    .replace(/:[^/:]*$/, '')
    .split('/')
    .pop() ?? '';
const VARS: Record<DatabaseType, string[]> = {
  postgres: ['POSTGRES_USER', 'POSTGRES_DB', 'POSTGRES_PASSWORD'],
  mysql: ['MYSQL_USER', 'MYSQL_DATABASE', 'MYSQL_PASSWORD', 'MYSQL_ROOT_PASSWORD'],
  mariadb: ['MARIADB_USER', 'MARIADB_DATABASE', 'MARIADB_PASSWORD', 'MARIADB_ROOT_PASSWORD', 'MYSQL_USER'],
};

/** The container that runs the database: by image, else by its variables, else the first. */
function databaseContainer(type: DatabaseType, pod: PodInfo): PodContainer | undefined {
  const byImage = pod.containers.find((c) => IMAGE[type].test(repository(c.image ?? '')));
  if (byImage) return byImage;
  return pod.containers.find((c) => c.env?.some((e) => VARS[type].includes(e.name))) ?? pod.containers[0];
}

type Lookup =
  | { kind: 'value'; name: string; value: string }
  | { kind: 'secret'; name: string; secret: string; key: string }
  | { kind: 'unreadable'; name: string; why: string };

function lookup(c: PodContainer | undefined, names: string[]): Lookup | undefined {
  for (const name of names) {
    // Kubernetes: of two entries with one name, the later one wins.
    const e = [...(c?.env ?? [])].reverse().find((x) => x.name === name);
    if (e) {
      if (e.value !== undefined) return { kind: 'value', name, value: e.value };
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) return { kind: 'secret', name, secret: ref.name, key: ref.key };
      return {
        kind: 'unreadable',
        name,
        why: `${name} comes from ${Object.keys(e.valueFrom ?? {}).join(', ')}`,
      };
    }
    const file = c?.env?.find((x) => x.name === `${name}_FILE`);
    if (file) return { kind: 'unreadable', name, why: `${name}_FILE names a file inside the Pod` };
  }
  return undefined;
}

/** A user or database name: a plain value, or Missing when only a Secret or a file holds it. */
function plain(l: Lookup | undefined, pod: string, field: string): string | undefined {
  if (!l) return undefined;
  if (l.kind === 'value') return l.value;
  const where = l.kind === 'secret' ? `${l.name} comes from Secret ${l.secret} (key ${l.key})` : l.why;
  throw new MissingCredentials(
    `Pod ${pod}: ${where}, which Cairn does not read (functions never read Secrets): set ${field}`,
  );
}

function port(type: DatabaseType, c: PodContainer | undefined): number | undefined {
  const ports = c?.ports ?? [];
  const named = ports.find((p) => /postgres|pg|mysql|maria|sql|db/i.test(p.name ?? ''));
  const p = (named ?? ports[0])?.containerPort;
  if (p !== undefined) return p;
  const env = lookup(c, [type === 'postgres' ? 'PGPORT' : 'MYSQL_TCP_PORT']);
  const n = env?.kind === 'value' ? Number(env.value) : Number.NaN;
  return Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

function passwordFrom(
  type: DatabaseType,
  l: Lookup | undefined,
  pod: string,
): { env?: EnvVar; says: string } {
  if (!l) return { says: 'no password' };
  if (l.kind === 'secret')
    return {
      env: passwordEnv(type, { name: l.secret, key: l.key }),
      says: `password from Secret ${l.secret} key ${l.key} (${l.name})`,
    };
  if (l.kind === 'value')
    return {
      env: { name: passwordEnv(type, { name: '' }).name, value: l.value },
      says: `password from the plain value of ${l.name} in the Pod spec (better a Secret)`,
    };
  throw new MissingCredentials(
    `Pod ${pod}: ${l.why}, which Cairn cannot read: set spec.database.passwordSecretRef`,
  );
}

/** The value, or the MissingCredentials that getting it threw. */
function attempt<T>(fn: () => T): [T | undefined, MissingCredentials | undefined] {
  try {
    return [fn(), undefined];
  } catch (err) {
    if (err instanceof MissingCredentials) return [undefined, err];
    throw err;
  }
}

/**
 * The connection for `type` from `pod`, `spec` (the DatabaseBackup's `spec.database`) winning.
 * Throws MissingCredentials when a needed part is only in a Secret or file.
 */
export function podConnection(type: DatabaseType, spec: DatabaseConnection, pod: PodInfo): PodConnection {
  const c = databaseContainer(type, pod);
  const at = `Pod ${pod.name}${c ? ` (container ${c.name}${c.image ? `, image ${c.image}` : ''})` : ''}`;
  const notes: string[] = [];
  let user: string;
  let database: string | undefined;
  let pw: Lookup | undefined;
  if (type === 'postgres') {
    const [imageUser, userMissing] = attempt(
      () => plain(lookup(c, ['POSTGRES_USER']), pod.name, 'spec.database.user') ?? 'postgres',
    );
    if (spec.user === undefined && userMissing) throw userMissing;
    user = spec.user ?? (imageUser as string);
    notes.push(
      spec.user
        ? `user ${user} (spec)`
        : `user ${user} (${lookup(c, ['POSTGRES_USER']) ? 'POSTGRES_USER' : 'image default'})`,
    );
    if (!spec.name && !spec.allDatabases) {
      const db = plain(lookup(c, ['POSTGRES_DB']), pod.name, 'spec.database.name');
      if (db === undefined && userMissing) throw userMissing;
      database = db ?? imageUser;
      notes.push(
        `database ${database} (${db ? 'POSTGRES_DB' : 'POSTGRES_DB unset: the image uses the user name'})`,
      );
    }
    if (imageUser !== undefined && user === imageUser) pw = lookup(c, ['POSTGRES_PASSWORD']);
  } else {
    const [appUser, userMissing] = attempt(() =>
      plain(lookup(c, ['MARIADB_USER', 'MYSQL_USER']), pod.name, 'spec.database.user'),
    );
    if (spec.user === undefined && userMissing) throw userMissing;
    user = spec.user ?? appUser ?? 'root';
    notes.push(
      spec.user
        ? `user ${user} (spec)`
        : appUser
          ? `user ${user} (MARIADB_USER/MYSQL_USER)`
          : 'user root (no MARIADB_USER/MYSQL_USER)',
    );
    if (!spec.name && !spec.allDatabases) {
      database = plain(lookup(c, ['MARIADB_DATABASE', 'MYSQL_DATABASE']), pod.name, 'spec.database.name');
      notes.push(
        database
          ? `database ${database} (MARIADB_DATABASE/MYSQL_DATABASE)`
          : 'every database (no MARIADB_DATABASE/MYSQL_DATABASE)',
      );
    }
    if (user === 'root') {
      pw = lookup(c, ['MARIADB_ROOT_PASSWORD', 'MYSQL_ROOT_PASSWORD']);
      if (
        !pw &&
        !spec.passwordSecretRef &&
        lookup(c, ['MARIADB_RANDOM_ROOT_PASSWORD', 'MYSQL_RANDOM_ROOT_PASSWORD'])
      ) {
        throw new MissingCredentials(
          `Pod ${pod.name}: the root password is random (MARIADB_RANDOM_ROOT_PASSWORD), known only to the server's log: set spec.database.user and passwordSecretRef`,
        );
      }
    } else if (appUser !== undefined && user === appUser)
      pw = lookup(c, ['MARIADB_PASSWORD', 'MYSQL_PASSWORD']);
  }
  const password = spec.passwordSecretRef
    ? { says: 'password from spec.database.passwordSecretRef' }
    : passwordFrom(type, pw, pod.name);
  notes.push(password.says);
  const p = port(type, c);
  return {
    user,
    ...(database !== undefined ? { database } : {}),
    ...(password.env ? { password: password.env } : {}),
    ...(p !== undefined ? { port: p } : {}),
    found: `connection from ${at}: ${notes.join(', ')}`,
  };
}
