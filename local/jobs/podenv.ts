/**
 * What kubelet prepares before a container starts, done on the host: the env (value, valueFrom
 * secretKeyRef / configMapKeyRef / fieldRef / resourceFieldRef, envFrom, `$(VAR)` expansion) read from the API server
 * in the Pod's namespace, and the volumes as host folders:
 *
 *   persistentVolumeClaim  <stateDir>/volumes/<namespace>/<claimName>/ (the PVC must exist)
 *   secret, configMap      <podDir>/volumes/<volume>/, one file per key (or per `items` path)
 *   emptyDir               <podDir>/volumes/<volume>/
 *   hostPath               the path itself
 *
 * A container's mountPaths do not exist on the host, so every command/args element and env value
 * that names a path under a mountPath (`/backup/x`, or `--flag=/backup/x`) is rewritten to the
 * host folder, as is `workingDir`; `CAIRN_PATH_MAP` carries the mapping as JSON for paths hidden
 * inside other values. A mount at /tmp also becomes TMPDIR.
 *
 * Missing Secrets, ConfigMaps or keys fail like kubelet's: CreateContainerConfigError with its
 * message (`secret "x" not found`, `couldn't find key k in Secret ns/x`); kubelet retries, and so
 * does the runner. Paths from the pod spec never leave their volume: `subPath` and Secret/ConfigMap
 * `items[].path` are checked as kubelet checks them (no `..`, not absolute, no symlink out).
 *
 * Everything written here is private to the runner's user (folders 0700, files 0600, a key's mode
 * keeping only its owner bits): the state folder holds credentials.
 */
import { chmod, lstat, mkdir, realpath, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { quantityToScalar } from '@kubernetes/client-node/dist/util.js';

export interface Lookup {
  /** undefined when it does not exist. */
  secret(namespace: string, name: string): Promise<{ data?: Record<string, string> } | undefined>;
  configMap(
    namespace: string,
    name: string,
  ): Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;
  pvcExists(namespace: string, name: string): Promise<boolean>;
}

export type WaitingReason =
  | 'CreateContainerConfigError'
  | 'ContainerCreating'
  | 'Unschedulable'
  | 'ErrImagePull'
  | 'ImagePullBackOff';

/** An Event kubelet records: type, reason, message. */
export type KubeletEvent = readonly ['Normal' | 'Warning', string, string];

/** Kubelet could not build the container's config: the pod waits (kubelet retries). */
export class ContainerConfigError extends Error {
  /** What kubelet records when it meets this (its reasons and wording). */
  readonly events: readonly KubeletEvent[];
  constructor(
    readonly reason: WaitingReason,
    message: string,
    events?: readonly KubeletEvent[],
  ) {
    super(message);
    this.name = 'ContainerConfigError';
    this.events =
      events ??
      (reason === 'Unschedulable'
        ? [['Warning', 'FailedScheduling', message]]
        : reason === 'ContainerCreating'
          ? [['Warning', 'FailedMount', message]]
          : [['Warning', 'Failed', `Error: ${message}`]]);
  }
}

/** `child` is `root` or below it (both resolved). */
function within(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Why a Secret/ConfigMap item path may not be written, as kubelet's atomic writer says it
 * (pkg/volume/util/atomic_writer.go validatePath), or undefined.
 */
function payloadPathError(p: string): string | undefined {
  if (p === '') return `invalid path: must not be empty: ""`;
  if (isAbsolute(p)) return `invalid path: must be relative path: ${p}`;
  if (p.length > 4096) return 'invalid path: must be less than or equal to 4096 characters';
  const items = p.split('/');
  for (const item of items) {
    if (item === '..') return `invalid path: must not contain '..': ${p}`;
    if (item.length > 255) return 'invalid path: filenames must be less than or equal to 255 characters';
  }
  if (items[0]!.startsWith('..') && items[0]!.length > 2)
    return `invalid path: must not start with '..': ${p}`;
  return undefined;
}

type Obj = Record<string, unknown>;

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  terminationMessagePath?: string;
  terminationMessagePolicy?: 'File' | 'FallbackToLogsOnError';
  resources?: {
    requests?: { cpu?: string; memory?: string };
    limits?: { cpu?: string; memory?: string };
  };
}

export interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  secret?: {
    secretName: string;
    items?: { key: string; path: string; mode?: number }[];
    defaultMode?: number;
    optional?: boolean;
  };
  configMap?: {
    name: string;
    items?: { key: string; path: string; mode?: number }[];
    defaultMode?: number;
    optional?: boolean;
  };
  emptyDir?: Obj;
  hostPath?: { path: string };
}

export interface PodLike {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: { volumes?: Volume[]; nodeName?: string; serviceAccountName?: string };
  status?: { podIP?: string; hostIP?: string };
}

/** A mount as a host folder. */
export interface HostMount {
  mountPath: string;
  hostPath: string;
  readOnly: boolean;
}

const decode = (b64: string) => Buffer.from(b64, 'base64');

/** The volumes of a pod as host folders (created, with Secret and ConfigMap keys written). */
export async function prepareVolumes(
  pod: PodLike,
  opts: { stateDir: string; podDir: string },
  lookup: Lookup,
): Promise<Map<string, { hostPath: string; readOnly: boolean }>> {
  const ns = pod.metadata.namespace;
  const out = new Map<string, { hostPath: string; readOnly: boolean }>();
  for (const v of pod.spec.volumes ?? []) {
    if (v.persistentVolumeClaim) {
      const claim = v.persistentVolumeClaim.claimName;
      if (!(await lookup.pvcExists(ns, claim))) {
        throw new ContainerConfigError(
          'Unschedulable',
          `0/1 nodes are available: persistentvolumeclaim "${claim}" not found.`,
        );
      }
      const dir = join(opts.stateDir, 'volumes', ns, claim);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      out.set(v.name, { hostPath: dir, readOnly: v.persistentVolumeClaim.readOnly === true });
    } else if (v.secret || v.configMap) {
      const isSecret = v.secret !== undefined;
      const src = (v.secret ?? v.configMap)!;
      const name = v.secret ? v.secret.secretName : v.configMap!.name;
      const found = isSecret ? await lookup.secret(ns, name) : await lookup.configMap(ns, name);
      const dir = join(opts.podDir, 'volumes', v.name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (!found) {
        if (src.optional) {
          out.set(v.name, { hostPath: dir, readOnly: true });
          continue;
        }
        throw new ContainerConfigError(
          'ContainerCreating',
          `MountVolume.SetUp failed for volume "${v.name}" : ${isSecret ? 'secret' : 'configmap'} "${name}" not found`,
        );
      }
      const files = new Map<string, Buffer>();
      for (const [k, val] of Object.entries(found.data ?? {}))
        files.set(k, isSecret ? decode(val) : Buffer.from(val));
      for (const [k, val] of Object.entries(
        (found as { binaryData?: Record<string, string> }).binaryData ?? {},
      )) {
        files.set(k, decode(val));
      }
      const items = src.items ?? [...files.keys()].map((key) => ({ key, path: key }));
      for (const item of items) {
        const content = files.get(item.key);
        if (content === undefined) {
          if (src.optional) continue;
          throw new ContainerConfigError(
            'ContainerCreating',
            `MountVolume.SetUp failed for volume "${v.name}" : configmap references non-existent config key: ${item.key}`,
          );
        }
        const bad = payloadPathError(item.path);
        if (bad) {
          throw new ContainerConfigError(
            'ContainerCreating',
            `MountVolume.SetUp failed for volume "${v.name}" : ${bad}`,
          );
        }
        const file = join(dir, item.path);
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(file, content, { mode: 0o600 });
        // The pod's mode for its owner; never readable by other users of this machine.
        await chmod(file, ((item as { mode?: number }).mode ?? src.defaultMode ?? 0o644) & 0o700);
      }
      out.set(v.name, { hostPath: dir, readOnly: true });
    } else if (v.emptyDir) {
      const dir = join(opts.podDir, 'volumes', v.name);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      out.set(v.name, { hostPath: dir, readOnly: false });
    } else if (v.hostPath) {
      out.set(v.name, { hostPath: v.hostPath.path, readOnly: false });
    } else {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `volume "${v.name}": ${kind} volumes are not supported by the local job runner`,
      );
    }
  }
  return out;
}

/**
 * A subPath as kubelet resolves it (kubelet_pods.go makeMounts, with its wording): not absolute,
 * no `..` element, and neither an existing part of it nor the result may lead out of the volume
 * through a symlink. Missing folders are made, inside the volume. Node has no openat2, so a
 * symlink swapped in between the check and the use is not caught; nothing else writes here.
 */
async function subPathIn(volume: string, m: VolumeMount, container: string): Promise<string> {
  const sub = m.subPath!;
  if (isAbsolute(sub))
    throw new ContainerConfigError(
      'CreateContainerConfigError',
      `error SubPath \`${sub}\` must not be an absolute path`,
    );
  if (sub.split('/').includes('..')) {
    throw new ContainerConfigError(
      'CreateContainerConfigError',
      `unable to provision SubPath \`${sub}\`: must not contain '..'`,
    );
  }
  const root = await realpath(volume);
  const target = join(root, sub);
  const prepareFailed = new ContainerConfigError(
    'CreateContainerConfigError',
    `failed to prepare subPath for volumeMount "${m.name}" of container "${container}"`,
  );
  const createFailed = new ContainerConfigError(
    'CreateContainerConfigError',
    `failed to create subPath directory for volumeMount "${m.name}" of container "${container}"`,
  );
  if (
    await lstat(target).then(
      () => true,
      () => false,
    )
  ) {
    const resolved = await realpath(target).catch(() => undefined);
    if (resolved === undefined || !within(root, resolved)) throw prepareFailed;
    return resolved;
  }
  // The deepest part that exists decides where mkdir would land.
  let existing = dirname(target);
  while (
    !(await lstat(existing).then(
      () => true,
      () => false,
    ))
  )
    existing = dirname(existing);
  const base = await realpath(existing).catch(() => undefined);
  if (base === undefined || !within(root, base)) throw createFailed;
  try {
    await mkdir(target, { recursive: true, mode: 0o700 });
  } catch {
    throw createFailed;
  }
  const resolved = await realpath(target);
  if (!within(root, resolved)) throw prepareFailed;
  return resolved;
}

/** A container's mounts as host paths (subPath applied), longest mountPath first. */
export async function hostMounts(
  c: Container,
  volumes: Map<string, { hostPath: string; readOnly: boolean }>,
): Promise<HostMount[]> {
  const out: HostMount[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v)
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `volumeMount "${m.name}" names no volume of the pod`,
      );
    const hostPath = m.subPath ? await subPathIn(v.hostPath, m, c.name) : v.hostPath;
    out.push({
      mountPath: m.mountPath.replace(/\/+$/, '') || '/',
      hostPath,
      readOnly: m.readOnly === true || v.readOnly,
    });
  }
  return out.sort((a, b) => b.mountPath.length - a.mountPath.length);
}

/** Rewrites a path-like value under a mountPath (`/m/x`, or `--flag=/m/x`) to the host folder. */
export function rewritePath(
  value: string,
  mounts: readonly { mountPath: string; hostPath: string }[],
): string {
  const flag = /^(-{1,2}[^=\s]+=)(\/.*)$/.exec(value);
  if (flag) return flag[1]! + rewritePath(flag[2]!, mounts);
  for (const m of mounts) {
    if (m.mountPath === '/') continue;
    if (value === m.mountPath) return m.hostPath;
    if (value.startsWith(`${m.mountPath}/`)) return join(m.hostPath, value.slice(m.mountPath.length + 1));
  }
  return value;
}

/** Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, the rest stays. */
export function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.hasOwn(env, name) ? env[name]! : m;
  });
}

/** The container's env as kubelet builds it (envFrom first, then env in order). */
export async function resolveEnv(
  pod: PodLike,
  c: Container,
  lookup: Lookup,
): Promise<Record<string, string>> {
  const ns = pod.metadata.namespace;
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const s = await lookup.secret(ns, from.secretRef.name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `secret "${from.secretRef.name}" not found`,
        );
      }
      for (const [k, v] of Object.entries(s.data ?? {})) env[prefix + k] = decode(v).toString('utf8');
    } else if (from.configMapRef) {
      const cm = await lookup.configMap(ns, from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `configmap "${from.configMapRef.name}" not found`,
        );
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env[prefix + k] = v;
    }
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom) {
      const v = await valueFrom(pod, c, e, lookup);
      if (v !== undefined) env[e.name] = v;
    } else {
      env[e.name] = expand(e.value ?? '', env);
    }
  }
  return env;
}

async function valueFrom(pod: PodLike, c: Container, e: EnvVar, lookup: Lookup): Promise<string | undefined> {
  const ns = pod.metadata.namespace;
  const f = e.valueFrom!;
  if (f.secretKeyRef) {
    const { name, key, optional } = f.secretKeyRef;
    const s = await lookup.secret(ns, name);
    if (!s) {
      if (optional) return undefined;
      throw new ContainerConfigError('CreateContainerConfigError', `secret "${name}" not found`);
    }
    const v = s.data?.[key];
    if (v === undefined) {
      if (optional) return undefined;
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `couldn't find key ${key} in Secret ${ns}/${name}`,
      );
    }
    return decode(v).toString('utf8');
  }
  if (f.configMapKeyRef) {
    const { name, key, optional } = f.configMapKeyRef;
    const cm = await lookup.configMap(ns, name);
    if (!cm) {
      if (optional) return undefined;
      throw new ContainerConfigError('CreateContainerConfigError', `configmap "${name}" not found`);
    }
    const v = cm.data?.[key];
    if (v === undefined) {
      if (optional) return undefined;
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `couldn't find key ${key} in ConfigMap ${ns}/${name}`,
      );
    }
    return v;
  }
  if (f.fieldRef) return fieldRef(pod, f.fieldRef.fieldPath);
  if (f.resourceFieldRef) return resourceField(c, e.name, f.resourceFieldRef);
  return undefined;
}

/**
 * kubelet's resourceFieldRef (pkg/api/v1/resource ExtractContainerResourceValue): the container's
 * request or limit divided by the divisor (default 1), rounded up; an unset request is 0 and an
 * unset limit is the node's allocatable, here this machine's. Quantities are read by
 * @kubernetes/client-node. Only the container's own resources (a containerName naming another
 * container is refused: the job runner runs one container).
 */
export function resourceField(
  c: Container,
  env: string,
  ref: { containerName?: string; resource: string; divisor?: string },
): string {
  const refuse = (why: string) =>
    new ContainerConfigError('CreateContainerConfigError', `env ${env}: resourceFieldRef ${why}`);
  if (ref.containerName && ref.containerName !== c.name)
    throw refuse(`names container ${ref.containerName}, not ${c.name}`);
  const [kind, resource] = ref.resource.split('.') as [string, string | undefined];
  if ((kind !== 'requests' && kind !== 'limits') || (resource !== 'cpu' && resource !== 'memory'))
    throw refuse(`${ref.resource} is not supported locally`);
  const set = (kind === 'requests' ? c.resources?.requests : c.resources?.limits)?.[resource];
  const node = resource === 'cpu' ? os.availableParallelism() : os.totalmem();
  const value = set !== undefined ? quantity(set) : kind === 'limits' ? node : 0;
  const divisor = quantity(ref.divisor ?? '1');
  if (!(divisor > 0)) throw refuse(`divisor ${ref.divisor} is not positive`);
  // CPU in millicores as kubelet does, so 1200m / 100m is 12, not 12.000000000000002.
  if (resource === 'cpu') return String(Math.ceil(Math.round(value * 1000) / Math.round(divisor * 1000)));
  return String(Math.ceil(value / divisor));
}

function quantity(q: string): number {
  return Number(quantityToScalar(q));
}

function fieldRef(pod: PodLike, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `fieldRef ${path} is not supported locally`,
      );
  }
}
