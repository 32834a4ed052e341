/** batch/v1 Job, with the defaults, labels and selector the real server adds. */
import { type FieldError, fieldErr } from '../errors.ts';
import { ageTable, humanDuration } from '../table.ts';
import type { KubeObject } from '../types.ts';
import { isObject } from '../types.ts';
import { defaultPodSpec, validatePodSpec } from './core.ts';
import { builtin } from './define.ts';
import { int, kindSchema, open, podTemplate } from './schemas.ts';

type Obj = Record<string, unknown>;
const sub = (o: Obj, k: string): Obj => {
  const v = o[k];
  if (isObject(v)) return v;
  const fresh: Obj = {};
  o[k] = fresh;
  return fresh;
};

function condition(o: KubeObject, type: string): boolean {
  const conds =
    isObject(o.status) && Array.isArray(o.status.conditions) ? (o.status.conditions as Obj[]) : [];
  return conds.some((c) => c.type === type && c.status === 'True');
}

/** The STATUS column of kubectl 1.32's job table. */
function jobStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  for (const t of ['Complete', 'Failed', 'FailureTarget', 'SuccessCriteriaMet', 'Suspended'])
    if (condition(o, t)) return t;
  return 'Running';
}

export const jobs = builtin({
  group: 'batch',
  version: 'v1',
  kind: 'Job',
  plural: 'jobs',
  namespaced: true,
  categories: ['all'],
  hasStatus: true,
  generation: true,
  // batch/v1 Jobs orphan their pods unless the delete says otherwise (kept for compatibility by
  // the real server, which warns about it; kubectl sends propagationPolicy=Background itself).
  defaultPropagation: 'Orphan',
  // A Job's storage sets no ReturnDeletedObject: a deletion done at once answers a Status.
  returnDeletedObject: false,
  schemaName: 'io.k8s.api.batch.v1.Job',
  schema: kindSchema('Job represents the configuration of a single job.', {
    spec: {
      type: 'object',
      description: 'Specification of the desired behavior of a job.',
      required: ['template'],
      'x-kubernetes-preserve-unknown-fields': true,
      properties: {
        template: {
          ...podTemplate,
          description: 'Describes the pod that will be created when executing a job.',
        },
        parallelism: int(
          'Specifies the maximum desired number of pods the job should run at any given time.',
        ),
        completions: int(
          'Specifies the desired number of successfully finished pods the job should be run with.',
        ),
        backoffLimit: int('Specifies the number of retries before marking this job failed. Defaults to 6'),
        activeDeadlineSeconds: {
          type: 'integer',
          format: 'int64',
          description:
            'Specifies the duration in seconds relative to the startTime that the job may be continuously active before the system tries to terminate it.',
        },
        ttlSecondsAfterFinished: int(
          'ttlSecondsAfterFinished limits the lifetime of a Job that has finished execution.',
        ),
        suspend: {
          type: 'boolean',
          description: 'suspend specifies whether the Job controller should create Pods or not.',
        },
        selector: open('A label query over pods that should match the pod count.'),
      },
    },
    status: open('Current status of a job.'),
  }),
  fieldLabels: { 'status.successful': (o) => (isObject(o.status) ? String(o.status.succeeded ?? 0) : '0') },
  defaulter: (o, old) => {
    const spec = sub(o, 'spec');
    spec.parallelism ??= 1;
    spec.completions ??= 1;
    spec.backoffLimit ??= 6;
    spec.completionMode ??= 'NonIndexed';
    spec.suspend ??= false;
    spec.podReplacementPolicy ??= 'TerminatingOrFailed';
    spec.manualSelector ??= undefined;
    if (spec.manualSelector === undefined) delete spec.manualSelector;
    const tpl = sub(spec, 'template');
    const meta = sub(tpl, 'metadata');
    const uid = o.metadata.uid!;
    if (!old && spec.manualSelector !== true) {
      spec.selector ??= { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      meta.labels = {
        ...(isObject(meta.labels) ? meta.labels : {}),
        'batch.kubernetes.io/controller-uid': uid,
        'batch.kubernetes.io/job-name': o.metadata.name!,
        'controller-uid': uid,
        'job-name': o.metadata.name!,
      };
      o.metadata.labels = {
        'batch.kubernetes.io/controller-uid': uid,
        'batch.kubernetes.io/job-name': o.metadata.name!,
        'controller-uid': uid,
        'job-name': o.metadata.name!,
        ...o.metadata.labels,
      };
    }
    defaultPodSpec(sub(tpl, 'spec'));
  },
  validator: (o, old) => {
    const out: FieldError[] = [];
    const spec = isObject(o.spec) ? o.spec : undefined;
    if (!spec || !isObject(spec.template)) return [fieldErr.required('spec.template')];
    const tspec = spec.template.spec;
    out.push(...validatePodSpec(tspec, 'spec.template.spec'));
    if (isObject(tspec)) {
      const rp = tspec.restartPolicy;
      if (rp !== 'Never' && rp !== 'OnFailure') {
        out.push(fieldErr.notSupported('spec.template.spec.restartPolicy', rp ?? '', ['OnFailure', 'Never']));
      }
    }
    if (old && isObject(old.spec)) {
      for (const f of ['template', 'selector', 'completionMode']) {
        if (JSON.stringify(spec[f]) !== JSON.stringify(old.spec[f]))
          out.push(fieldErr.invalid(`spec.${f}`, spec[f], 'field is immutable'));
      }
    }
    return out;
  },
  table: ageTable(
    [
      { name: 'Status', type: 'string', description: 'Status of the job.' },
      {
        name: 'Completions',
        type: 'string',
        description: 'The desired number of successfully finished pods the job should be run with.',
      },
      { name: 'Duration', type: 'string', description: 'Time required to complete the job.' },
    ],
    (o, now) => {
      const spec = isObject(o.spec) ? o.spec : {};
      const status = isObject(o.status) ? o.status : {};
      const completions =
        spec.completions === undefined
          ? `${status.succeeded ?? 0}/1 of ${spec.parallelism ?? 1}`
          : `${status.succeeded ?? 0}/${spec.completions}`;
      let duration = '';
      if (typeof status.startTime === 'string') {
        const end =
          typeof status.completionTime === 'string' ? Date.parse(status.completionTime) : now.getTime();
        duration = humanDuration(end - Date.parse(status.startTime));
      }
      return [jobStatus(o), completions, duration];
    },
  ),
});
