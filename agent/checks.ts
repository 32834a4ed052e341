/**
 * Runs a verification check's SQL — user text, run with the backup's database credentials —
 * through a protocol driver (`pg`, `mysql2`), never a client's stdin: psql's and mariadb's
 * meta-commands (`\!`, `\copy`, `system`) do not exist on the wire. Each check gets its own
 * session on the scratch database and runs as exactly one statement inside a transaction that is
 * read-only from its first statement; the transaction is rolled back and the session closed after
 * it, so nothing a check sets outlives it.
 *
 * - PostgreSQL: `BEGIN READ ONLY`, then the check through the extended protocol (Parse refuses
 *   several commands in one string), with `default_transaction_read_only=on` for the session too.
 *   A superuser's check runs as the predefined role `pg_read_all_data` (PostgreSQL 14+), which
 *   reads every table but cannot run server programs or touch server files (`COPY … TO PROGRAM`,
 *   `pg_read_file`, `lo_export`): READ ONLY does not stop those.
 * - MySQL/MariaDB: `SET SESSION TRANSACTION READ ONLY` (a statement that commits implicitly, such
 *   as DDL, then starts another read-only transaction) and `START TRANSACTION READ ONLY`, then the
 *   check with `multipleStatements` off, so the server refuses a second statement. A user with the
 *   FILE privilege gets no check run at all: READ ONLY does not stop `SELECT … INTO OUTFILE` or
 *   `LOAD_FILE()`, and no role can be put on for the check alone (PostgreSQL's way above).
 *
 * Values come back as the server's text (no driver type parsing), NULL as an empty field. The
 * drivers load only when a check or a drop runs: a backup's start-up does not pay for them.
 */
import type mysqlTypes from 'mysql2/promise';
import type pgTypes from 'pg';
import { AGENT_ENV, type DatabaseTarget } from '../shared/agent-contract.ts';

/** Rows of a result, fields of a row, each as the server's text. */
export type Rows = string[][];

const text = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

function connectTimeoutMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.PGCONNECT_TIMEOUT ?? 15);
  return (Number.isFinite(s) && s > 0 ? s : 15) * 1000;
}

/** Runs one check statement on the scratch database `t.database`, read-only; resolves with its rows. */
export async function runSqlCheck(t: DatabaseTarget, sql: string, env: NodeJS.ProcessEnv): Promise<Rows> {
  if (!t.database) throw new Error('a check needs the scratch database');
  return t.kind === 'postgres' ? postgresCheck(t, t.database, sql, env) : mysqlCheck(t, t.database, sql, env);
}

async function pgClient(
  t: DatabaseTarget,
  database: string,
  env: NodeJS.ProcessEnv,
  options?: string,
): Promise<pgTypes.Client> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: t.host,
    port: t.port ?? 5432,
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(env[AGENT_ENV.postgresPassword] !== undefined ? { password: env[AGENT_ENV.postgresPassword] } : {}),
    database,
    application_name: 'cairn-agent',
    connectionTimeoutMillis: connectTimeoutMs(env),
    ...(options ? { options } : {}),
    // Every value as the server's text, as `expect` compares it.
    types: { getTypeParser: () => (v: string) => v },
  });
  client.on('error', () => {}); // a dropped connection fails the pending query; nothing else to do
  return client;
}

async function mysqlConnect(
  t: DatabaseTarget,
  database: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<mysqlTypes.Connection> {
  const { default: mysql } = await import('mysql2/promise');
  return mysql.createConnection({
    host: t.host,
    port: t.port ?? 3306,
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(env[AGENT_ENV.mysqlPassword] !== undefined ? { password: env[AGENT_ENV.mysqlPassword] } : {}),
    ...(database !== undefined ? { database } : {}),
    multipleStatements: false,
    connectTimeout: connectTimeoutMs(env),
    rowsAsArray: true,
    // Every value as the server's text, as `expect` compares it.
    typeCast: (field) => field.string(),
  });
}

async function postgresCheck(
  t: DatabaseTarget,
  database: string,
  sql: string,
  env: NodeJS.ProcessEnv,
): Promise<Rows> {
  const client = await pgClient(t, database, env, '-c default_transaction_read_only=on');
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    const su = await client.query<[string, string]>({
      text: "select current_setting('is_superuser'), current_setting('server_version_num')",
      rowMode: 'array',
    });
    if (su.rows[0]?.[0] === 'on') {
      if (Number(su.rows[0][1]) < 140000)
        throw new Error(
          'a superuser runs checks only on PostgreSQL 14+ (as pg_read_all_data); use a user that is not a superuser',
        );
      await client.query('SET LOCAL ROLE pg_read_all_data');
    }
    // pg's `queryMode` (8.11+) is missing from @types/pg: the config carries it past the type.
    const extended: pgTypes.QueryArrayConfig & { queryMode: 'extended' } = {
      text: sql,
      rowMode: 'array',
      queryMode: 'extended',
    };
    const r = await client.query<unknown[]>(extended);
    return r.rows.map((row) => row.map(text));
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  }
}

/** Whether the session's user holds FILE (USER_PRIVILEGES names grantees `'user'@'host'`). */
const FILE_PRIVILEGE = `select count(*) from information_schema.user_privileges
  where privilege_type = 'FILE'
    and grantee = concat('''', substring_index(current_user(), '@', 1), '''@''', substring_index(current_user(), '@', -1), '''')`;

async function mysqlCheck(
  t: DatabaseTarget,
  database: string,
  sql: string,
  env: NodeJS.ProcessEnv,
): Promise<Rows> {
  const conn = await mysqlConnect(t, database, env);
  conn.on('error', () => {});
  try {
    const [file] = await conn.query(FILE_PRIVILEGE);
    if (Array.isArray(file) && (file as unknown[][])[0]?.[0] !== '0') {
      throw new Error(
        `${t.user ?? 'the user'} holds the FILE privilege, with which a check reads and writes the server's files even read-only (SELECT … INTO OUTFILE, LOAD_FILE): run verification as a user without it`,
      );
    }
    await conn.query('SET SESSION TRANSACTION READ ONLY');
    await conn.query('START TRANSACTION READ ONLY');
    const [rows] = await conn.query(sql);
    // A statement without a result set (SET, COMMIT…) answers with a header, not rows.
    return Array.isArray(rows) ? (rows as unknown[][]).map((row) => row.map(text)) : [];
  } finally {
    await conn.query('ROLLBACK').catch(() => {});
    await conn.end().catch(() => {});
  }
}

/** Drops the scratch database `t.database` (connected to the server's maintenance database). */
export async function dropDatabase(t: DatabaseTarget, env: NodeJS.ProcessEnv): Promise<void> {
  if (!t.database) return;
  if (t.kind === 'postgres') {
    const client = await pgClient(t, 'postgres', env);
    await client.connect();
    try {
      await client.query(`drop database if exists ${client.escapeIdentifier(t.database)} with (force)`);
    } finally {
      await client.end().catch(() => {});
    }
    return;
  }
  const conn = await mysqlConnect(t, undefined, env);
  conn.on('error', () => {});
  try {
    // Not escapeId(): it reads a dot as a qualifier. A backquoted name doubles its backquotes.
    await conn.query(`drop database if exists \`${t.database.replaceAll('`', '``')}\``);
  } finally {
    await conn.end().catch(() => {});
  }
}
