/**
 * Times as k8s.io/apimachinery writes them (meta/v1 time.go and micro_time.go, MarshalJSON):
 * a metav1.Time is RFC 3339 in UTC with whole seconds (`2026-11-29T10:35:00Z`), a MicroTime has
 * six fractional digits (`2026-11-29T10:35:00.500000Z`). A client may send either with any
 * precision or offset; what the server stores and answers is this form. Built-in kinds only: a
 * custom resource's date-time strings are kept as written, as apiextensions-apiserver keeps them.
 */
import { kubeTime } from '../../shared/clock.ts';

/** metav1.MicroTime: UTC, six digits (JavaScript dates hold milliseconds). */
export function microTimestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Field names that hold a metav1.Time in the built-in kinds the emulator serves. */
const TIME_FIELDS = new Set([
  'creationTimestamp',
  'deletionTimestamp',
  'firstTimestamp',
  'lastTimestamp',
  'startTime',
  'completionTime',
  'lastProbeTime',
  'lastTransitionTime',
  'lastHeartbeatTime',
  'lastUpdateTime',
  'startedAt',
  'finishedAt',
  'deprecatedFirstTimestamp',
  'deprecatedLastTimestamp',
]);
/** Field names that hold a metav1.MicroTime (Events, series). */
const MICRO_TIME_FIELDS = new Set(['eventTime', 'lastObservedTime']);

function reformat(v: unknown, micro: boolean): unknown {
  if (typeof v !== 'string' || v === '') return v;
  const d = new Date(v);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(v)) return v;
  if (!micro) return kubeTime(d);
  // A Date holds milliseconds; the digits after them come from the text (an offset moves whole
  // minutes, never the fraction).
  const fraction = /T\d\d:\d\d:\d\d\.(\d+)/.exec(v)?.[1] ?? '';
  return `${kubeTime(d).slice(0, -1)}.${fraction.padEnd(6, '0').slice(0, 6)}Z`;
}

/** Rewrites, in place, every metav1.Time and MicroTime of a built-in object into the server's form. */
export function normalizeTimes(value: unknown): void {
  if (Array.isArray(value)) {
    for (const x of value) normalizeTimes(x);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    if (TIME_FIELDS.has(k)) o[k] = reformat(v, false);
    else if (MICRO_TIME_FIELDS.has(k)) o[k] = reformat(v, true);
    else normalizeTimes(v);
  }
}
