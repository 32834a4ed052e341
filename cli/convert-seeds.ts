/**
 * What `cairn convert` knows of the seed systems' kinds (shared/seeds/000–004): how each maps to
 * Cairn's API, and a note for every choice made and every field left behind. Pure: a manifest in,
 * a Cairn object and its notes out. docs/from-00*.md say the same in prose.
 */
import { API_VERSION } from '../shared/api/index.ts';

export type Json = Record<string, unknown>;

/** A note on the output: `path` (into the object) puts it beside that field, else in the header. */
export interface Note {
  path?: (string | number)[];
  text: string;
}

export interface Mapped {
  obj: Json;
  notes: Note[];
  /** Things the user must do before the output runs (also printed on stderr). */
  todo: string[];
}

/** `v` if it is a JSON object, else an empty one. */
export const rec = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Seed 001 re-ran a backup each time its reconcile requeued: every 5 minutes. */
const SEED_001_SCHEDULE = '*/5 * * * *';
/** Seed 002's kubebuilder default for retentionCount. */
const SEED_002_RETENTION_COUNT = 7;
/** Seed 002 wrote every archive to this claim, mounted at /backup. */
const SEED_002_CLAIM = 'backup-storage';

export interface SeedKind {
  /** Which seed system, for the header note. */
  seed: string;
  matches(apiVersion: string, kind: string, spec: Json): boolean;
  map(src: Json, opts: { schedule?: string | undefined; namespace?: string | undefined }): Mapped;
}

/** The API group of an apiVersion: '' for the core group (`v1`). */
export const groupOf = (apiVersion: string) =>
  apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
const foreign = (apiVersion: string) =>
  groupOf(apiVersion) !== 'backup.cairn.dev' && groupOf(apiVersion).includes('.');

function meta(src: Json, namespace: string | undefined): Json {
  const m = rec(src.metadata);
  const out: Json = { name: m.name };
  const ns = namespace ?? str(m.namespace);
  if (ns) out.namespace = ns;
  if (m.labels) out.labels = m.labels;
  if (m.annotations) out.annotations = m.annotations;
  return out;
}

function scheduleNote(spec: Json, notes: Note[]): void {
  if (!spec.timeZone)
    notes.push({
      path: ['spec', 'schedule'],
      text: "evaluated in UTC (the seed used its controller process's clock); set spec.timeZone for another zone",
    });
}

/** Seed 000 (and 004): DatabaseBackup of db.example.io — the same kind and field names. */
const seed000: SeedKind = {
  seed: 'seed 000 (DatabaseBackup Controller, db.example.io)',
  matches: (apiVersion, kind) => kind === 'DatabaseBackup' && foreign(apiVersion),
  map(src, opts) {
    const spec = { ...rec(src.spec) };
    const notes: Note[] = [
      { text: `apiVersion ${String(src.apiVersion)} → ${API_VERSION}; kind and field names are the same` },
    ];
    const todo: string[] = [];
    scheduleNote(spec, notes);
    if (spec.databaseSelector && !rec(spec.database).host) {
      notes.push({
        path: ['spec', 'databaseSelector'],
        text: "credentials: job-launcher reads POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD (the MySQL/MariaDB images' variables for those) from the Pod this selects, a Secret-held password as a secretKeyRef; the Backup's ConnectionResolved condition says what it found. spec.database overrides",
      });
    }
    const dest = rec(spec.storageDestination);
    if (dest.type === 's3') {
      notes.push({
        path: ['spec', 'storageDestination', 'type'],
        text: 'artifacts: <path>/<name>/<yyyymmddThhmmssZ>.dump.zst (pg_dump custom format, zstd) and a .manifest.json beside it; S3-compatible stores add endpoint',
      });
      if (dest.secretName)
        notes.push({
          path: ['spec', 'storageDestination', 'secretName'],
          text: 'same Secret keys as the seed: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY',
        });
    }
    if (spec.backupRetention !== undefined)
      notes.push({
        path: ['spec', 'backupRetention'],
        text: 'hours, as in the seed: older completed Backups and their artifacts are deleted',
      });
    return {
      obj: { apiVersion: API_VERSION, kind: 'DatabaseBackup', metadata: meta(src, opts.namespace), spec },
      notes,
      todo,
    };
  },
};

/** Seed 001: BackupDatabaseSchema of backup.csyeteam03.xyz — one schema to GCS, Workload Identity. */
const seed001: SeedKind = {
  seed: 'seed 001 (Database Backup Operator, BackupDatabaseSchema)',
  matches: (_a, kind) => kind === 'BackupDatabaseSchema',
  map(src, opts) {
    const s = rec(src.spec);
    const m = rec(src.metadata);
    const notes: Note[] = [
      {
        text: `${String(src.apiVersion)} BackupDatabaseSchema → ${API_VERSION} DatabaseBackup: dbHost/dbPort/dbName/dbUser/dbSchema → spec.database, dbPassword* → passwordSecretRef, gcsBucket → storageDestination, kubeServiceAccount → serviceAccountName`,
      },
      {
        text: "status: status (Running/Success/Failed) → status.lastBackupStatus (Running/Succeeded/Failed) and each Backup's phase; backupLocation → the Backup's status.location (gs://…); lastBackupTime → status.lastScheduleTime; jobName → status.activeBackupJob and the Backup's status.jobName",
      },
    ];
    const todo: string[] = [];
    const jobNs = str(s.backupJobNamespace);
    const namespace = opts.namespace ?? jobNs ?? str(m.namespace);
    if (jobNs && jobNs !== str(m.namespace))
      notes.push({
        text: `namespace ${namespace}: the seed's backupJobNamespace; Cairn runs a DatabaseBackup's Jobs in its own namespace`,
      });
    else if (jobNs)
      notes.push({
        text: "backupJobNamespace: not a field: Jobs run in the DatabaseBackup's namespace, which is the same",
      });
    const database: Json = {};
    if (s.dbHost !== undefined) database.host = s.dbHost;
    if (s.dbPort !== undefined) database.port = s.dbPort;
    if (s.dbName !== undefined) database.name = s.dbName;
    if (s.dbUser !== undefined) database.user = s.dbUser;
    if (s.dbPasswordSecretName !== undefined)
      database.passwordSecretRef = {
        name: s.dbPasswordSecretName,
        key: str(s.dbPasswordSecretKey) ?? 'password',
      };
    if (s.dbSchema !== undefined) database.schemas = [s.dbSchema];
    const secretNs = str(s.dbPasswordSecretNamespace);
    if (secretNs && secretNs !== namespace) {
      todo.push(
        `copy Secret ${secretNs}/${String(s.dbPasswordSecretName)} into namespace ${namespace}: Cairn never reads Secrets of another namespace`,
      );
      notes.push({
        path: ['spec', 'database', 'passwordSecretRef', 'name'],
        text: `in ${namespace}; the seed read it from ${secretNs} (copy it)`,
      });
    } else if (secretNs) {
      notes.push({
        path: ['spec', 'database', 'passwordSecretRef', 'name'],
        text: "dbPasswordSecretNamespace dropped: Secrets are read from the DatabaseBackup's own namespace, which is the same",
      });
    }
    const spec: Json = {
      databaseType: 'postgres',
      schedule: opts.schedule ?? SEED_001_SCHEDULE,
      database,
      format: 'plain',
      compression: 'none',
      storageDestination: { type: 'gcs', bucket: s.gcsBucket, path: 'backups' },
      ...(s.kubeServiceAccount !== undefined ? { serviceAccountName: s.kubeServiceAccount } : {}),
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 1,
    };
    notes.push({
      path: ['spec', 'schedule'],
      text: opts.schedule
        ? 'from --schedule (the seed had no schedule)'
        : 'chosen: the seed had no schedule and re-ran every 5 minutes (its reconcile requeued after 5m); change it, e.g. "0 * * * *" for hourly',
    });
    notes.push({
      path: ['spec', 'format'],
      text: 'pg_dump plain SQL, as the seed wrote (psql restores it); custom lets pg_restore pick objects',
    });
    notes.push({ path: ['spec', 'compression'], text: "none: .sql files like the seed's; zstd saves space" });
    notes.push({
      path: ['spec', 'storageDestination', 'path'],
      text: 'the seed wrote gs://<bucket>/backups/backup-YYYYMMDD-HHMMSS.sql; Cairn writes gs://<bucket>/backups/<name>/<yyyymmddThhmmssZ>.sql and a .manifest.json (size, sha256) beside it',
    });
    if (s.gcpServiceAccount !== undefined) {
      todo.push(
        `annotate ServiceAccount ${String(s.kubeServiceAccount ?? 'default')} in ${namespace} with iam.gke.io/gcp-service-account: ${String(s.gcpServiceAccount)}@<project>.iam.gserviceaccount.com (GKE Workload Identity)`,
      );
      notes.push({
        path: ['spec', 'serviceAccountName'],
        text: `gcpServiceAccount ${String(s.gcpServiceAccount)} is not a field: bind it on this ServiceAccount with the annotation iam.gke.io/gcp-service-account (Workload Identity)`,
      });
    }
    if (s.kubeServiceAccount !== undefined) {
      todo.push(
        `ask the cluster admin to allow ServiceAccount ${namespace}/${String(s.kubeServiceAccount)} for Cairn's Jobs (CAIRN_ALLOWED_SERVICE_ACCOUNTS on the functions); until then the policy is Ready=False, ServiceAccountNotAllowed`,
      );
    }
    notes.push({
      path: ['spec', 'successfulJobsHistoryLimit'],
      text: 'the seed deleted finished Jobs; Cairn keeps the last one of each outcome for its log',
    });
    notes.push({
      text: 'retention: none, like the seed (every backup is kept); set retention.keepLast or backupRetention (hours)',
    });
    notes.push({ text: 'retries: backoffLimit 2 (the seed retried failed backups on its next reconcile)' });
    return {
      obj: {
        apiVersion: API_VERSION,
        kind: 'DatabaseBackup',
        metadata: meta({ metadata: { ...m, namespace } }, undefined),
        spec,
      },
      notes,
      todo,
    };
  },
};

/** Seed 002: BackupPolicy of backup.example.com (the StatefulSet Backup Operator tutorial). */
const seed002: SeedKind = {
  seed: 'seed 002 (StatefulSet Backup Operator, BackupPolicy)',
  matches: (apiVersion, kind, spec) =>
    kind === 'BackupPolicy' && foreign(apiVersion) && spec.retention === undefined,
  map(src, opts) {
    const s = rec(src.spec);
    const notes: Note[] = [
      { text: `apiVersion ${String(src.apiVersion)} → ${API_VERSION}; field names are the same` },
    ];
    const todo: string[] = [];
    const spec: Json = { ...s };
    scheduleNote(spec, notes);
    const strategy = str(s.backupStrategy);
    if (strategy === undefined) {
      spec.backupStrategy = 'tar';
      notes.push({ path: ['spec', 'backupStrategy'], text: "the seed's default" });
    } else if (strategy === 'custom') {
      spec.backupStrategy = 'tar';
      notes.push({
        path: ['spec', 'backupStrategy'],
        text: "was custom, which the seed ran as tar (its command had no custom branch); Cairn's custom needs spec.command",
      });
    } else if (strategy === 'snapshot') {
      notes.push({
        path: ['spec', 'backupStrategy'],
        text: "CSI VolumeSnapshots of the class spec.volumeSnapshotClassName, else the cluster's default class",
      });
    }
    if (s.retentionCount === undefined) {
      spec.retentionCount = SEED_002_RETENTION_COUNT;
      notes.push({ path: ['spec', 'retentionCount'], text: "the seed's default, written out" });
    }
    const image = str(s.backupImage);
    if (image === undefined || !/cairn-agent/.test(image)) {
      delete spec.backupImage;
      notes.push({
        text: `backupImage ${image ?? "busybox:latest (the seed's default)"} not carried over: Cairn's Jobs run its agent image (set backupImage only to your registry's copy of it)`,
      });
    }
    if (spec.backupStrategy !== 'snapshot') {
      spec.storageDestination = { type: 'pvc', claimName: SEED_002_CLAIM };
      spec.compression = 'gzip';
      notes.push({
        path: ['spec', 'storageDestination', 'claimName'],
        text: 'the claim the seed mounted at /backup; one archive per run, a folder per claim (the seed: one <pvc>-<time>.tar.gz per claim)',
      });
      notes.push({ path: ['spec', 'compression'], text: 'tar.gz as the seed wrote; zstd is faster' });
    }
    notes.push({
      text: 'Jobs are labelled backup.cairn.dev/policy=<name>: kubectl get backups -l backup.cairn.dev/policy=<name> (the seed: kubectl get jobs -l backup-policy=<name>)',
    });
    return {
      obj: { apiVersion: API_VERSION, kind: 'BackupPolicy', metadata: meta(src, opts.namespace), spec },
      notes,
      todo,
    };
  },
};

/** Seed 003: BackupPolicy (schedule, retention.keepLast), Backup, Restore of its own group. */
const seed003Policy: SeedKind = {
  seed: 'seed 003 (Backup & Restore Operator, BackupPolicy)',
  matches: (apiVersion, kind, spec) =>
    kind === 'BackupPolicy' && foreign(apiVersion) && spec.retention !== undefined,
  map(src, opts) {
    const spec: Json = { ...rec(src.spec) };
    const notes: Note[] = [
      {
        text: `apiVersion ${String(src.apiVersion)} → ${API_VERSION}; schedule and retention.keepLast are the same`,
      },
    ];
    scheduleNote(spec, notes);
    if (spec.storageDestination === undefined) {
      notes.push({
        text: 'no storageDestination: Cairn writes to the PVC cairn-backups of the namespace (the seed: its shared storage)',
      });
    }
    if (spec.compression === undefined) {
      spec.compression = 'gzip';
      notes.push({ path: ['spec', 'compression'], text: 'tar.gz as the seed wrote' });
    }
    return {
      obj: { apiVersion: API_VERSION, kind: 'BackupPolicy', metadata: meta(src, opts.namespace), spec },
      notes,
      todo: [],
    };
  },
};

const seed003Backup: SeedKind = {
  seed: 'seed 003 (Backup & Restore Operator, Backup)',
  matches: (apiVersion, kind) => kind === 'Backup' && foreign(apiVersion),
  map(src, opts) {
    const s = rec(src.spec);
    const name = str(rec(s.policyRef).name) ?? str(s.policyName) ?? str(s.backupPolicyName) ?? str(s.policy);
    const notes: Note[] = [
      { text: `apiVersion ${String(src.apiVersion)} → ${API_VERSION}` },
      {
        text: "a Backup made by hand: prefer `cairn backup <policy>`, which adds the policy's labels and owner up front",
      },
    ];
    return {
      obj: {
        apiVersion: API_VERSION,
        kind: 'Backup',
        metadata: meta(src, opts.namespace),
        spec: { policyRef: { kind: str(rec(s.policyRef).kind) ?? 'BackupPolicy', name } },
      },
      notes,
      todo: [],
    };
  },
};

const seed003Restore: SeedKind = {
  seed: 'seed 003 (Backup & Restore Operator, Restore)',
  matches: (apiVersion, kind) => kind === 'Restore' && foreign(apiVersion),
  map(src, opts) {
    const s = rec(src.spec);
    const backup = str(rec(s.backupRef).name) ?? str(s.backupName) ?? str(s.backup);
    const claim =
      str(rec(rec(s.target).pvc).claimName) ??
      str(s.targetPVC) ??
      str(s.targetPvc) ??
      str(s.pvcName) ??
      str(s.target);
    return {
      obj: {
        apiVersion: API_VERSION,
        kind: 'Restore',
        metadata: meta(src, opts.namespace),
        spec: { backupRef: { name: backup }, target: { pvc: { claimName: claim } } },
      },
      notes: [
        { text: `apiVersion ${String(src.apiVersion)} → ${API_VERSION}` },
        {
          text: 'apply it once its Backup is Completed: a Restore of a Backup still running fails today; a non-empty claim is refused unless spec.overwrite',
        },
      ],
      todo: [],
    };
  },
};

export const SEED_KINDS: readonly SeedKind[] = [
  seed000,
  seed001,
  seed002,
  seed003Policy,
  seed003Backup,
  seed003Restore,
];
