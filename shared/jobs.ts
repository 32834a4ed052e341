/**
 * The agent Jobs job-launcher and restore-runner create: how a resource's source, target and
 * destination become the agent's arguments, env (credentials only as secretKeyRefs) and volumes,
 * in a pod that passes the Pod Security "restricted" profile.
 */
import {
  AGENT_ENV,
  type AgentOptions,
  backupArtifactKeys,
  DEFAULT_TERMINATION_LOG,
  parseAgentArgs,
  toAgentArgs,
} from './agent-contract.ts';
import type { Encryption, Resources, RestoreDecryption, Signing, StorageDestination } from './api/index.ts';
import type { KubeObject } from './kube.ts';
import { controllerRef } from './policy.ts';
import type { StorageDestination as AgentDestination } from './storage/types.ts';

export const DEFAULT_AGENT_IMAGE = 'ghcr.io/cairn-dev/cairn-agent:0.1.0';

/** The agent image Jobs run unless a resource names another: `CAIRN_AGENT_IMAGE`, or the default. */
export function agentImage(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.CAIRN_AGENT_IMAGE || DEFAULT_AGENT_IMAGE;
}
/** Where a pvc destination is mounted in the agent pod. */
export const BACKUP_MOUNT = '/backup';
/** Where source PVCs are mounted (read-only), one folder per claim. */
export const SOURCES_MOUNT = '/sources';
/** Where a restore target PVC is mounted. */
export const RESTORE_MOUNT = '/restore';
const GCS_KEY_MOUNT = '/var/run/secrets/cairn/gcs';
/** The key of the GCS service-account key file in the destination Secret. */
export const GCS_KEY_FILE = 'key.json';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?:
    | { secretKeyRef: { name: string; key: string } }
    | { resourceFieldRef: { containerName: string; resource: string; divisor: string } };
}
export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: Record<string, never>;
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

/** What a pod needs for one side (source, target or destination) of the agent's work. */
export interface Binding {
  env: EnvVar[];
  volumes: Volume[];
  mounts: VolumeMount[];
}

export const emptyBinding = (): Binding => ({ env: [], volumes: [], mounts: [] });

export function mergeBindings(...bs: Binding[]): Binding {
  return {
    env: bs.flatMap((b) => b.env),
    volumes: bs.flatMap((b) => b.volumes),
    mounts: bs.flatMap((b) => b.mounts),
  };
}

export function secretEnv(name: string, secret: string, key: string): EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

const DEFAULT_DB_PORTS = { postgres: 5432, mysql: 3306, mariadb: 3306 } as const;
export type DatabaseType = keyof typeof DEFAULT_DB_PORTS;

/** A database connection for the agent, with each engine's default port and superuser. */
export function databaseConnection(
  type: DatabaseType,
  host: string,
  port: number | undefined,
  user: string | undefined,
): { host: string; port: number; user: string } {
  return {
    host,
    port: port ?? DEFAULT_DB_PORTS[type],
    user: user ?? (type === 'postgres' ? 'postgres' : 'root'),
  };
}

/** The database password as the env var the engine's tools read, from a Secret of the namespace. */
export function passwordEnv(type: DatabaseType, ref: { name: string; key?: string | undefined }): EnvVar {
  return secretEnv(
    type === 'postgres' ? AGENT_ENV.postgresPassword : AGENT_ENV.mysqlPassword,
    ref.name,
    ref.key ?? 'password',
  );
}

/** The agent's view of a destination, and the pod's Secrets and volumes for it. */
export function destinationBinding(dest: StorageDestination): { agent: AgentDestination; binding: Binding } {
  const b = emptyBinding();
  const agent: AgentDestination = { type: dest.type };
  if (dest.path) agent.path = dest.path;
  if (dest.type === 'pvc') {
    agent.root = BACKUP_MOUNT;
    b.volumes.push({ name: 'backup-store', persistentVolumeClaim: { claimName: dest.claimName ?? '' } });
    b.mounts.push({ name: 'backup-store', mountPath: BACKUP_MOUNT });
    return { agent, binding: b };
  }
  if (dest.bucket) agent.bucket = dest.bucket;
  if (dest.type === 's3') {
    if (dest.endpoint) agent.endpoint = dest.endpoint;
    agent.region = dest.region ?? 'us-east-1';
    const pathStyle = dest.forcePathStyle ?? dest.endpoint !== undefined;
    if (pathStyle) agent.forcePathStyle = true;
    if (dest.secretName) {
      b.env.push(secretEnv(AGENT_ENV.awsAccessKeyId, dest.secretName, 'AWS_ACCESS_KEY_ID'));
      b.env.push(secretEnv(AGENT_ENV.awsSecretAccessKey, dest.secretName, 'AWS_SECRET_ACCESS_KEY'));
    }
  } else if (dest.secretName) {
    b.volumes.push({
      name: 'gcs-key',
      secret: { secretName: dest.secretName, items: [{ key: GCS_KEY_FILE, path: GCS_KEY_FILE }] },
    });
    b.mounts.push({ name: 'gcs-key', mountPath: GCS_KEY_MOUNT, readOnly: true });
    b.env.push({ name: AGENT_ENV.googleCredentials, value: `${GCS_KEY_MOUNT}/${GCS_KEY_FILE}` });
  }
  return { agent, binding: b };
}

/**
 * The keys that protect artifacts, as env vars from the resource's Secrets: a backup gets the age
 * recipient (a public key) or the passphrase, never the identity; a restore gets the identity or
 * the passphrase; both get the signing key. No function reads these Secrets.
 */
export function keysBinding(
  direction: 'backup' | 'restore',
  encryption: Encryption | RestoreDecryption | undefined,
  signing: Signing | undefined,
): Binding {
  const b = emptyBinding();
  const ref = (env: string, r: { name: string; key?: string | undefined } | undefined, key: string) => {
    if (r) b.env.push(secretEnv(env, r.name, r.key ?? key));
  };
  if (encryption) {
    if (direction === 'backup' && 'recipientSecretRef' in encryption)
      ref(AGENT_ENV.ageRecipient, encryption.recipientSecretRef, 'recipient');
    if (direction === 'restore') ref(AGENT_ENV.ageIdentity, encryption.identitySecretRef, 'identity');
    ref(AGENT_ENV.agePassphrase, encryption.passphraseSecretRef, 'passphrase');
  }
  ref(AGENT_ENV.signingKey, signing?.keySecretRef, 'signing-key');
  return b;
}

/** PVCs mounted read-only under /sources/<claim>. */
export function sourceVolumesBinding(claims: readonly string[]): { paths: string[]; binding: Binding } {
  const b = emptyBinding();
  const paths: string[] = [];
  claims.forEach((claim, i) => {
    const name = `source-${i}`;
    const mountPath = `${SOURCES_MOUNT}/${claim}`;
    b.volumes.push({ name, persistentVolumeClaim: { claimName: claim, readOnly: true } });
    b.mounts.push({ name, mountPath, readOnly: true });
    paths.push(mountPath);
  });
  return { paths, binding: b };
}

export interface AgentJobInput {
  name: string;
  namespace: string;
  /** The Backup or Restore that owns the Job. */
  owner: KubeObject;
  ownerKind: 'Backup' | 'Restore';
  labels: Record<string, string>;
  options: AgentOptions;
  binding: Binding;
  image?: string | undefined;
  serviceAccountName?: string | undefined;
  resources?: Resources | undefined;
  backoffLimit: number;
  activeDeadlineSeconds: number;
}

const NON_ROOT_UID = 65532;

/** The name of the agent's container in every agent Job: job-watcher reads its termination message by it. */
export const AGENT_CONTAINER = 'agent';

export function agentJob(input: AgentJobInput): KubeObject {
  const tmp: Volume = { name: 'tmp', emptyDir: {} };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels: input.labels,
      ownerReferences: [controllerRef(input.owner, input.ownerKind)],
    },
    spec: {
      backoffLimit: input.backoffLimit,
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      template: {
        metadata: { labels: input.labels },
        spec: {
          restartPolicy: 'Never',
          ...(input.serviceAccountName ? { serviceAccountName: input.serviceAccountName } : {}),
          // Only a pod with its own identity (Workload Identity, IRSA) needs a token.
          automountServiceAccountToken: input.serviceAccountName !== undefined,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: NON_ROOT_UID,
            runAsGroup: NON_ROOT_UID,
            fsGroup: NON_ROOT_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: AGENT_CONTAINER,
              image: input.image ?? agentImage(),
              args: toAgentArgs(input.options),
              // The CPU request (whole CPUs, rounded up) through the downward API: how many jobs
              // a PostgreSQL restore runs (agent/cpus.ts). A LimitRange's default shows here too.
              env: [
                ...input.binding.env,
                {
                  name: AGENT_ENV.cpuRequest,
                  valueFrom: {
                    resourceFieldRef: { containerName: 'agent', resource: 'requests.cpu', divisor: '1' },
                  },
                },
              ],
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...input.binding.mounts],
              ...(input.resources ? { resources: input.resources } : {}),
              terminationMessagePath: DEFAULT_TERMINATION_LOG,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
          volumes: [tmp, ...input.binding.volumes],
        },
      },
    },
  };
}

/**
 * Where a backup Job's agent writes (its artifact and manifest keys), read from the Job's own
 * arguments; undefined for other Jobs or arguments that do not parse.
 */
export function artifactKeysOfJob(job: KubeObject): { key: string; manifestKey: string } | undefined {
  const containers = (job.spec?.template?.spec?.containers ?? []) as { name?: string; args?: string[] }[];
  const args = containers.find((c) => c.name === AGENT_CONTAINER)?.args;
  if (!args) return undefined;
  try {
    const opts = parseAgentArgs(args);
    return opts.command === 'backup' ? backupArtifactKeys(opts) : undefined;
  } catch {
    return undefined;
  }
}
