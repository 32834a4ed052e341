/**
 * What the local controllers (local/jobs/, local/snapshots/) share about calling the API through
 * client-node, as Kubernetes' own controllers are clients of the API server like any other.
 */
import { ApiException, type CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { kubeTime } from '../shared/clock.ts';

/** Options that send a patch as a JSON merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The call's result, or undefined when the object does not exist (404); other errors throw. */
export async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) return undefined;
    throw e;
  }
}

/**
 * An API object as plain JSON: the typed clients turn timestamps into Dates, the controllers work
 * on the wire form.
 */
export const plain = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T;

/** The object an Event is about. */
export interface Involved {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/**
 * Records a core/v1 Event about `involved`, as the local controllers record them: seen once
 * (count 1), first and last at `at` (as metav1.Time, whole seconds), from `component` on
 * 'cairn-local'. Named `name` (the caller's unique name). Failures are ignored: an Event is
 * best-effort, as client-go's recorder treats it.
 */
export async function recordEvent(
  core: CoreV1Api,
  name: string,
  involved: Involved,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
  at: Date,
): Promise<void> {
  const time = kubeTime(at);
  await core
    .createNamespacedEvent({
      namespace: involved.namespace,
      body: {
        metadata: { name, namespace: involved.namespace },
        involvedObject: involved,
        type,
        reason,
        message,
        source: { component },
        reportingComponent: component,
        reportingInstance: 'cairn-local',
        // The wire form as metav1.Time writes it; the typed body wants a Date.
        firstTimestamp: time as unknown as Date,
        lastTimestamp: time as unknown as Date,
        count: 1,
      },
    })
    .catch(() => {});
}
