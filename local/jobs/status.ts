/**
 * Pod and Job status as kubelet and the Job controller of Kubernetes 1.32 write them. Pure: every
 * function takes the time it should stamp.
 */
import { kubeTime } from '../../shared/clock.ts';

type Obj = Record<string, unknown>;

export const HOST_IP = '127.0.0.1';

export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  lastProbeTime: null;
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

function cond(type: string, ok: boolean, at: string, reason?: string, message?: string): PodCondition {
  return {
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: at,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

/** Keeps a condition's lastTransitionTime when its status did not change. */
export function keepTransitions<C extends { type: string; status: string; lastTransitionTime: string }>(
  next: C[],
  prev: readonly C[] | undefined,
): C[] {
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  });
}

export interface ContainerState {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: {
    exitCode: number;
    signal?: number;
    reason: string;
    message?: string;
    startedAt: string;
    finishedAt: string;
    containerID?: string;
  };
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: Obj;
}

export function containerStatus(
  c: { name: string; image?: string },
  state: ContainerState,
  containerID?: string,
): ContainerStatus {
  const running = state.running !== undefined;
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ...(containerID ? { containerID } : {}),
    ready: running,
    started: running,
    restartCount: 0,
    state,
    lastState: {},
  };
}

/** Scheduled but not started: waiting containers (optionally with kubelet's reason). */
export function pendingPodStatus(
  at: Date,
  containers: { name: string; image?: string }[],
  waiting: { reason: string; message?: string } = { reason: 'ContainerCreating' },
): Obj {
  const t = kubeTime(at);
  return {
    phase: 'Pending',
    hostIP: HOST_IP,
    hostIPs: [{ ip: HOST_IP }],
    startTime: t,
    conditions: [
      cond('PodReadyToStartContainers', false, t),
      cond('Initialized', true, t),
      cond(
        'Ready',
        false,
        t,
        'ContainersNotReady',
        `containers with unready status: [${containers.map((c) => c.name).join(' ')}]`,
      ),
      cond(
        'ContainersReady',
        false,
        t,
        'ContainersNotReady',
        `containers with unready status: [${containers.map((c) => c.name).join(' ')}]`,
      ),
      cond('PodScheduled', true, t),
    ],
    containerStatuses: containers.map((c) => containerStatus(c, { waiting })),
  };
}

/** Not scheduled (a PVC it needs does not exist): the scheduler's answer. */
export function unschedulablePodStatus(at: Date, message: string): Obj {
  return {
    phase: 'Pending',
    conditions: [cond('PodScheduled', false, kubeTime(at), 'Unschedulable', message)],
  };
}

export function runningPodStatus(
  startTime: Date,
  at: Date,
  containers: { c: { name: string; image?: string }; state: ContainerState; id?: string }[],
): Obj {
  const t = kubeTime(at);
  const allRunning = containers.every((x) => x.state.running);
  return {
    phase: 'Running',
    hostIP: HOST_IP,
    hostIPs: [{ ip: HOST_IP }],
    podIP: HOST_IP,
    podIPs: [{ ip: HOST_IP }],
    startTime: kubeTime(startTime),
    conditions: [
      cond('PodReadyToStartContainers', true, t),
      cond('Initialized', true, t),
      cond('Ready', allRunning, t, allRunning ? undefined : 'ContainersNotReady'),
      cond('ContainersReady', allRunning, t, allRunning ? undefined : 'ContainersNotReady'),
      cond('PodScheduled', true, t),
    ],
    containerStatuses: containers.map((x) => containerStatus(x.c, x.state, x.id)),
  };
}

export function finishedPodStatus(
  startTime: Date,
  at: Date,
  containers: { c: { name: string; image?: string }; state: ContainerState; id?: string }[],
  extra: { reason?: string; message?: string } = {},
): Obj {
  const t = kubeTime(at);
  const ok = containers.every((x) => x.state.terminated?.exitCode === 0);
  return {
    phase: ok ? 'Succeeded' : 'Failed',
    ...(extra.reason ? { reason: extra.reason } : {}),
    ...(extra.message ? { message: extra.message } : {}),
    hostIP: HOST_IP,
    hostIPs: [{ ip: HOST_IP }],
    podIP: HOST_IP,
    podIPs: [{ ip: HOST_IP }],
    startTime: kubeTime(startTime),
    conditions: [
      cond('PodReadyToStartContainers', false, t),
      cond('Initialized', true, t, 'PodCompleted'),
      cond('Ready', false, t, 'PodCompleted'),
      cond('ContainersReady', false, t, 'PodCompleted'),
      cond('PodScheduled', true, t),
    ],
    containerStatuses: containers.map((x) => containerStatus(x.c, x.state, x.id)),
  };
}

// ---------------------------------------------------------------------------------------------
// Job

export interface JobCondition {
  type: string;
  status: 'True' | 'False';
  lastProbeTime: string;
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export function jobCondition(type: string, at: Date, reason: string, message: string): JobCondition {
  const t = kubeTime(at);
  return { type, status: 'True', lastProbeTime: t, lastTransitionTime: t, reason, message };
}

export const JOB_REASONS = {
  backoffLimitExceeded: ['BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
  deadlineExceeded: ['DeadlineExceeded', 'Job was active longer than specified deadline'],
  completionsReached: ['CompletionsReached', 'Reached expected number of succeeded pods'],
} as const;

/** The interim and the terminal condition 1.32 writes together once the pods are gone. */
export function failedConditions(at: Date, why: keyof typeof JOB_REASONS): JobCondition[] {
  const [reason, message] = JOB_REASONS[why];
  return [jobCondition('FailureTarget', at, reason, message), jobCondition('Failed', at, reason, message)];
}

export function completeConditions(at: Date): JobCondition[] {
  const [reason, message] = JOB_REASONS.completionsReached;
  return [
    jobCondition('SuccessCriteriaMet', at, reason, message),
    jobCondition('Complete', at, reason, message),
  ];
}

export function isFinished(job: { status?: { conditions?: { type: string; status: string }[] } }): boolean {
  return (job.status?.conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}
