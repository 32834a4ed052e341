/**
 * Security (issue 9), the parts that need no cluster:
 * - every Job pod the functions build passes the Pod Security "restricted" profile, for every
 *   source kind and destination (job-launcher), every restore target (restore-runner) and the
 *   artifact-deleting Job (retention-pruner);
 * - each function's RBAC in eventing/base/rbac.yaml is what it uses: the verbs and resources are
 *   derived from the requests each function's client makes while the real planners run a history
 *   that reaches every path (schedules, selectors, PVCs, retention, restores, a Job deleted by hand);
 * - no function may read a Secret, not even to see that it exists (issue 15.7): a missing one
 *   surfaces from the Pod (CreateContainerConfigError).
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { type LaunchState, decide as launch } from '../../functions/job-launcher/decide.ts';
import { type RestoreState, decide as restoreDecide } from '../../functions/restore-runner/decide.ts';
import { decide as prune } from '../../functions/retention-pruner/decide.ts';
import { REPO_ROOT } from '../../local/runtime.ts';
import { API_VERSION, type BackupPolicy, type DatabaseBackup, type Restore } from '../../shared/api/index.ts';
import { type KubeObject, RESOURCES } from '../../shared/kube.ts';
import { ARTIFACT_FINALIZER } from '../../shared/labels.ts';
import type { Action, Plan } from '../../shared/plan.ts';
import { backup, backupPolicy, databaseBackup } from '../builders.ts';
import { simulate } from './simulate.ts';
import type { World } from './world.ts';

// ---------------------------------------------------------------------------------------------
// Pod Security Standards, "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)

// biome-ignore lint/suspicious/noExplicitAny: pod specs are checked field by field, untyped.
type Any = any;
const RESTRICTED_VOLUMES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];

/** The violations of the restricted profile (which includes baseline), one line each. */
function restrictedViolations(pod: Any): string[] {
  const out: string[] = [];
  const psc = pod.securityContext ?? {};
  const containers: Any[] = [
    ...(pod.initContainers ?? []),
    ...(pod.containers ?? []),
    ...(pod.ephemeralContainers ?? []),
  ];
  // Baseline: host namespaces, host ports, hostPath, privileged, capabilities, /proc, sysctls, SELinux, AppArmor.
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push('baseline: host namespaces must not be shared');
  if (psc.windowsOptions?.hostProcess) out.push('baseline: hostProcess');
  for (const s of psc.sysctls ?? [])
    if (!SAFE_SYSCTLS.includes(s.name)) out.push(`baseline: unsafe sysctl ${s.name}`);
  const seLinux = (o: Any) =>
    o?.seLinuxOptions?.type &&
    !['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'].includes(
      o.seLinuxOptions.type,
    );
  if (seLinux(psc)) out.push('baseline: SELinux type');
  if (psc.appArmorProfile?.type === 'Unconfined') out.push('baseline: AppArmor Unconfined');
  // Restricted: volume types, non-root, seccomp.
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUMES.includes(type)) out.push(`restricted: volume ${v.name} of type ${type}`);
  }
  if (psc.runAsUser === 0) out.push('restricted: pod runAsUser 0');
  if (psc.seccompProfile && !['RuntimeDefault', 'Localhost'].includes(psc.seccompProfile.type))
    out.push('restricted: pod seccomp');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const at = `container ${c.name}`;
    if (sc.privileged) out.push(`baseline: ${at} privileged`);
    if (sc.windowsOptions?.hostProcess) out.push(`baseline: ${at} hostProcess`);
    if ((c.ports ?? []).some((p: Any) => p.hostPort)) out.push(`baseline: ${at} hostPort`);
    if (sc.procMount && sc.procMount !== 'Default') out.push(`baseline: ${at} procMount`);
    if (seLinux(sc)) out.push(`baseline: ${at} SELinux type`);
    if (sc.appArmorProfile?.type === 'Unconfined') out.push(`baseline: ${at} AppArmor Unconfined`);
    if (sc.allowPrivilegeEscalation !== false)
      out.push(`restricted: ${at} allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot === true || (psc.runAsNonRoot === true && sc.runAsNonRoot !== false)))
      out.push(`restricted: ${at} runAsNonRoot must be true`);
    if (sc.runAsUser === 0) out.push(`restricted: ${at} runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp))
      out.push(`restricted: ${at} seccomp must be RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL'))
      out.push(`restricted: ${at} must drop ALL capabilities`);
    for (const add of sc.capabilities?.add ?? [])
      if (add !== 'NET_BIND_SERVICE') out.push(`restricted: ${at} adds ${add}`);
  }
  return out;
}

const podOf = (plan: Plan): Any => {
  const c = plan.find(
    (a): a is Extract<Action, { type: 'create' }> => a.type === 'create' && a.kind === 'Job',
  );
  return c?.object.spec.template.spec;
};

const now = new Date('2025-03-20T01:00:05Z');
const dbRef = { kind: 'DatabaseBackup' as const, name: 'pg-nightly' };
const bpRef = { kind: 'BackupPolicy' as const, name: 'volumes' };
const launchState = (over: Partial<LaunchState>): LaunchState => ({
  backup: backup('pg-nightly-202503200100', dbRef),
  policy: databaseBackup(),
  endpoints: [],
  claims: { 'backup-store': true },
  selectedClaims: ['data', 'logs'],
  ...over,
});
const DESTINATIONS: DatabaseBackup['spec']['storageDestination'][] = [
  { type: 's3', bucket: 'bkt', secretName: 's3' },
  { type: 'gcs', bucket: 'bkt', secretName: 'gcs' },
  { type: 'gcs', bucket: 'bkt' },
  { type: 'pvc', claimName: 'backup-store' },
];
const completed = {
  phase: 'Completed' as const,
  manifestKey: 'm.json',
  key: 'a.zst',
  sha256: 'b'.repeat(64),
};
const restore = (target: Restore['spec']['target'], ref = 'volumes-1'): Restore => ({
  apiVersion: API_VERSION,
  kind: 'Restore',
  metadata: { name: 'r1', namespace: 'default', uid: 'uid-r1' },
  spec: { backupRef: { name: ref }, target },
});

const pods: [string, () => Plan][] = [
  ...(['postgres', 'mysql', 'mariadb'] as const).flatMap((type) =>
    DESTINATIONS.map((dest): [string, () => Plan] => [
      `job-launcher: ${type} to ${dest.type}${dest.secretName ? ' with a key' : ''}`,
      () =>
        launch(
          launchState({
            policy: databaseBackup('pg-nightly', {
              databaseType: type,
              storageDestination: dest,
              ...(type === 'postgres' ? {} : { database: { host: 'db', name: 'app', user: 'u' } }),
            }),
          }),
          now,
        ),
    ]),
  ),
  ...(['tar', 'custom'] as const).map((strategy): [string, () => Plan] => [
    `job-launcher: BackupPolicy ${strategy}`,
    () =>
      launch(
        launchState({
          backup: backup('volumes-202503200100', bpRef),
          policy: backupPolicy('volumes', {
            backupStrategy: strategy,
            ...(strategy === 'custom' ? { command: ['exporter', '--all'] } : {}),
          }),
        }),
        now,
      ),
  ]),
  [
    'restore-runner: into a PVC',
    () =>
      restoreDecide(
        {
          restore: restore({ pvc: { claimName: 'data' } }),
          backup: backup('volumes-1', bpRef, completed),
          policy: backupPolicy(),
          claims: { data: true, 'backup-store': true },
        } satisfies RestoreState,
        now,
      ),
  ],
  [
    'restore-runner: into a database',
    () =>
      restoreDecide(
        {
          restore: restore(
            {
              database: {
                host: 'pg',
                name: 'app',
                user: 'u',
                passwordSecretRef: { name: 'pg', key: 'password' },
              },
            },
            'pg-1',
          ),
          backup: backup('pg-1', dbRef, {
            ...completed,
            destination: { type: 's3', bucket: 'bkt', secretName: 's3' },
          }),
          policy: databaseBackup(),
          claims: {},
        },
        now,
      ),
  ],
  [
    'retention-pruner: the Job that deletes artifacts',
    () =>
      prune(
        {
          kind: 'DatabaseBackup',
          name: 'pg-nightly',
          namespace: 'default',
          policy: databaseBackup(),
          backups: [
            backup(
              'pg-1',
              dbRef,
              { ...completed, destination: { type: 's3', bucket: 'bkt', secretName: 's3' } },
              { deletionTimestamp: '2025-03-20T01:00:00Z', finalizers: [ARTIFACT_FINALIZER] },
            ),
          ],
          jobs: [],
          restores: [],
        },
        now,
      ),
  ],
];

for (const [title, plan] of pods) {
  test(`the pod passes Pod Security "restricted": ${title}`, (t) => {
    const pod = podOf(plan());
    t.truthy(pod, 'a Job is planned');
    t.deepEqual(restrictedViolations(pod), []);
    t.false(pod.automountServiceAccountToken ?? true, 'no API token in the pod');
  });
}

test('the restricted check itself refuses what the profile refuses', (t) => {
  const good = podOf(pods[0]?.[1]() ?? []);
  const bad = structuredClone(good);
  bad.hostNetwork = true;
  bad.volumes = [...(bad.volumes ?? []), { name: 'host', hostPath: { path: '/' } }];
  bad.containers[0].securityContext = {
    ...bad.containers[0].securityContext,
    allowPrivilegeEscalation: true,
    capabilities: { add: ['SYS_ADMIN'] },
  };
  const v = restrictedViolations(bad);
  for (const want of [
    /host namespaces/,
    /volume host of type hostPath/,
    /allowPrivilegeEscalation/,
    /drop ALL/,
    /adds SYS_ADMIN/,
  ])
    t.true(
      v.some((x) => want.test(x)),
      `${want}: ${v.join('; ')}`,
    );
});

// ---------------------------------------------------------------------------------------------
// RBAC: derived from what each function does, compared with eventing/base/rbac.yaml

const NS = 'default';
const put = (
  w: World,
  kind: string,
  obj: Omit<KubeObject, 'metadata'> & { metadata: { name: string } & Record<string, unknown> },
) => w.put(kind, { ...obj, metadata: { namespace: NS, ...obj.metadata } } as KubeObject);

/** A history that takes every function down each of its paths. */
function everything(w: World, minute: number): void {
  if (minute === 0) {
    put(w, 'Secret', { apiVersion: 'v1', metadata: { name: 'pg' }, stringData: { password: 'x' } });
    put(w, 'Secret', { apiVersion: 'v1', metadata: { name: 's3' }, stringData: { AWS_ACCESS_KEY_ID: 'a' } });
    put(w, 'Service', {
      apiVersion: 'v1',
      metadata: { name: 'pg', labels: { app: 'pg' } },
      spec: { ports: [{ port: 5432 }] },
    });
    put(w, 'PersistentVolumeClaim', {
      apiVersion: 'v1',
      metadata: { name: 'data', labels: { app: 'web' } },
      spec: {},
    });
    put(w, 'PersistentVolumeClaim', { apiVersion: 'v1', metadata: { name: 'backup-store' }, spec: {} });
    put(w, 'PersistentVolumeClaim', { apiVersion: 'v1', metadata: { name: 'restore-here' }, spec: {} });
    const db: DatabaseBackup = databaseBackup('pg', {
      schedule: '*/5 * * * *',
      database: { host: 'pg', name: 'app', user: 'u', passwordSecretRef: { name: 'pg', key: 'password' } },
      storageDestination: { type: 's3', bucket: 'bkt', secretName: 's3' },
      retention: { keepLast: 1 },
      successfulJobsHistoryLimit: 1,
      verification: { everyNthBackup: 1, checks: [{ name: 'rows', sql: 'select 1', expect: '1' }] },
    });
    put(w, 'DatabaseBackup', { ...db, metadata: { name: 'pg' } });
    const sel = databaseBackup('by-label', {
      schedule: '*/5 * * * *',
      database: { name: 'app', user: 'u' },
      databaseSelector: { matchLabels: { app: 'pg' } },
    });
    put(w, 'DatabaseBackup', { ...sel, metadata: { name: 'by-label' } });
    const vols: BackupPolicy = backupPolicy('vols', {
      schedule: '*/5 * * * *',
      retentionCount: 1,
      verification: {
        schedule: '*/5 * * * *',
        target: { pvc: { claimName: 'restore-here' } },
        checks: [{ name: 'file', file: 'x' }],
      },
    });
    put(w, 'BackupPolicy', { ...vols, metadata: { name: 'vols' } });
    put(w, 'Pod', { apiVersion: 'v1', metadata: { name: 'pg-0', labels: { app: 'pgpod' } }, spec: {} });
    w.setStatus(w.find('Pod', NS, 'pg-0') as KubeObject, { phase: 'Running', podIP: '10.0.0.7' });
    const byPod = databaseBackup('by-pod', {
      schedule: '*/5 * * * *',
      database: { name: 'app', user: 'u' },
      databaseSelector: { matchLabels: { app: 'pgpod' } },
    });
    put(w, 'DatabaseBackup', { ...byPod, metadata: { name: 'by-pod' } });
    // backupStrategy snapshot: VolumeSnapshots instead of Jobs, a Restore from one, retention.
    put(w, 'PersistentVolumeClaim', {
      apiVersion: 'v1',
      metadata: { name: 'db-0', labels: { app: 'db' } },
      spec: {},
    });
    const snaps: BackupPolicy = backupPolicy('snaps', {
      schedule: '*/5 * * * *',
      pvcSelector: { matchLabels: { app: 'db' } },
      backupStrategy: 'snapshot',
      retentionCount: 1,
    });
    put(w, 'BackupPolicy', { ...snaps, metadata: { name: 'snaps' } });
    const rep = databaseBackup('rep', { schedule: '*/5 * * * *', concurrencyPolicy: 'Replace' });
    put(w, 'DatabaseBackup', { ...rep, metadata: { name: 'rep' } });
    // A Backup made by hand (gets its policy's labels), and one of a policy that does not exist.
    put(w, 'Backup', {
      apiVersion: API_VERSION,
      metadata: { name: 'by-hand' },
      spec: { policyRef: { kind: 'DatabaseBackup', name: 'pg' } },
    });
    put(w, 'Backup', {
      apiVersion: API_VERSION,
      metadata: { name: 'orphan' },
      spec: { policyRef: { kind: 'BackupPolicy', name: 'gone' } },
    });
  }
  if (minute === 3) {
    // A Backup whose Pod can never start (an image name kubelet refuses): job-watcher stops its Job.
    const labels = {
      ...backup('stuck', { kind: 'DatabaseBackup', name: 'pg' }).metadata.labels,
      'job-name': 'stuck',
    };
    put(w, 'Backup', {
      apiVersion: API_VERSION,
      metadata: { name: 'stuck', labels },
      spec: { policyRef: { kind: 'DatabaseBackup', name: 'pg' } },
    });
    w.setStatus(w.find('Backup', NS, 'stuck') as KubeObject, { phase: 'Pending', jobName: 'stuck' });
    put(w, 'Job', { apiVersion: 'batch/v1', metadata: { name: 'stuck', labels }, spec: {} });
    w.setStatus(w.find('Job', NS, 'stuck') as KubeObject, { startTime: '2030-01-01T00:03:30Z', active: 1 });
    put(w, 'Pod', { apiVersion: 'v1', metadata: { name: 'stuck-pod', labels }, spec: {} });
    w.setStatus(w.find('Pod', NS, 'stuck-pod') as KubeObject, {
      phase: 'Pending',
      containerStatuses: [
        { name: 'agent', state: { waiting: { reason: 'InvalidImageName', message: 'x' } } },
      ],
    });
  }
  if (minute === 5) {
    // Still running when the next run of a Replace policy is due.
    put(w, 'Backup', {
      apiVersion: API_VERSION,
      metadata: { name: 'rep-held', labels: { 'backup.cairn.dev/policy': 'rep' } },
      spec: { policyRef: { kind: 'DatabaseBackup', name: 'rep' } },
    });
    w.setStatus(w.find('Backup', NS, 'rep-held') as KubeObject, { phase: 'Running', jobName: 'rep-held' });
  }
  if (minute === 7) {
    put(w, 'Restore', {
      apiVersion: API_VERSION,
      metadata: { name: 'vols-back' },
      spec: { backupRef: { name: 'vols-203001010005' }, target: { pvc: { claimName: 'restore-here' } } },
    });
    put(w, 'Restore', {
      apiVersion: API_VERSION,
      metadata: { name: 'pg-back' },
      spec: {
        backupRef: { name: 'pg-203001010005' },
        target: {
          database: {
            host: 'pg',
            name: 'copy',
            user: 'u',
            passwordSecretRef: { name: 'pg', key: 'password' },
          },
        },
      },
    });
  }
  // The CSI snapshot controller and provisioner: snapshots are taken, claims from them are filled.
  for (const v of w.all('VolumeSnapshot'))
    if (!v.status)
      w.setStatus(v, { readyToUse: true, restoreSize: '1Gi', creationTime: '2030-01-01T00:00:00Z' });
  for (const c of w.all('PersistentVolumeClaim'))
    if (c.spec?.dataSource && !c.status) w.setStatus(c, { phase: 'Bound', capacity: { storage: '1Gi' } });
  if (minute === 7) {
    put(w, 'Restore', {
      apiVersion: API_VERSION,
      metadata: { name: 'snaps-back' },
      spec: { backupRef: { name: 'snaps-203001010005' }, target: { pvc: { claimName: 'snap-restored' } } },
    });
  }
  if (minute === 9) {
    // Kept when retention deletes it: its VolumeSnapshot stays, no longer owned by it.
    w.updateSpec('Backup', NS, 'snaps-203001010005', { deletionPolicy: 'Retain' });
  }
  if (minute === 10) {
    // A person deletes the running Job of a Backup.
    const job = w.find('Job', NS, 'by-label-203001010010');
    if (job) w.remove('Job', NS, job.metadata.name);
  }
  if (minute === 11) {
    // A person deletes a Backup whose Job still runs: its run is stopped before its artifact goes.
    w.remove('Backup', NS, 'rep-203001010010');
  }
}

interface Grant {
  group: string;
  resource: string;
  verb: string;
}
const key = (g: Grant) => `${g.group || 'core'}/${g.resource}:${g.verb}`;

/** KubeClient's requests ("verb Kind") as RBAC needs them. */
function grantsOf(requests: Map<string, number>): Set<string> {
  const out = new Set<string>();
  for (const k of requests.keys()) {
    const [verb = '', kind = ''] = k.split(' ');
    const r = RESOURCES[kind];
    if (!r) throw new Error(`unknown kind ${kind}`);
    if (verb === 'updateStatus')
      out.add(key({ group: r.group, resource: `${r.plural}/status`, verb: 'update' }));
    else out.add(key({ group: r.group, resource: r.plural, verb }));
    // KubeClient.create reads the object an AlreadyExists names, and recordEvent bumps a repeat's count.
    if (verb === 'create') out.add(key({ group: r.group, resource: r.plural, verb: 'get' }));
    if (verb === 'create' && kind === 'Event') out.add(key({ group: '', resource: 'events', verb: 'patch' }));
  }
  return out;
}

async function rbacOf(file = 'eventing/base/rbac.yaml'): Promise<Record<string, Set<string>>> {
  const text = await readFile(`${REPO_ROOT}${file}`, 'utf8');
  const out: Record<string, Set<string>> = {};
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as {
      kind?: string;
      metadata: { name: string };
      rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    if (o?.kind !== 'ClusterRole' && o?.kind !== 'Role') continue;
    const set = new Set<string>();
    for (const r of o.rules ?? [])
      for (const group of r.apiGroups)
        for (const resource of r.resources)
          for (const verb of r.verbs) set.add(key({ group, resource, verb }));
    out[o.metadata.name.replace(/^cairn-/, '')] = set;
  }
  return out;
}

test("each function's RBAC is exactly what it uses: nothing used is missing, nothing granted is unused", async (t) => {
  const run = await simulate({ policies: [], minutes: 16, failSeed: 7, setup: everything });
  t.deepEqual(run.errors, []);
  // The history reached the paths it is meant to reach.
  const w = run.world;
  t.truthy(
    w.writes.some((x) => x.kind === 'Job' && x.created && x.name.includes('prune')),
    'a prune Job ran',
  );
  t.is(w.find('Backup', NS, 'orphan')?.status?.reason, 'PolicyNotFound');
  t.truthy(w.find('Restore', NS, 'vols-back')?.status?.phase);
  t.truthy(w.find('Restore', NS, 'pg-back')?.status?.phase);
  t.is(w.find('Restore', NS, 'snaps-back')?.status?.phase, 'Completed', 'a snapshot Restore completed');
  t.truthy(w.find('VolumeSnapshot', NS, 'snaps-203001010005-db-0'), 'the retained snapshot stays');
  t.true(
    w.writes.some((x) => x.verb === 'delete' && x.kind === 'VolumeSnapshot'),
    'retention deleted the snapshots of an expired Backup',
  );
  t.falsy(w.find('Backup', NS, 'rep-held'), 'Replace deleted the running Backup');
  t.true(
    w.writes.some((x) => x.verb === 'patch' && x.kind === 'Job' && x.name === 'rep-203001010010'),
    'the Job of a Backup deleted while running was stopped',
  );
  t.falsy(w.find('Backup', NS, 'rep-203001010010'), 'and the Backup went once its artifact was deleted');
  t.true(
    w.writes.some((x) => x.verb === 'delete' && x.kind === 'Job' && x.name === 'stuck'),
    'the Job of a Backup whose Pod can never start was stopped',
  );
  t.true(
    w.all('Restore').some((r) => r.spec.purpose === 'verification'),
    'verifications were started',
  );
  const rbac = await rbacOf();
  const report: string[] = [];
  for (const [fn, requests] of Object.entries(run.requests)) {
    const used = grantsOf(requests);
    const granted = rbac[fn] ?? new Set<string>();
    const missing = [...used].filter((g) => !granted.has(g)).sort();
    const unused = [...granted].filter((g) => !used.has(g)).sort();
    if (missing.length) report.push(`${fn} uses but is not granted: ${missing.join(', ')}`);
    if (unused.length) report.push(`${fn} is granted but does not use: ${unused.join(', ')}`);
  }
  t.deepEqual(report, []);
});

test('no function may read a Secret: no ClusterRole of a function grants anything on secrets', async (t) => {
  const rbac = await rbacOf();
  for (const fn of [
    'schedule-evaluator',
    'job-launcher',
    'job-watcher',
    'retention-pruner',
    'restore-runner',
  ]) {
    t.truthy(rbac[fn], `${fn} has a ClusterRole`);
    t.deepEqual(
      [...(rbac[fn] ?? [])].filter((g) => g.startsWith('core/secrets')),
      [],
      fn,
    );
  }
  // The all-in-one Service is bound to the same roles and no other.
  const text = await readFile(`${REPO_ROOT}eventing/all-in-one/rbac.yaml`, 'utf8');
  t.false(/secrets/.test(text));
});
