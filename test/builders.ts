/** Small builders for test objects: defaults that validate, overrides where a test cares. */
import type { Backup, BackupPolicy, DatabaseBackup, PolicyKind } from '../shared/api/index.ts';
import { API_VERSION } from '../shared/api/index.ts';
import type { KubeObject } from '../shared/kube.ts';
import { Labels } from '../shared/labels.ts';
import { policyLabels } from '../shared/policy.ts';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export const CREATED = '2025-03-20T00:00:00Z';

export function databaseBackup(
  name = 'pg-nightly',
  spec: Partial<DatabaseBackup['spec']> = {},
  extra: DeepPartial<Omit<DatabaseBackup, 'spec'>> = {},
): DatabaseBackup {
  return {
    apiVersion: API_VERSION,
    kind: 'DatabaseBackup',
    ...extra,
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: CREATED,
      ...(extra.metadata as object),
    },
    spec: {
      databaseType: 'postgres',
      schedule: '0 1 * * *',
      timeZone: 'UTC',
      concurrencyPolicy: 'Forbid',
      database: {
        host: 'pg',
        name: 'app',
        user: 'backup',
        passwordSecretRef: { name: 'pg', key: 'password' },
      },
      storageDestination: { type: 's3', bucket: 'bkt', secretName: 's3' },
      ...spec,
    },
    ...(extra.status ? { status: extra.status as DatabaseBackup['status'] } : {}),
  };
}

export function backupPolicy(name = 'volumes', spec: Partial<BackupPolicy['spec']> = {}): BackupPolicy {
  return {
    apiVersion: API_VERSION,
    kind: 'BackupPolicy',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, generation: 1, creationTimestamp: CREATED },
    spec: {
      schedule: '*/5 * * * *',
      pvcSelector: { matchLabels: { app: 'web' } },
      backupStrategy: 'tar',
      storageDestination: { type: 'pvc', claimName: 'backup-store' },
      ...spec,
    },
  };
}

export function backup(
  name: string,
  policy: { kind: PolicyKind; name: string },
  status: Backup['status'] = {},
  meta: Partial<Backup['metadata']> = {},
  spec: Partial<Backup['spec']> = {},
): Backup {
  return {
    apiVersion: API_VERSION,
    kind: 'Backup',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      creationTimestamp: CREATED,
      labels: { ...policyLabels(policy.kind, policy.name), [Labels.backup]: name },
      ...meta,
    },
    spec: { policyRef: policy, deletionPolicy: 'Delete', ...spec },
    status,
  };
}

/** A built object as a client would send it to be created: without what the API server assigns. */
export function forCreate<T extends KubeObject>(o: T): T {
  const { uid: _u, creationTimestamp: _c, generation: _g, ...metadata } = o.metadata;
  return { ...o, metadata } as T;
}
