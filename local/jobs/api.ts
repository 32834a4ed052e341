/**
 * The API calls of the job runner, through @kubernetes/client-node, returning plain JSON (the typed
 * clients turn timestamps into Dates; the runner works on the wire form) and `undefined` for 404.
 */
import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { type Involved, mergePatch, orUndefined, plain, recordEvent } from '../client-node.ts';
import type { Lookup } from './podenv.ts';

export type Json = Record<string, unknown>;

export interface PodJson {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    resourceVersion?: string;
  };
  spec: Json & {
    containers: Json[];
    initContainers?: Json[];
    volumes?: Json[];
    terminationGracePeriodSeconds?: number;
  };
  status?: Json & { phase?: string };
}

export interface JobJson {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  spec: Json & {
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: Json;
    };
    completions?: number | null;
    parallelism?: number;
    backoffLimit?: number;
    activeDeadlineSeconds?: number;
    ttlSecondsAfterFinished?: number;
    suspend?: boolean;
  };
  status?: JobStatus;
}

export interface JobStatus {
  startTime?: string;
  completionTime?: string;
  active?: number;
  ready?: number;
  succeeded?: number;
  failed?: number;
  terminating?: number;
  uncountedTerminatedPods?: { succeeded?: string[]; failed?: string[] };
  conditions?: {
    type: string;
    status: 'True' | 'False';
    lastProbeTime: string;
    lastTransitionTime: string;
    reason?: string;
    message?: string;
  }[];
  [k: string]: unknown;
}

export class RunnerApi implements Lookup {
  readonly #core: CoreV1Api;
  readonly #batch: BatchV1Api;

  constructor(kc: KubeConfig) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#batch = kc.makeApiClient(BatchV1Api);
  }

  async job(namespace: string, name: string): Promise<JobJson | undefined> {
    const j = await orUndefined(this.#batch.readNamespacedJob({ namespace, name }));
    return j ? plain<JobJson>(j) : undefined;
  }

  async podsOf(namespace: string, jobUid: string): Promise<PodJson[]> {
    const list = await this.#core.listNamespacedPod({
      namespace,
      labelSelector: `batch.kubernetes.io/controller-uid=${jobUid}`,
    });
    return plain<PodJson[]>(list.items);
  }

  async podsOfJobName(namespace: string, jobName: string): Promise<PodJson[]> {
    const list = await this.#core.listNamespacedPod({
      namespace,
      labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
    });
    return plain<PodJson[]>(list.items);
  }

  async createPod(namespace: string, pod: Json): Promise<PodJson> {
    return plain<PodJson>(await this.#core.createNamespacedPod({ namespace, body: pod as V1Pod }));
  }

  async patchPodStatus(namespace: string, name: string, status: Json): Promise<void> {
    await orUndefined(this.#core.patchNamespacedPodStatus({ namespace, name, body: { status } }, mergePatch));
  }

  async patchPod(namespace: string, name: string, patch: Json): Promise<void> {
    await orUndefined(this.#core.patchNamespacedPod({ namespace, name, body: patch }, mergePatch));
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await orUndefined(this.#core.deleteNamespacedPod({ namespace, name, propagationPolicy: 'Background' }));
  }

  async patchJobStatus(
    namespace: string,
    name: string,
    status: JobStatus | Record<string, unknown>,
  ): Promise<void> {
    await orUndefined(
      this.#batch.patchNamespacedJobStatus({ namespace, name, body: { status } }, mergePatch),
    );
  }

  async deleteJob(namespace: string, name: string): Promise<void> {
    await orUndefined(this.#batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }));
  }

  async secret(namespace: string, name: string): Promise<{ data?: Record<string, string> } | undefined> {
    const s = await orUndefined(this.#core.readNamespacedSecret({ namespace, name }));
    if (!s) return undefined;
    // A server that kept stringData (the real one folds it into data) still works.
    const data: Record<string, string> = { ...s.data };
    for (const [k, v] of Object.entries(s.stringData ?? {})) data[k] = Buffer.from(v).toString('base64');
    return { data };
  }

  async configMap(
    namespace: string,
    name: string,
  ): Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined> {
    const cm = await orUndefined(this.#core.readNamespacedConfigMap({ namespace, name }));
    return cm ? { data: cm.data ?? {}, binaryData: cm.binaryData ?? {} } : undefined;
  }

  async pvcExists(namespace: string, name: string): Promise<boolean> {
    return (
      (await orUndefined(this.#core.readNamespacedPersistentVolumeClaim({ namespace, name }))) !== undefined
    );
  }

  /** A core/v1 Event about an object, as the controllers record them; failures are ignored. */
  async event(
    involved: Involved & { uid: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: string,
    at: Date,
  ): Promise<void> {
    const name = `${involved.name}.${(at.getTime() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`;
    await recordEvent(this.#core, name, involved, type, reason, message, component, at);
  }
}
