/**
 * A local stand-in for the CSI snapshot controller and a snapshot-capable CSI driver, for the
 * API emulator (it talks only HTTP, like the job runner). A claim is a folder
 * (`<stateDir>/volumes/<ns>/<claim>/`), so:
 *
 * - a VolumeSnapshot of a claim becomes a copy of that folder under `<stateDir>/snapshots/<content>/`,
 *   bound to a VolumeSnapshotContent `snapcontent-<snapshot uid>`; the snapshot's status gets
 *   `boundVolumeSnapshotContentName`, `creationTime`, `readyToUse: true` and `restoreSize` (the
 *   claim's size, as a CSI driver reports the volume's), the content's status the same in its own
 *   form (`restoreSize` in bytes, `snapshotHandle`; not its `creationTime`, nanoseconds since the
 *   epoch, which is beyond the integers the emulator holds exactly — local/apiserver/README.md);
 * - the class is `spec.volumeSnapshotClassName` or the one default class (annotation
 *   `snapshot.storage.kubernetes.io/is-default-class: "true"`), written back into the spec as the
 *   real controller does; a class with the parameter `local.cairn.dev/fail: <message>` fails every
 *   snapshot with that message in `status.error` (a missing claim or class does the same);
 * - deleting the snapshot deletes its content and the copy when the content's `deletionPolicy` is
 *   Delete, and keeps both when it is Retain (the `volumesnapshot-bound-protection` finalizer holds
 *   the snapshot until then);
 * - a claim whose `dataSource`/`dataSourceRef` names a ready VolumeSnapshot is filled from the copy
 *   and becomes `Bound` (a Warning `ProvisioningFailed` Event, and Pending, while the snapshot is not
 *   ready or the claim is smaller than its `restoreSize`).
 *
 * At start it creates the VolumeSnapshotClass `local` (default, driver `local.cairn.dev`, Delete)
 * when no class exists, as a cluster with a snapshot-capable driver has one.
 */
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, kubeTime, systemClock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import { parseQuantity } from '../../shared/quantity.ts';
import { SNAPSHOT_API_VERSION, SNAPSHOT_GROUP } from '../../shared/snapshots.ts';
import { KeyedQueue } from '../broker/queue.ts';
import { type KubeObject, type KubeTarget, toKubeConfig, type WatchLoop, watchLoop } from '../events/kube.ts';
import { type Json, SnapshotApi, type SnapshotJson } from './api.ts';

const LOCAL_DRIVER = 'local.cairn.dev';
/** A VolumeSnapshotClass parameter: every snapshot of the class fails with this message. */
export const FAIL_PARAMETER = 'local.cairn.dev/fail';
const DEFAULT_CLASS_ANNOTATION = 'snapshot.storage.kubernetes.io/is-default-class';
const BOUND_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection';

export interface SnapshotControllerOptions {
  kube: KubeTarget;
  /** Claims are `<stateDir>/volumes/<ns>/<claim>/`, snapshot copies `<stateDir>/snapshots/<content>/`. */
  stateDir: string;
  clock?: Clock;
  log: Logger;
}

export interface SnapshotController {
  /** Resolves once the first lists are done and the watches are open. */
  readonly ready: Promise<void>;
  /** Resolves once everything seen so far has been handled. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const rec = (v: unknown): Json => (v && typeof v === 'object' ? (v as Json) : {});

class Failure extends Error {}

export async function startSnapshotController(opts: SnapshotControllerOptions): Promise<SnapshotController> {
  const kc = toKubeConfig(opts.kube);
  const api = new SnapshotApi(kc);
  const clock = opts.clock ?? systemClock;
  const log = opts.log;
  const volumeDir = (ns: string, claim: string) => join(opts.stateDir, 'volumes', ns, claim);
  const copyDir = (content: string) => join(opts.stateDir, 'snapshots', content);

  // One queue: the local controller handles one object at a time, in the order it saw them.
  const queue = new KeyedQueue(1);
  const enqueue = (what: string, fn: () => Promise<void>) => {
    queue
      .run('snapshots', fn)
      .catch((e: unknown) => log.warn('snapshot controller: failed', { what, error: String(e) }));
  };

  async function pickClass(vs: SnapshotJson): Promise<SnapshotJson> {
    const named = vs.spec?.volumeSnapshotClassName as string | undefined;
    if (named) {
      const c = await api.cluster('volumesnapshotclasses', named);
      if (!c)
        throw new Failure(
          `failed to get input parameters to create snapshot ${vs.metadata.name}: "volumesnapshotclass.snapshot.storage.k8s.io \\"${named}\\" not found"`,
        );
      return c;
    }
    const defaults = (await api.classes()).filter(
      (c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true',
    );
    if (defaults.length !== 1) {
      throw new Failure(
        defaults.length === 0
          ? 'cannot find default snapshot class'
          : `default snapshot class: ${defaults.length} default classes found (${defaults.map((c) => c.metadata.name).join(', ')}): set spec.volumeSnapshotClassName`,
      );
    }
    const c = defaults[0] as SnapshotJson;
    // The real controller records the default it chose in the snapshot's spec.
    await api.patchSnapshot(vs.metadata.namespace ?? 'default', vs.metadata.name, {
      spec: { volumeSnapshotClassName: c.metadata.name },
    });
    return c;
  }

  async function fail(vs: SnapshotJson, message: string, content?: string): Promise<void> {
    const ns = vs.metadata.namespace ?? 'default';
    const status = rec(vs.status);
    // The same failure again changes nothing (a new status would only wake the watch again).
    if (rec(status.error).message === message && status.readyToUse === false) return;
    await api.patchSnapshotStatus(ns, vs.metadata.name, {
      readyToUse: false,
      error: { message, time: kubeTime(clock.now()) },
      ...(content ? { boundVolumeSnapshotContentName: content } : {}),
    });
    await api.event(
      {
        kind: 'VolumeSnapshot',
        apiVersion: SNAPSHOT_API_VERSION,
        namespace: ns,
        name: vs.metadata.name,
        uid: vs.metadata.uid,
      },
      'Warning',
      'SnapshotCreationFailed',
      `Failed to create snapshot: ${message}`,
      clock.now(),
    );
  }

  async function create(vs: SnapshotJson): Promise<void> {
    const ns = vs.metadata.namespace ?? 'default';
    const source = rec(vs.spec?.source);
    const pre = source.volumeSnapshotContentName as string | undefined;
    if (pre) {
      // A pre-provisioned snapshot: bind to the content that exists.
      const content = await api.cluster('volumesnapshotcontents', pre);
      if (!content) throw new Failure(`VolumeSnapshotContent ${pre} not found`);
      const cs = rec(content.status);
      await bindStatus(vs, pre, cs);
      return;
    }
    const claimName = source.persistentVolumeClaimName as string;
    const cls = await pickClass(vs);
    const claim = await api.claim(ns, claimName);
    if (!claim) {
      throw new Failure(
        `failed to get input parameters to create snapshot ${vs.metadata.name}: "failed to retrieve PVC ${claimName} from the lister: \\"persistentvolumeclaim \\\\\\"${claimName}\\\\\\" not found\\""`,
      );
    }
    const contentName = `snapcontent-${vs.metadata.uid}`;
    const size =
      (rec(rec(claim.status).capacity).storage as string | undefined) ??
      (rec(rec(rec(claim.spec).resources).requests).storage as string | undefined) ??
      '0';
    const now = clock.now();
    await api.createContent({
      apiVersion: SNAPSHOT_API_VERSION,
      kind: 'VolumeSnapshotContent',
      metadata: { name: contentName },
      spec: {
        deletionPolicy: cls.deletionPolicy ?? 'Delete',
        driver: cls.driver ?? LOCAL_DRIVER,
        source: { volumeHandle: `${ns}/${claimName}` },
        sourceVolumeMode: (rec(claim.spec).volumeMode as string | undefined) ?? 'Filesystem',
        volumeSnapshotClassName: cls.metadata.name,
        volumeSnapshotRef: {
          apiVersion: SNAPSHOT_API_VERSION,
          kind: 'VolumeSnapshot',
          name: vs.metadata.name,
          namespace: ns,
          uid: vs.metadata.uid,
        },
      },
    });
    const failWith = cls.parameters?.[FAIL_PARAMETER];
    if (failWith !== undefined) {
      const message = `Failed to check and update snapshot content: failed to take snapshot of the volume ${ns}/${claimName}: "${failWith}"`;
      await api.patchContentStatus(contentName, {
        readyToUse: false,
        error: { message, time: kubeTime(now) },
      });
      throw new Failure(message, { cause: contentName });
    }
    const dest = copyDir(contentName);
    await rm(dest, { recursive: true, force: true });
    await mkdir(dest, { recursive: true });
    const src = volumeDir(ns, claimName);
    if ((await readdir(src).catch(() => [])).length > 0)
      await cp(src, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const contentStatus = {
      readyToUse: true,
      restoreSize: Number(parseQuantity(size)),
      snapshotHandle: `local-snapshot/${contentName}`,
    };
    await api.patchContentStatus(contentName, contentStatus);
    await bindStatus(vs, contentName, contentStatus, size);
    await api.event(
      {
        kind: 'VolumeSnapshot',
        apiVersion: SNAPSHOT_API_VERSION,
        namespace: ns,
        name: vs.metadata.name,
        uid: vs.metadata.uid,
      },
      'Normal',
      'SnapshotReady',
      `Snapshot ${ns}/${vs.metadata.name} is ready to use.`,
      now,
    );
  }

  async function bindStatus(vs: SnapshotJson, content: string, cs: Json, size?: string): Promise<void> {
    const ns = vs.metadata.namespace ?? 'default';
    const finalizers = vs.metadata.finalizers ?? [];
    if (!finalizers.includes(BOUND_FINALIZER))
      await api.patchSnapshot(ns, vs.metadata.name, {
        metadata: { finalizers: [...finalizers, BOUND_FINALIZER] },
      });
    // A content's creationTime (nanoseconds) where one has it, else the time it was bound.
    const created = typeof cs.creationTime === 'number' ? new Date(cs.creationTime / 1_000_000) : clock.now();
    await api.patchSnapshotStatus(ns, vs.metadata.name, {
      boundVolumeSnapshotContentName: content,
      readyToUse: cs.readyToUse === true,
      ...(cs.readyToUse === true ? { creationTime: kubeTime(created) } : {}),
      ...(size !== undefined
        ? { restoreSize: size }
        : typeof cs.restoreSize === 'number'
          ? { restoreSize: String(cs.restoreSize) }
          : {}),
      error: null,
    });
  }

  async function remove(vs: SnapshotJson): Promise<void> {
    const ns = vs.metadata.namespace ?? 'default';
    const bound = rec(vs.status).boundVolumeSnapshotContentName as string | undefined;
    if (bound) {
      const content = await api.cluster('volumesnapshotcontents', bound);
      if (
        content &&
        rec(content.spec).deletionPolicy !== 'Retain' &&
        !rec(vs.spec?.source).volumeSnapshotContentName
      ) {
        await rm(copyDir(bound), { recursive: true, force: true });
        await api.deleteContent(bound);
      }
    }
    const finalizers = vs.metadata.finalizers ?? [];
    if (finalizers.includes(BOUND_FINALIZER)) {
      await api.patchSnapshot(ns, vs.metadata.name, {
        metadata: { finalizers: finalizers.filter((f) => f !== BOUND_FINALIZER) },
      });
    }
  }

  async function reconcileSnapshot(ns: string, name: string): Promise<void> {
    const vs = await api.snapshot(ns, name);
    if (!vs) return;
    if (vs.metadata.deletionTimestamp) return remove(vs);
    if (rec(vs.status).readyToUse === true) return;
    try {
      await create(vs);
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      await fail(vs, e.message, typeof e.cause === 'string' ? e.cause : undefined);
      return;
    }
    // Claims waiting for this snapshot can be filled now.
    for (const c of await api.claims(ns)) await reconcileClaim(c);
  }

  async function reconcileClaim(claim: Json): Promise<void> {
    const meta = rec(claim.metadata);
    const spec = rec(claim.spec);
    const ns = (meta.namespace as string | undefined) ?? 'default';
    const name = meta.name as string;
    const ds = rec(spec.dataSourceRef ?? spec.dataSource);
    if (ds.kind !== 'VolumeSnapshot' || ds.apiGroup !== SNAPSHOT_GROUP) return;
    if (meta.deletionTimestamp || rec(claim.status).phase === 'Bound') return;
    const involved = {
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      namespace: ns,
      name,
      uid: meta.uid as string,
    };
    const warn = (message: string) =>
      api.event(involved, 'Warning', 'ProvisioningFailed', message, clock.now());
    const vs = await api.snapshot(ns, ds.name as string);
    const vst = rec(vs?.status);
    if (!vs || vst.readyToUse !== true || typeof vst.boundVolumeSnapshotContentName !== 'string') {
      return warn(`failed to provision volume: snapshot ${ds.name as string} not bound or not ready to use`);
    }
    const requested = rec(rec(spec.resources).requests).storage as string | undefined;
    if (
      requested &&
      typeof vst.restoreSize === 'string' &&
      parseQuantity(requested) < parseQuantity(vst.restoreSize)
    ) {
      return warn(
        `failed to provision volume: requested volume size ${requested} is less than the size ${vst.restoreSize} for the source snapshot ${ds.name as string}`,
      );
    }
    const target = volumeDir(ns, name);
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    await cp(copyDir(vst.boundVolumeSnapshotContentName), target, {
      recursive: true,
      preserveTimestamps: true,
      verbatimSymlinks: true,
    });
    await api.patchClaimStatus(ns, name, {
      phase: 'Bound',
      accessModes: spec.accessModes,
      capacity: { storage: requested ?? vst.restoreSize },
    });
    await api.event(
      involved,
      'Normal',
      'ProvisioningSucceeded',
      `Successfully provisioned volume from VolumeSnapshot ${ds.name as string}`,
      clock.now(),
    );
  }

  // A cluster with a snapshot-capable driver has a default class.
  if ((await api.classes()).length === 0) {
    await api
      .createClass({
        apiVersion: SNAPSHOT_API_VERSION,
        kind: 'VolumeSnapshotClass',
        metadata: { name: 'local', annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
        driver: LOCAL_DRIVER,
        deletionPolicy: 'Delete',
      })
      .catch((e: unknown) => log.warn('snapshot controller: no default class', { error: String(e) }));
  }

  const onSnapshot = (o: KubeObject) =>
    enqueue(`VolumeSnapshot ${o.metadata?.namespace}/${o.metadata?.name}`, () =>
      reconcileSnapshot(o.metadata?.namespace ?? 'default', o.metadata?.name ?? ''),
    );
  const onClaim = (o: KubeObject) =>
    enqueue(`PersistentVolumeClaim ${o.metadata?.namespace}/${o.metadata?.name}`, async () => {
      const ns = o.metadata?.namespace ?? 'default';
      const fresh = await api.claim(ns, o.metadata?.name ?? '');
      if (fresh) await reconcileClaim(fresh);
      // A snapshot that failed for want of this claim is tried again, as the real controller retries.
      for (const vs of await api.snapshots(ns)) {
        if (rec(vs.status).readyToUse !== true && !vs.metadata.deletionTimestamp)
          await reconcileSnapshot(ns, vs.metadata.name);
      }
    });
  const watches: WatchLoop[] = [
    watchLoop({
      kc,
      resource: {
        apiVersion: SNAPSHOT_API_VERSION,
        kind: 'VolumeSnapshot',
        plural: 'volumesnapshots',
        namespaced: true,
      },
      onList: (items) => items.forEach(onSnapshot),
      onEvent: (type, o) => {
        if (type !== 'DELETED') onSnapshot(o);
      },
      log,
    }),
    watchLoop({
      kc,
      resource: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        plural: 'persistentvolumeclaims',
        namespaced: true,
      },
      onList: (items) => items.forEach(onClaim),
      onEvent: (type, o) => {
        if (type !== 'DELETED') onClaim(o);
      },
      log,
    }),
  ];
  return {
    ready: Promise.all(watches.map((w) => w.ready)).then(() => {}),
    idle: () => queue.idle(),
    async close() {
      for (const w of watches) w.stop();
      await queue.idle();
    },
  };
}
