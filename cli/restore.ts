/**
 * `cairn restore <backup> --to …`: creates a Restore after the checks restore-runner will apply —
 * its own gather and decide run here first, so a Restore that would be refused is not created and
 * the reason is printed. Overwriting a target asks first unless --yes.
 */

import { decide } from '../functions/restore-runner/decide.ts';
import { gather } from '../functions/restore-runner/gather.ts';
import { API_VERSION, type Backup, type DatabaseBackup, type Restore } from '../shared/api/index.ts';
import { systemClock } from '../shared/clock.ts';
import { childName } from '../shared/naming.ts';
import type { Policy } from '../shared/policy.ts';
import { connect } from './cluster.ts';
import { bool, type Command, OperationFailed, parseDuration, str, UsageError } from './command.ts';
import { emit, fields } from './output.ts';
import { secondStamp, waitForRun } from './runs.ts';

type Target = Restore['spec']['target'];

/**
 * `--to`: `pvc:<claim>[/<sub/path>]`, `db://[user@]host[:port]/<database>` (with
 * --password-secret), or `source` (a DatabaseBackup's own database; the default for those).
 */
export function parseTarget(
  to: string | undefined,
  passwordSecret: string | undefined,
  backup: Backup,
  policy: Policy | undefined,
): Target {
  const kind = backup.spec.policyRef.kind;
  if (to === undefined || to === 'source') {
    if (kind !== 'DatabaseBackup')
      throw new UsageError('--to is required for a volume backup: --to pvc:<claim>[/<path>]');
    const db = (policy as DatabaseBackup | undefined)?.spec.database;
    if (!db?.host)
      throw new UsageError(
        `${backup.spec.policyRef.name} names no database host (it uses databaseSelector): give --to db://host/name`,
      );
    return { database: db };
  }
  if (to.startsWith('pvc:')) {
    const rest = to.slice(4);
    const slash = rest.indexOf('/');
    const claimName = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    if (!claimName) throw new UsageError('--to pvc:<claim>[/<path>]: the claim name is missing');
    return { pvc: { claimName, ...(path ? { path } : {}) } };
  }
  if (to.startsWith('db://')) {
    let u: URL;
    try {
      u = new URL(to);
    } catch {
      throw new UsageError(`--to: not a db://[user@]host[:port]/<database> URL: ${to}`);
    }
    const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (!u.hostname || !name)
      throw new UsageError('--to db://[user@]host[:port]/<database>: host and database are required');
    const [secret, key] = (passwordSecret ?? '').split(':');
    return {
      database: {
        host: u.hostname,
        name,
        ...(u.port ? { port: Number(u.port) } : {}),
        ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
        ...(secret ? { passwordSecretRef: { name: secret, key: key || 'password' } } : {}),
      },
    };
  }
  throw new UsageError(`--to: expected pvc:<claim>[/<path>], db://host/<database> or source, got "${to}"`);
}

function describeTarget(t: Target): string {
  if (t.pvc) return `PersistentVolumeClaim ${t.pvc.claimName}${t.pvc.path ? `/${t.pvc.path}` : ''}`;
  const d = t.database ?? {};
  return `database ${d.name ?? ''} on ${d.host ?? ''}${d.port ? `:${d.port}` : ''}`;
}

export const restore: Command = {
  name: 'restore',
  summary: 'Restore a Completed Backup into a PVC or a database (creates a Restore).',
  help: `Usage: cairn restore <backup> [--to TARGET] [--overwrite | --clean] [--yes] [--wait]

TARGET is one of:
  pvc:<claim>[/<path>]                 a PersistentVolumeClaim (volume backups)
  db://[user@]host[:port]/<database>   a database (database backups); --password-secret NAME[:KEY]
  source                               the DatabaseBackup's own database (default for database backups)

The checks restore-runner applies run first (a Completed Backup with a manifest, of this
namespace; the policy, Secrets and claims exist; target kind matches the backup); a refused restore
is not created and exits 1. A target that is not empty is refused by the agent unless --overwrite
or --clean, which ask for confirmation (or --yes).

Options:
  --to TARGET              where to restore
  --password-secret N[:K]  Secret (and key, default "password") with the target database's password
  --name NAME              the Restore's name (default <backup>-restore-<yyyymmddhhmmss>)
  --overwrite              restore into a target that is not empty
  --clean                  drop what the target holds first (pg_restore --clean; empty the folder)
  --yes                    do not ask before overwriting
  --wait                   wait until it is Completed (exit 0) or Failed (exit 1)
  --timeout DUR            how long --wait waits (default 30m)`,
  options: {
    to: { type: 'string' },
    'password-secret': { type: 'string' },
    name: { type: 'string' },
    overwrite: { type: 'boolean' },
    clean: { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run(args, g, io) {
    const [backupName, ...extra] = args.positionals;
    if (!backupName || extra.length > 0) throw new UsageError('expected one <backup>');
    const v = args.values;
    const timeout = parseDuration('--timeout', str(v, 'timeout') ?? '30m');
    const cluster = await connect(g);
    const { kube, namespace } = cluster;
    const backup = await kube.get<Backup>('Backup', namespace, backupName);
    if (!backup) throw new OperationFailed(`Backup ${backupName} not found in namespace ${namespace}`);
    const policy = await kube.get<Policy>(backup.spec.policyRef.kind, namespace, backup.spec.policyRef.name);
    const target = parseTarget(str(v, 'to'), str(v, 'password-secret'), backup, policy);
    const now = systemClock.now();
    const overwrite = bool(v, 'overwrite');
    const clean = bool(v, 'clean');
    const object: Restore = {
      apiVersion: API_VERSION,
      kind: 'Restore',
      metadata: { name: str(v, 'name') ?? childName(backupName, `restore-${secondStamp(now)}`), namespace },
      spec: {
        backupRef: { name: backupName },
        target,
        ...(overwrite ? { overwrite: true } : {}),
        ...(clean ? { clean: true } : {}),
      },
    };

    // restore-runner's own checks, before anything is created.
    const plan = decide(await gather(kube, object), now);
    const refusal = plan.find((a) => a.type === 'status' && a.set.phase === 'Failed');
    if (refusal && refusal.type === 'status') throw new OperationFailed(`refused: ${refusal.why}`);

    if ((overwrite || clean) && !bool(v, 'yes')) {
      const what = `Restore Backup ${backupName} into ${describeTarget(target)}, ${clean ? 'dropping' : 'overwriting'} what it holds?`;
      const answer = await io.ask?.(`${what} [y/N] `);
      if (answer === undefined)
        throw new OperationFailed(`${what} Not confirmed (stdin is not a terminal): pass --yes`);
      if (!/^y(es)?$/i.test(answer.trim())) throw new OperationFailed('not confirmed; nothing was created');
    }

    const { object: created, created: isNew } = await kube.create('Restore', object);
    if (!isNew) throw new OperationFailed(`Restore ${object.metadata.name} exists already`);
    if (!bool(v, 'wait')) {
      emit(io, g.output, created, () => `restore.backup.cairn.dev/${created.metadata.name} created`);
      return 0;
    }
    if (g.output === 'table') io.err(`restore.backup.cairn.dev/${created.metadata.name} created; waiting…\n`);
    const done = await waitForRun<Restore>(kube, 'Restore', namespace, created.metadata.name, timeout);
    emit(io, g.output, done, () =>
      fields([
        ['Restore', `${namespace}/${done.metadata.name}`],
        ['Backup', backupName],
        ['Target', describeTarget(target)],
        ['Phase', done.status?.phase],
        [
          'Restored',
          done.status?.restoredBytes === undefined ? undefined : `${done.status.restoredBytes} bytes`,
        ],
        ['SHA-256', done.status?.sha256],
        ['Message', done.status?.message],
      ]),
    );
    return done.status?.phase === 'Completed' ? 0 : 1;
  },
};
