/**
 * An in-memory model of the Kubernetes API for property tests that need thousands of runs: objects
 * by kind/namespace/name with uid and resourceVersion, create-if-absent (AlreadyExists), deletion
 * with finalizers and ownerReference garbage collection, merge patches of metadata, the status
 * subresource, and Events. It offers the part of KubeClient's surface that the functions' planners
 * and `applyPlan` use, so the real gather → decide → act code runs against it; what changes is only
 * the wire. Every change is reported to `onChange`, as a watch would (ApiServerSource's deltas).
 *
 * The job runner's effect (kubelet and the Job controller) is `runJobs`: a Job gets a Pod that
 * runs, then ends Complete or Failed with the agent's termination message.
 */
import { createHash } from 'node:crypto';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../../local/apiserver/selectors.ts';
import { formatAgentResult } from '../../shared/agent-contract.ts';
import type { Clock } from '../../shared/clock.ts';
import { AlreadyExists, ApiError, Conflict } from '../../shared/errors.ts';
import { AGENT_CONTAINER } from '../../shared/jobs.ts';
import type { EventInput, KubeClient, KubeObject, ListOptions } from '../../shared/kube.ts';
import { apiVersionOf } from '../../shared/kube.ts';
import { Labels } from '../../shared/labels.ts';

export type ChangeAction = 'add' | 'update' | 'delete';
export interface Change {
  action: ChangeAction;
  object: KubeObject;
}

/** A mutable copy of a stored object (JSON: objects here are plain JSON). */
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
/** Stored objects are frozen and handed out as they are: a function that mutated one would throw. */
function freeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) freeze(x);
  }
  return v;
}
const key = (ns: string, name: string) => `${ns}/${name}`;

export interface WorldWrite {
  verb: 'create' | 'delete' | 'patch' | 'updateStatus';
  kind: string;
  namespace: string;
  name: string;
  created?: boolean;
  /** The clock's time of the write. */
  at: number;
}

export class World {
  /** Objects by kind, then by namespace/name. */
  readonly objects = new Map<string, Map<string, KubeObject>>();
  /** Every successful write, in order (creates that met AlreadyExists say created: false). */
  readonly writes: WorldWrite[] = [];
  onChange: (c: Change) => void = () => {};
  /** When set, a write after this many more writes fails with a 500 (a crash mid-plan). */
  failAfterWrites: number | undefined;
  /** How many changes a watch would have seen so far. */
  changes = 0;
  #rv = 1;
  #uid = 1;

  constructor(readonly clock: Clock) {}

  #kind(kind: string): Map<string, KubeObject> {
    const m = this.objects.get(kind) ?? new Map<string, KubeObject>();
    this.objects.set(kind, m);
    return m;
  }

  #now(): number {
    return this.clock.now().getTime();
  }

  #emit(action: ChangeAction, obj: KubeObject): void {
    this.changes++;
    this.onChange({ action, object: obj });
  }

  #budget(): void {
    if (this.failAfterWrites === undefined) return;
    if (this.failAfterWrites <= 0) throw new ApiError(500, 'injected: the function crashed mid-plan');
    this.failAfterWrites--;
  }

  all(kind?: string): KubeObject[] {
    if (kind) return [...(this.objects.get(kind)?.values() ?? [])];
    return [...this.objects.values()].flatMap((m) => [...m.values()]);
  }

  find(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(kind)?.get(key(namespace, name));
  }

  /** Creates as the API server does (the test's own writes go through here too). */
  put(kind: string, obj: KubeObject): KubeObject {
    const ns = obj.metadata.namespace ?? 'default';
    const k = key(ns, obj.metadata.name);
    if (this.#kind(kind).has(k)) throw new AlreadyExists(`${kind} ${ns}/${obj.metadata.name} already exists`);
    const stored: KubeObject = {
      ...clone(obj),
      apiVersion: apiVersionOf(kind),
      kind,
      metadata: {
        ...clone(obj.metadata),
        namespace: ns,
        uid: `uid-${this.#uid++}`,
        resourceVersion: String(this.#rv++),
        creationTimestamp: this.clock.now().toISOString(),
        generation: 1,
      },
    };
    if (kind !== 'Pod' && kind !== 'Job' && kind !== 'Event') delete stored.status;
    this.#kind(kind).set(k, freeze(stored));
    this.#emit('add', stored);
    return stored;
  }

  #store(obj: KubeObject, specChanged: boolean): KubeObject {
    obj.metadata.resourceVersion = String(this.#rv++);
    if (specChanged) obj.metadata.generation = (obj.metadata.generation ?? 1) + 1;
    if (obj.metadata.deletionTimestamp && !obj.metadata.finalizers?.length) {
      this.#remove(obj);
      return obj;
    }
    this.#kind(obj.kind ?? '').set(key(obj.metadata.namespace ?? 'default', obj.metadata.name), freeze(obj));
    this.#emit('update', obj);
    return obj;
  }

  #remove(obj: KubeObject): void {
    this.#kind(obj.kind ?? '').delete(key(obj.metadata.namespace ?? 'default', obj.metadata.name));
    this.#emit('delete', obj);
    // Background garbage collection of what the object owned.
    for (const o of [...this.all('Backup'), ...this.all('Job'), ...this.all('Pod')]) {
      if (o.metadata.ownerReferences?.some((r) => r.uid === obj.metadata.uid))
        this.remove(o.kind ?? '', o.metadata.namespace ?? 'default', o.metadata.name);
    }
  }

  /** A delete as the API server does it: finalizers hold the object with a deletionTimestamp. */
  remove(kind: string, namespace: string, name: string, uid?: string): boolean {
    const cur = this.find(kind, namespace, name);
    if (!cur) return false;
    if (uid && cur.metadata.uid !== uid) throw new Conflict(`uid precondition failed for ${name}`);
    if (cur.metadata.finalizers?.length) {
      if (!cur.metadata.deletionTimestamp) {
        const next = clone(cur);
        next.metadata.deletionTimestamp = this.clock.now().toISOString();
        this.#store(next, false);
      }
      return true;
    }
    this.#remove(cur);
    return true;
  }

  /** Replaces an object's spec (a person's `kubectl apply`). */
  updateSpec(kind: string, namespace: string, name: string, spec: Record<string, unknown>): void {
    const cur = this.find(kind, namespace, name);
    if (!cur) return;
    const next = clone(cur);
    next.spec = { ...next.spec, ...spec };
    this.#store(next, true);
  }

  /** Writes an object's status as a controller (the job runner) does. */
  setStatus(obj: KubeObject, status: Record<string, unknown>): void {
    const next = clone(obj);
    next.status = status;
    this.#store(next, false);
  }

  /** What the functions see: the KubeClient surface that gather and applyPlan use. */
  client(): KubeClient {
    const w = this;
    const requests = new Map<string, number>();
    const count = (verb: string, kind: string) =>
      requests.set(`${verb} ${kind}`, (requests.get(`${verb} ${kind}`) ?? 0) + 1);
    const kubeLike = {
      requests,
      async get(kind: string, namespace: string, name: string) {
        count('get', kind);
        const o = w.find(kind, namespace, name);
        return o;
      },
      async existing(kind: string, namespace: string, names: Iterable<string>) {
        const out: Record<string, boolean> = {};
        for (const n of names) out[n] = (await kubeLike.get(kind, namespace, n)) !== undefined;
        return out;
      },
      async list(kind: string, namespace: string | undefined, opts: ListOptions = {}) {
        count('list', kind);
        const labels = parseLabelSelector(opts.labelSelector);
        const fields = parseFieldSelector(opts.fieldSelector);
        return w
          .all(kind)
          .filter(
            (o) =>
              (namespace === undefined || o.metadata.namespace === namespace) &&
              matchLabels(labels, o.metadata.labels) &&
              matchFields(fields, (f) => (f === 'status.phase' ? o.status?.phase : undefined)),
          );
      },
      async create(kind: string, obj: KubeObject) {
        count('create', kind);
        w.#budget();
        const ns = obj.metadata.namespace ?? 'default';
        const existing = w.find(kind, ns, obj.metadata.name);
        w.writes.push({
          verb: 'create',
          kind,
          namespace: ns,
          name: obj.metadata.name,
          created: !existing,
          at: w.#now(),
        });
        if (existing) {
          count('get', kind); // KubeClient.create reads what AlreadyExists names
          return { object: existing, created: false };
        }
        return { object: w.put(kind, obj), created: true };
      },
      async updateStatus(
        kind: string,
        namespace: string,
        name: string,
        mutate: (cur: KubeObject) => KubeObject['status'] | undefined,
      ) {
        count('get', kind);
        const cur = w.find(kind, namespace, name);
        if (!cur) return undefined;
        const status = mutate(cur);
        if (status === undefined) return cur;
        count('updateStatus', kind);
        w.#budget();
        w.writes.push({ verb: 'updateStatus', kind, namespace, name, at: w.#now() });
        w.setStatus(cur, status as Record<string, unknown>);
        return w.find(kind, namespace, name);
      },
      async patch(
        kind: string,
        namespace: string,
        name: string,
        patch: { metadata?: KubeObject['metadata']; spec?: Record<string, unknown> },
      ) {
        count('patch', kind);
        w.#budget();
        const cur = w.find(kind, namespace, name);
        if (!cur) throw new ApiError(404, `patch ${kind} ${namespace}/${name}: not found`);
        w.writes.push({ verb: 'patch', kind, namespace, name, at: w.#now() });
        const next = clone(cur);
        const meta: Partial<KubeObject['metadata']> = patch.metadata ?? {};
        if (meta.labels) next.metadata.labels = { ...next.metadata.labels, ...meta.labels };
        if (meta.finalizers) next.metadata.finalizers = [...meta.finalizers];
        if (patch.spec) next.spec = { ...next.spec, ...patch.spec };
        return w.#store(next, patch.spec !== undefined);
      },
      async delete(kind: string, namespace: string, name: string, opts: { uid?: string } = {}) {
        count('delete', kind);
        w.#budget();
        w.writes.push({ verb: 'delete', kind, namespace, name, at: w.#now() });
        return w.remove(kind, namespace, name, opts.uid);
      },
      async recordEvent(involved: KubeObject, input: EventInput) {
        count('create', 'Event');
        const ns = involved.metadata.namespace ?? 'default';
        const hash = createHash('sha256')
          .update(
            `${involved.metadata.uid ?? involved.metadata.name}\u0000${input.reason}\u0000${input.message}`,
          )
          .digest('hex')
          .slice(0, 16);
        const name = `${involved.metadata.name}.${hash}`;
        const cur = w.find('Event', ns, name);
        if (cur) {
          count('get', 'Event');
          count('patch', 'Event');
        }
        if (cur) w.#kind('Event').set(key(ns, name), { ...cur, count: (cur.count ?? 1) + 1 });
        else
          w.#kind('Event').set(key(ns, name), {
            apiVersion: 'v1',
            kind: 'Event',
            metadata: { name, namespace: ns },
            involvedObject: { kind: involved.kind, name: involved.metadata.name, namespace: ns },
            type: input.type,
            reason: input.reason,
            message: input.message,
            count: 1,
          });
      },
    };
    // The planners and applyPlan use exactly these members of KubeClient; the class's private
    // HTTP fields have no in-memory counterpart, hence the cast.
    return kubeLike as unknown as KubeClient;
  }

  /**
   * One step of kubelet and the Job controller: a new Job gets a running Pod; a running one ends —
   * Complete with the agent's result, or Failed when `fails(backupName)` says so.
   */
  runJobs(fails: (backup: string) => boolean): void {
    const now = this.clock.now().toISOString();
    for (const job of this.all('Job')) {
      const ns = job.metadata.namespace ?? 'default';
      if (job.metadata.deletionTimestamp) continue;
      if ((job.status?.conditions ?? []).length > 0) continue;
      if (job.spec?.suspend) {
        // The Job controller deletes a suspended Job's Pods and says so.
        const running = this.find('Pod', ns, `${job.metadata.name}-pod`);
        if (running) this.remove('Pod', ns, running.metadata.name);
        this.setStatus(job, {
          ...job.status,
          active: 0,
          conditions: [{ type: 'Suspended', status: 'True', reason: 'JobSuspended' }],
        });
        continue;
      }
      const podName = `${job.metadata.name}-pod`;
      const labels = { ...job.metadata.labels, 'job-name': job.metadata.name };
      const ownerReferences = [
        { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid ?? '' },
      ];
      if (!job.status?.startTime) {
        this.setStatus(job, { startTime: now, active: 1 });
        const pod = this.put('Pod', {
          metadata: { name: podName, namespace: ns, labels, ownerReferences },
          spec: {},
        });
        this.setStatus(pod, { phase: 'Running' });
        continue;
      }
      const backup = job.metadata.labels?.[Labels.backup] ?? '';
      const component = job.metadata.labels?.[Labels.component];
      const isBackup = component === 'backup' || component === 'restore';
      const failed = isBackup && fails(backup);
      const sha = createHash('sha256').update(backup).digest('hex');
      const message = failed
        ? formatAgentResult({
            ok: false,
            command: 'backup',
            reason: 'SourceFailed',
            message: 'connection refused',
            exitCode: 3,
          })
        : isBackup
          ? formatAgentResult({
              ok: true,
              command: component === 'restore' ? 'restore' : 'backup',
              location: `s3://bkt/${backup}.dump.zst`,
              key: `${backup}.dump.zst`,
              manifestKey: `${backup}.manifest.json`,
              sizeBytes: 1000 + (sha.charCodeAt(0) % 7),
              rawBytes: 5000,
              sha256: sha,
              compression: 'zstd',
              startTime: String(job.status.startTime),
              completionTime: now,
              durationMs: 1000,
            })
          : formatAgentResult({
              ok: true,
              command: 'delete',
              deleted: 2,
              startTime: now,
              completionTime: now,
            });
      const pod = this.find('Pod', ns, podName);
      if (pod)
        this.setStatus(pod, {
          phase: failed ? 'Failed' : 'Succeeded',
          containerStatuses: [
            { name: AGENT_CONTAINER, state: { terminated: { exitCode: failed ? 3 : 0, message } } },
          ],
        });
      const fresh = this.find('Job', ns, job.metadata.name);
      if (fresh)
        this.setStatus(fresh, {
          startTime: job.status.startTime,
          active: 0,
          ...(failed ? { failed: 1 } : { succeeded: 1, completionTime: now }),
          conditions: [
            failed
              ? {
                  type: 'Failed',
                  status: 'True',
                  reason: 'BackoffLimitExceeded',
                  message: 'Job has reached the specified backoff limit',
                }
              : { type: 'Complete', status: 'True' },
          ],
        });
    }
  }
}
