/**
 * Kubelet for one Pod of a Job: waits until it can be scheduled (its PVCs exist) and its
 * containers configured (Secrets, ConfigMaps, keys) as kubelet retries, then runs its init
 * containers one by one and its containers together as host processes, and writes the Pod's status
 * at each step: Pending (ContainerCreating, ErrImagePull/ImagePullBackOff,
 * CreateContainerConfigError or Unschedulable) → Running → Succeeded | Failed, with each
 * container's termination state and message.
 *
 * The pod's scratch folder (`<stateDir>/pods/<ns>/<pod>/`: Secret files, emptyDirs, the
 * termination file) is removed when the pod ends; its log stays in `<stateDir>/logs/<ns>/<pod>.log`.
 */
import { appendFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, kubeTime } from '../../shared/clock.ts';
import type { Logger } from '../../shared/log.ts';
import type { PodJson, RunnerApi } from './api.ts';
import { type ImageRule, pullError, resolveCommand } from './images.ts';
import {
  type Container,
  ContainerConfigError,
  hostMounts,
  type PodLike,
  prepareVolumes,
  resolveEnv,
  rewritePath,
} from './podenv.ts';
import { type RunningProcess, startProcess, type Terminated } from './process.ts';
import {
  type ContainerState,
  finishedPodStatus,
  pendingPodStatus,
  runningPodStatus,
  unschedulablePodStatus,
} from './status.ts';

export type StopReason = 'deleted' | 'deadline' | 'jobFinished' | 'suspended' | 'shutdown' | 'evicted';

/** kubelet's message for a node-pressure eviction (pkg/kubelet/eviction/helpers.go, nodeLowMessageFmt). */
const EVICTION_MESSAGE = 'The node was low on resource: memory. ';

export interface PodRunOptions {
  api: RunnerApi;
  stateDir: string;
  images: readonly ImageRule[];
  hostEnv: Record<string, string>;
  clock: Clock;
  log: Logger;
  /** Longest grace period a kill waits for before SIGKILL. */
  maxGraceMs: number;
  /** Retry delays of kubelet-style waits (missing Secret, PVC…): from `configRetryMs`, doubling to 10 s. */
  configRetryMs: number;
  /** Fail the pod at once on a config error instead of waiting like kubelet. */
  failOnConfigError: boolean;
}

export interface PodOutcome {
  phase: 'Succeeded' | 'Failed' | 'Gone';
  finishedAt: Date;
}

/**
 * An image the runtime cannot pull, as kubelet reports it (pkg/kubelet/images/image_manager.go):
 * the first failure is ErrImagePull with the runtime's error; while backing off, ImagePullBackOff.
 */
function imagePullWait(image: string, error: string, failuresBefore: number): ContainerConfigError {
  if (failuresBefore === 0) {
    return new ContainerConfigError('ErrImagePull', error, [
      ['Warning', 'Failed', `Failed to pull image "${image}": ${error}`],
      ['Warning', 'Failed', 'Error: ErrImagePull'],
    ]);
  }
  const message = `Back-off pulling image "${image}"`;
  return new ContainerConfigError('ImagePullBackOff', message, [
    ['Normal', 'BackOff', message],
    ['Warning', 'Failed', 'Error: ImagePullBackOff'],
  ]);
}

/** A running pod; `stop` kills it, `done` resolves once its final status is written. */
export class PodRun {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly done: Promise<PodOutcome>;
  #stopReason: StopReason | undefined;
  #evictionMessage = EVICTION_MESSAGE;
  /** Set once the final status is decided: a later stop() changes nothing. */
  #ended = false;
  #wake: (() => void) | undefined;
  #procs = new Set<RunningProcess>();
  readonly #o: PodRunOptions;
  readonly #pod: PodJson;

  constructor(pod: PodJson, opts: PodRunOptions) {
    this.#pod = pod;
    this.#o = opts;
    this.uid = pod.metadata.uid;
    this.namespace = pod.metadata.namespace;
    this.name = pod.metadata.name;
    this.done = this.#run();
  }

  get stopReason(): StopReason | undefined {
    return this.#stopReason;
  }

  /**
   * Kills the pod's processes; false when it had already ended (nothing to stop). An eviction is
   * kubelet's hard eviction: no grace period, and the Pod ends Failed with reason Evicted.
   */
  stop(reason: StopReason, message?: string): boolean {
    if (this.#ended) return false;
    if (this.#stopReason) return true;
    this.#stopReason = reason;
    if (message) this.#evictionMessage = message;
    this.#wake?.();
    const grace =
      reason === 'evicted'
        ? 0
        : Math.min(
            ((this.#pod.spec.terminationGracePeriodSeconds as number | undefined) ?? 30) * 1000,
            this.#o.maxGraceMs,
          );
    for (const p of this.#procs) p.kill(grace);
    return true;
  }

  async #run(): Promise<PodOutcome> {
    const { api, clock } = this.#o;
    const podDir = join(this.#o.stateDir, 'pods', this.namespace, this.name);
    const logDir = join(this.#o.stateDir, 'logs', this.namespace);
    const logFile = join(logDir, `${this.name}.log`);
    const log = this.#o.log.child({ pod: `${this.namespace}/${this.name}` });
    const containers = (this.#pod.spec.containers ?? []) as unknown as Container[];
    const inits = (this.#pod.spec.initContainers ?? []) as unknown as Container[];
    const startTime = clock.now();
    try {
      // Private: logs and pod folders hold what the containers print and the Secrets they mount.
      await mkdir(join(this.#o.stateDir, 'logs'), { recursive: true, mode: 0o700 });
      await mkdir(logDir, { recursive: true, mode: 0o700 });
      await mkdir(podDir, { recursive: true, mode: 0o700 });
      const podLike = this.#pod as unknown as PodLike;
      let volumes: Awaited<ReturnType<typeof prepareVolumes>> | undefined;
      let lastWait = '';
      let pullFailures = 0;
      for (let attempt = 0; !this.#stopReason; attempt++) {
        try {
          volumes = await prepareVolumes(podLike, { stateDir: this.#o.stateDir, podDir }, api);
          // Each container as kubelet starts it: its image, then its env and mounts; a failure
          // holds the start, and kubelet retries.
          for (const c of [...inits, ...containers]) {
            const pull = pullError(c.image ?? '', this.#o.images);
            if (pull !== undefined) throw imagePullWait(c.image ?? '', pull, pullFailures++);
            await resolveEnv(podLike, c, api);
            await hostMounts(c, volumes);
          }
          break;
        } catch (e) {
          if (!(e instanceof ContainerConfigError)) throw e;
          const status =
            e.reason === 'Unschedulable'
              ? unschedulablePodStatus(clock.now(), e.message)
              : pendingPodStatus(startTime, containers, { reason: e.reason, message: e.message });
          const key = `${e.reason}: ${e.message}`;
          if (key !== lastWait) {
            lastWait = key;
            log.warn('pod cannot start yet', { reason: e.reason, message: e.message });
            await api.patchPodStatus(this.namespace, this.name, status);
            for (const [type, reason, message] of e.events) void this.#event(type, reason, message);
          }
          if (this.#o.failOnConfigError) {
            const waiting = { reason: e.reason, message: e.message };
            return await this.#finish(
              startTime,
              containers,
              containers.map(() => ({ waiting })),
              waiting,
            );
          }
          await this.#sleep(Math.min(this.#o.configRetryMs * 2 ** attempt, 10_000));
        }
      }
      if (this.#stopReason || !volumes) {
        return await this.#finish(
          startTime,
          containers,
          containers.map(() => ({ terminated: this.#notStarted('ContainerStatusUnknown') })),
        );
      }
      // Init containers, one after the other.
      for (const c of inits) {
        const t = await this.#runContainer(c, podLike, volumes, podDir, logFile, log);
        if (t.exitCode !== 0 || this.#stopReason) {
          return await this.#finish(
            startTime,
            containers,
            containers.map(() => ({ waiting: { reason: 'PodInitializing' } })),
            {
              message: `init container ${c.name} failed: ${t.reason}`,
            },
          );
        }
      }
      // The containers, together.
      const states: ContainerState[] = containers.map(() => ({ waiting: { reason: 'ContainerCreating' } }));
      const ids: (string | undefined)[] = containers.map(() => undefined);
      const writeRunning = () =>
        api.patchPodStatus(
          this.namespace,
          this.name,
          runningPodStatus(
            startTime,
            clock.now(),
            containers.map((c, i) => ({ c, state: states[i]!, ...(ids[i] ? { id: ids[i] } : {}) })),
          ),
        );
      const results = await Promise.all(
        containers.map((c, i) =>
          this.#runContainer(c, podLike, volumes!, podDir, logFile, log, async (p) => {
            states[i] = { running: { startedAt: kubeTime(p.startedAt) } };
            ids[i] = `local://${p.pid ?? 0}`;
            await writeRunning();
            void this.#event('Normal', 'Started', `Started container ${c.name}`);
          }),
        ),
      );
      return await this.#finish(
        startTime,
        containers,
        results.map((t, i) => ({ terminated: this.#terminatedState(t, ids[i]) })),
        { ids },
      );
    } catch (e) {
      log.error('pod run failed', { error: e });
      return await this.#finish(
        startTime,
        containers,
        containers.map(() => ({
          terminated: this.#notStarted('StartError', e instanceof Error ? e.message : String(e)),
        })),
      );
    } finally {
      await rm(podDir, { recursive: true, force: true }).catch(() => {});
    }
  }

  async #runContainer(
    c: Container,
    pod: PodLike,
    volumes: NonNullable<Awaited<ReturnType<typeof prepareVolumes>>>,
    podDir: string,
    logFile: string,
    log: Logger,
    onStart?: (p: RunningProcess) => Promise<void>,
  ): Promise<Terminated> {
    const now = () => this.#o.clock.now();
    const resolved = resolveCommand(c, this.#o.images);
    if (!resolved.ok) {
      void this.#event('Warning', 'Failed', resolved.message);
      return {
        exitCode: 128,
        signal: undefined,
        reason: resolved.reason,
        message: resolved.message,
        startedAt: now(),
        finishedAt: now(),
      };
    }
    const mounts = await hostMounts(c, volumes);
    const terminationFile = join(podDir, `termination-log-${c.name}`);
    const pathMap = [
      ...mounts.map((m) => ({ mountPath: m.mountPath, hostPath: m.hostPath })),
      { mountPath: c.terminationMessagePath ?? '/dev/termination-log', hostPath: terminationFile },
    ].sort((a, b) => b.mountPath.length - a.mountPath.length);
    const rw = (v: string) => rewritePath(v, pathMap);
    const podEnv = await resolveEnv(pod, c, this.#o.api);
    const env: Record<string, string> = { ...this.#o.hostEnv, ...resolved.env, HOSTNAME: pod.metadata.name };
    for (const [k, v] of Object.entries(podEnv)) env[k] = rw(v);
    const tmp = mounts.find((m) => m.mountPath === '/tmp');
    if (tmp) env.TMPDIR = tmp.hostPath;
    env.CAIRN_TERMINATION_LOG = terminationFile;
    env.CAIRN_PATH_MAP = JSON.stringify(Object.fromEntries(pathMap.map((m) => [m.mountPath, m.hostPath])));
    const readOnly = mounts.filter((m) => m.readOnly);
    if (readOnly.length > 0) env.CAIRN_READONLY_PATHS = readOnly.map((m) => m.hostPath).join(':');
    // No mount namespace here, so a read-only mount cannot refuse writes; a write is caught after.
    const before = await Promise.all(readOnly.map((m) => fingerprint(m.hostPath)));
    const argv = resolved.argv.map((a, i) => (i < resolved.hostPrefix ? a : rw(a)));
    const cwd = c.workingDir ? rw(c.workingDir) : resolved.cwd;
    log.info('starting container', { container: c.name, argv: [argv[0], `(${argv.length - 1} args)`] });
    const p = await startProcess(
      {
        argv,
        env,
        cwd,
        logFile,
        terminationFile,
        terminationMessagePolicy: c.terminationMessagePolicy ?? 'File',
      },
      now,
    );
    this.#procs.add(p);
    if (this.#stopReason) p.kill(0);
    try {
      if (onStart) await onStart(p).catch((e: unknown) => log.warn('status write failed', { error: e }));
      const t = await p.done;
      log.info('container ended', { container: c.name, exitCode: t.exitCode, reason: t.reason });
      for (const [i, m] of readOnly.entries()) {
        if ((await fingerprint(m.hostPath)) === before[i]) continue;
        const msg = `container ${c.name} changed the read-only mount ${m.mountPath} (${m.hostPath}); in a cluster the write would have failed`;
        log.warn(msg);
        await appendFile(logFile, `[cairn-local] ${msg}\n`).catch(() => {});
        void this.#event('Warning', 'ReadOnlyMountWritten', msg);
      }
      return t;
    } finally {
      this.#procs.delete(p);
    }
  }

  #terminatedState(t: Terminated, id: string | undefined): NonNullable<ContainerState['terminated']> {
    return {
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message ? { message: t.message } : {}),
      startedAt: kubeTime(t.startedAt),
      finishedAt: kubeTime(t.finishedAt),
      ...(id ? { containerID: id } : {}),
    };
  }

  #notStarted(reason: string, message?: string): NonNullable<ContainerState['terminated']> {
    const t = kubeTime(this.#o.clock.now());
    return { exitCode: 137, reason, ...(message ? { message } : {}), startedAt: t, finishedAt: t };
  }

  async #finish(
    startTime: Date,
    containers: Container[],
    states: ContainerState[],
    opts: { ids?: (string | undefined)[]; reason?: string; message?: string } = {},
  ): Promise<PodOutcome> {
    const ids = opts.ids ?? [];
    const extra = {
      ...(opts.reason ? { reason: opts.reason } : {}),
      ...(opts.message ? { message: opts.message } : {}),
    };
    this.#ended = true;
    const at = this.#o.clock.now();
    const status = finishedPodStatus(
      startTime,
      at,
      containers.map((c, i) => ({ c, state: states[i]!, ...(ids[i] ? { id: ids[i] } : {}) })),
      this.#stopReason === 'shutdown'
        ? { reason: 'Terminated', message: 'Pod was terminated in response to imminent node shutdown.' }
        : extra,
    );
    if (status.phase === 'Failed' && this.#stopReason === 'deadline') {
      (status as { reason?: string }).reason ??= 'DeadlineExceeded';
    }
    if (this.#stopReason === 'evicted') {
      // As kubelet reports a node-pressure eviction: Failed, reason Evicted, its message, and the
      // DisruptionTarget condition (TerminationByKubelet).
      const t = kubeTime(at);
      Object.assign(status, { phase: 'Failed', reason: 'Evicted', message: this.#evictionMessage });
      (status.conditions as Record<string, unknown>[]).push({
        type: 'DisruptionTarget',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: t,
        reason: 'TerminationByKubelet',
        message: this.#evictionMessage,
      });
    }
    await this.#o.api.patchPodStatus(this.namespace, this.name, status).catch((e: unknown) => {
      this.#o.log.warn('final pod status not written', { pod: `${this.namespace}/${this.name}`, error: e });
    });
    return { phase: status.phase as 'Succeeded' | 'Failed', finishedAt: at };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const m = this.#pod.metadata;
    return this.#o.api.event(
      { kind: 'Pod', apiVersion: 'v1', namespace: m.namespace, name: m.name, uid: m.uid },
      type,
      reason,
      message,
      'kubelet',
      this.#o.clock.now(),
    );
  }
}

/** Names, sizes and mtimes under a folder (at most 5000 entries): enough to notice a write. */
async function fingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (parts.length >= 5000) return;
      const full = join(d, e.name);
      const st = await stat(full).catch(() => undefined);
      parts.push(`${full}:${st?.size ?? '?'}:${st?.mtimeMs ?? '?'}`);
      if (e.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return parts.sort().join('\n');
}
