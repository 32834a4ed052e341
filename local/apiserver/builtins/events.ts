/**
 * events.k8s.io/v1 Event: the same storage as core/v1 events, converted field by field as the
 * real server converts between the two versions (regarding ↔ involvedObject, note ↔ message…).
 */
import type { KubeObject } from '../types.ts';
import { events as coreEvents } from './core.ts';
import { builtin } from './define.ts';
import { int, kindSchema, open, str } from './schemas.ts';

const renames: Array<[core: string, v1: string]> = [
  ['involvedObject', 'regarding'],
  ['message', 'note'],
  ['reportingComponent', 'reportingController'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
];
const same = ['metadata', 'reason', 'type', 'action', 'related', 'reportingInstance', 'eventTime', 'series'];

function convert(o: KubeObject, apiVersion: string, from: 0 | 1): KubeObject {
  const out: KubeObject = { apiVersion, kind: 'Event', metadata: o.metadata };
  for (const k of same) if (o[k] !== undefined) out[k] = o[k];
  for (const pair of renames) {
    const a = pair[from];
    const b = pair[1 - from]!;
    if (o[a] !== undefined) out[b] = o[a];
  }
  return out;
}

export const eventsV1 = builtin({
  group: 'events.k8s.io',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  namespaced: true,
  shortNames: ['ev'],
  storage: 'events',
  schemaName: 'io.k8s.api.events.v1.Event',
  schema: kindSchema(
    'Event is a report of an event somewhere in the cluster.',
    {
      regarding: open('regarding contains the object this Event is about.'),
      related: open('related is the optional secondary object for more complex actions.'),
      note: str('note is a human-readable description of the status of this operation.'),
      reason: str('reason is why the action was taken.'),
      type: str('type is the type of this event (Normal, Warning).'),
      action: str('action is what action was taken/failed regarding to the regarding object.'),
      eventTime: {
        type: 'string',
        format: 'date-time',
        description: 'eventTime is the time when this Event was first observed. It is required.',
      },
      reportingController: str('reportingController is the name of the controller that emitted this Event.'),
      reportingInstance: str('reportingInstance is the ID of the controller instance.'),
      series: open('series is data about the Event series this event represents.'),
      deprecatedSource: open(
        'deprecatedSource is the deprecated field assuring backward compatibility with core.v1 Event type.',
      ),
      deprecatedFirstTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'deprecatedFirstTimestamp',
      },
      deprecatedLastTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'deprecatedLastTimestamp',
      },
      deprecatedCount: int(
        'deprecatedCount is the deprecated field assuring backward compatibility with core.v1 Event type.',
      ),
    },
    ['eventTime'],
  ),
  fieldLabels: coreEvents.fieldLabels,
  fromStorage: (o) => convert(o, 'events.k8s.io/v1', 0),
  toStorage: (o) => convert(o, 'v1', 1),
  table: coreEvents.table,
});
