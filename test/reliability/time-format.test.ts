/**
 * Issue 14, item 9: every time Cairn's functions write — statuses, a Backup's scheduledTime,
 * annotations, Events — is rendered as Kubernetes' metav1.Time marshals it (RFC 3339 in UTC, whole
 * seconds: `2030-01-01T00:05:00Z`), whatever form the times they read came in (the Job controller's
 * strings, client-node's Dates, an agent's milliseconds).
 */
import test from 'ava';
import type { KubeObject } from '../../shared/kube.ts';
import { backupPolicy } from '../builders.ts';
import { simulate } from './simulate.ts';
import type { World } from './world.ts';

const METAV1_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const LOOKS_LIKE_TIME = /^\d{4}-\d{2}-\d{2}T/;

/** Every string under `value` that looks like a time, with the path it was found at. */
function times(value: unknown, path: string, out: [string, string][]): [string, string][] {
  if (typeof value === 'string' && LOOKS_LIKE_TIME.test(value)) out.push([path, value]);
  else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) times(v, `${path}[${i}]`, out);
  } else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) times(v, `${path}.${k}`, out);
  return out;
}

/** What Cairn wrote: the status of its kinds, a Backup's scheduledTime, annotations of what it created. */
function written(world: World): [string, string][] {
  const out: [string, string][] = [];
  for (const kind of ['Backup', 'Restore', 'DatabaseBackup', 'BackupPolicy']) {
    for (const o of world.all(kind) as KubeObject[]) {
      const at = `${kind}/${o.metadata.name}`;
      times(o.status, `${at}.status`, out);
      times(o.spec?.scheduledTime, `${at}.spec.scheduledTime`, out);
      times(o.metadata.annotations, `${at}.metadata.annotations`, out);
    }
  }
  return out;
}

test('every time the functions write into statuses, specs and annotations is a metav1.Time (whole seconds, Z)', async (t) => {
  const run = await simulate({
    policies: [
      { name: 'alpha', schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid', keepLast: 1 },
      { name: 'beta', schedule: '*/7 * * * *', concurrencyPolicy: 'Replace' },
    ],
    minutes: 16,
    failSeed: 3,
    setup: (w, minute) => {
      if (minute !== 0) return;
      w.put('PersistentVolumeClaim', {
        apiVersion: 'v1',
        metadata: { name: 'data', namespace: 'default', labels: { app: 'web' } },
        spec: {},
      });
      w.put('PersistentVolumeClaim', {
        apiVersion: 'v1',
        metadata: { name: 'backup-store', namespace: 'default' },
        spec: {},
      });
      w.put('PersistentVolumeClaim', {
        apiVersion: 'v1',
        metadata: { name: 'scratch', namespace: 'default' },
        spec: {},
      });
      const vols = backupPolicy('vols', {
        schedule: '*/4 * * * *',
        verification: {
          schedule: '*/6 * * * *',
          target: { pvc: { claimName: 'scratch' } },
          checks: [{ name: 'file', file: 'x' }],
        },
      });
      w.put('BackupPolicy', { ...vols, metadata: { name: 'vols', namespace: 'default' } });
    },
  });
  t.deepEqual(run.errors, []);
  const found = written(run.world);
  // The history reached what it is meant to check.
  for (const want of [
    /^Backup\/.*\.spec\.scheduledTime$/,
    /\.status\.completionTime$/,
    /\.status\.startTime$/,
    /\.status\.nextScheduledBackup$/,
    /\.status\.lastScheduleTime$/,
    /\.status\.lastSuccessfulTime$/,
    /\.status\.conditions\[\d+\]\.lastTransitionTime$/,
    /\.status\.lastVerification\.time$/,
    /^Restore\/.*\.metadata\.annotations\.backup\.cairn\.dev\/scheduled-time$/,
  ])
    t.true(
      found.some(([p]) => want.test(p)),
      `nothing written at ${want}`,
    );
  t.deepEqual(
    found.filter(([, v]) => !METAV1_TIME.test(v)).map(([p, v]) => `${p} = ${v}`),
    [],
  );
});
