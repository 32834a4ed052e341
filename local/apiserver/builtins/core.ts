/** The core/v1 kinds the emulator serves, with the real server's defaults and tables. */
import { type FieldError, fieldErr } from '../errors.ts';
import { age, ageTable } from '../table.ts';
import type { Json, KubeObject, ResourceType } from '../types.ts';
import { isObject } from '../types.ts';
import { builtin } from './define.ts';
import { int, kindSchema, list, open, podSpec, str, strMap } from './schemas.ts';

type Obj = Record<string, unknown>;
const obj = (o: KubeObject, k: string): Obj => {
  const v = o[k];
  if (isObject(v)) return v;
  const fresh: Obj = {};
  o[k] = fresh;
  return fresh;
};
const at = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
};
const s = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

export const namespaces = builtin({
  group: '',
  version: 'v1',
  kind: 'Namespace',
  plural: 'namespaces',
  namespaced: false,
  shortNames: ['ns'],
  hasStatus: true,
  dnsLabelName: true,
  schemaName: 'io.k8s.api.core.v1.Namespace',
  schema: kindSchema('Namespace provides a scope for Names. Use of multiple namespaces is optional.', {
    spec: {
      type: 'object',
      description: 'Spec defines the behavior of the Namespace.',
      properties: {
        finalizers: list(
          'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.',
          { type: 'string' },
        ),
      },
    },
    status: {
      type: 'object',
      description: 'Status describes the current status of a Namespace.',
      properties: {
        phase: str('Phase is the current lifecycle phase of the namespace. Active or Terminating.'),
        conditions: list(
          "Represents the latest available observations of a namespace's current state.",
          open('NamespaceCondition'),
          'type',
        ),
      },
    },
  }),
  fieldLabels: { 'status.phase': (o) => s(at(o, 'status', 'phase')) },
  defaulter: (o) => {
    o.metadata.labels = { ...o.metadata.labels, 'kubernetes.io/metadata.name': o.metadata.name! };
    const spec = obj(o, 'spec');
    spec.finalizers ??= ['kubernetes'];
    const status = obj(o, 'status');
    status.phase ??= 'Active';
  },
  table: ageTable([{ name: 'Status', type: 'string', description: 'The status of the namespace' }], (o) => [
    s(at(o, 'status', 'phase')) ?? '',
  ]),
});

export const configmaps = builtin({
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
  shortNames: ['cm'],
  schemaName: 'io.k8s.api.core.v1.ConfigMap',
  schema: kindSchema('ConfigMap holds configuration data for pods to consume.', {
    data: strMap('Data contains the configuration data.'),
    binaryData: {
      type: 'object',
      description: 'BinaryData contains the binary data.',
      additionalProperties: { type: 'string', format: 'byte' },
    },
    immutable: {
      type: 'boolean',
      description: 'Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated.',
    },
  }),
  validator: (o, old) => immutableData(o, old),
  table: ageTable(
    [{ name: 'Data', type: 'string', description: 'Data contains the configuration data.' }],
    (o) => [String(Object.keys(at(o, 'data') ?? {}).length + Object.keys(at(o, 'binaryData') ?? {}).length)],
  ),
});

function immutableData(o: KubeObject, old: KubeObject | undefined): FieldError[] {
  if (old?.immutable !== true) return [];
  const out: FieldError[] = [];
  if (o.immutable !== true)
    out.push(fieldErr.forbidden('immutable', 'field is immutable when `immutable` is set'));
  if (
    JSON.stringify(o.data) !== JSON.stringify(old.data) ||
    JSON.stringify(o.binaryData) !== JSON.stringify(old.binaryData)
  ) {
    out.push(fieldErr.forbidden('data', 'field is immutable when `immutable` is set'));
  }
  return out;
}

export const secrets = builtin({
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
  schemaName: 'io.k8s.api.core.v1.Secret',
  schema: kindSchema('Secret holds secret data of a certain type.', {
    data: {
      type: 'object',
      description:
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.",
      additionalProperties: { type: 'string', format: 'byte' },
    },
    stringData: strMap(
      'stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience.',
    ),
    type: str('Used to facilitate programmatic handling of secret data.'),
    immutable: {
      type: 'boolean',
      description: 'Immutable, if set to true, ensures that data stored in the Secret cannot be updated.',
    },
  }),
  fieldLabels: { type: (o) => s(o.type) },
  defaulter: (o) => {
    if (!o.type) o.type = 'Opaque';
    // stringData is write-only: merged into data (base64) as the real server does on write.
    if (isObject(o.stringData)) {
      const data = obj(o, 'data');
      for (const [k, v] of Object.entries(o.stringData)) data[k] = Buffer.from(String(v)).toString('base64');
      delete o.stringData;
    }
  },
  validator: (o, old) => {
    const out = immutableData(o, old);
    for (const [k, v] of Object.entries(isObject(o.data) ? o.data : {})) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
        out.push(fieldErr.invalid(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data'));
    }
    if (old && old.type !== o.type) out.push(fieldErr.invalid('type', o.type, 'field is immutable'));
    return out;
  },
  table: ageTable(
    [
      { name: 'Type', type: 'string', description: 'The type of the secret' },
      { name: 'Data', type: 'string', description: 'The number of entries in the secret' },
    ],
    (o) => [s(o.type) ?? '', String(Object.keys(at(o, 'data') ?? {}).length)],
  ),
});

export const serviceaccounts = builtin({
  group: '',
  version: 'v1',
  kind: 'ServiceAccount',
  plural: 'serviceaccounts',
  namespaced: true,
  shortNames: ['sa'],
  returnDeletedObject: true,
  schemaName: 'io.k8s.api.core.v1.ServiceAccount',
  schema: kindSchema(
    'ServiceAccount binds together a name, a principal that can be authenticated, and a set of secrets.',
    {
      automountServiceAccountToken: {
        type: 'boolean',
        description:
          'AutomountServiceAccountToken indicates whether pods running as this service account should have an API token automatically mounted.',
      },
      imagePullSecrets: list(
        'ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any images.',
        open('LocalObjectReference'),
      ),
      secrets: list(
        'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.',
        open('ObjectReference'),
        'name',
      ),
    },
  ),
  table: ageTable([{ name: 'Secrets', type: 'string', description: 'The number of secrets' }], (o) => [
    String((o.secrets as unknown[] | undefined)?.length ?? 0),
  ]),
});

let nextIp = 1;
export const services = builtin({
  group: '',
  version: 'v1',
  kind: 'Service',
  plural: 'services',
  namespaced: true,
  shortNames: ['svc'],
  categories: ['all'],
  hasStatus: true,
  dnsLabelName: true,
  returnDeletedObject: true,
  schemaName: 'io.k8s.api.core.v1.Service',
  schema: kindSchema(
    'Service is a named abstraction of software service consisting of local port that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.',
    {
      spec: {
        type: 'object',
        description: 'Spec defines the behavior of a service.',
        'x-kubernetes-preserve-unknown-fields': true,
        properties: {
          type: str('type determines how the Service is exposed. Defaults to ClusterIP.'),
          selector: strMap(
            'Route service traffic to pods with label keys and values matching this selector.',
          ),
          ports: list(
            'The list of ports that are exposed by this service.',
            open("ServicePort contains information on service's port."),
            'port',
          ),
          clusterIP: str('clusterIP is the IP address of the service.'),
        },
      },
      status: open('Most recently observed status of the service.'),
    },
  ),
  defaulter: (o, old) => {
    const spec = obj(o, 'spec');
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName') {
      const oldIp = at(old, 'spec', 'clusterIP');
      if (spec.clusterIP === undefined || spec.clusterIP === '') {
        spec.clusterIP = typeof oldIp === 'string' ? oldIp : `10.96.${(nextIp >> 8) & 255}.${nextIp++ & 255}`;
      }
      spec.clusterIPs ??= [spec.clusterIP];
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
    }
    if (Array.isArray(spec.ports)) {
      for (const p of spec.ports) {
        if (!isObject(p)) continue;
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port as Json;
      }
    }
    o.status ??= { loadBalancer: {} };
  },
  table: ageTable(
    [
      { name: 'Type', type: 'string', description: 'type determines how the Service is exposed.' },
      { name: 'Cluster-IP', type: 'string', description: 'clusterIP is the IP address of the service.' },
      { name: 'External-IP', type: 'string', description: 'externalIPs' },
      { name: 'Port(s)', type: 'string', description: 'The list of ports that are exposed by this service.' },
    ],
    (o) => {
      const ports = (at(o, 'spec', 'ports') as Obj[] | undefined) ?? [];
      return [
        s(at(o, 'spec', 'type')) ?? '',
        s(at(o, 'spec', 'clusterIP')) ?? '<none>',
        '<none>',
        ports.length ? ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') : '<none>',
      ];
    },
  ),
});

function podStatusText(o: KubeObject): string {
  let reason = s(at(o, 'status', 'reason')) ?? s(at(o, 'status', 'phase')) ?? 'Pending';
  const statuses = (at(o, 'status', 'containerStatuses') as Obj[] | undefined) ?? [];
  for (const c of statuses) {
    const waiting = s(at(c, 'state', 'waiting', 'reason'));
    const term = at(c, 'state', 'terminated');
    if (waiting) reason = waiting;
    else if (isObject(term))
      reason = s(term.reason) ?? (term.signal ? `Signal:${term.signal}` : `ExitCode:${term.exitCode}`);
  }
  if (o.metadata.deletionTimestamp) reason = 'Terminating';
  return reason;
}

export const pods = builtin({
  group: '',
  version: 'v1',
  kind: 'Pod',
  plural: 'pods',
  namespaced: true,
  shortNames: ['po'],
  categories: ['all'],
  hasStatus: true,
  returnDeletedObject: true,
  schemaName: 'io.k8s.api.core.v1.Pod',
  schema: kindSchema('Pod is a collection of containers that can run on a host.', {
    spec: podSpec,
    status: open('Most recently observed status of the pod.'),
  }),
  fieldLabels: {
    'spec.nodeName': (o) => s(at(o, 'spec', 'nodeName')),
    'spec.restartPolicy': (o) => s(at(o, 'spec', 'restartPolicy')),
    'spec.schedulerName': (o) => s(at(o, 'spec', 'schedulerName')),
    'spec.serviceAccountName': (o) => s(at(o, 'spec', 'serviceAccountName')),
    'spec.hostNetwork': (o) => String(at(o, 'spec', 'hostNetwork') === true),
    'status.phase': (o) => s(at(o, 'status', 'phase')),
    'status.podIP': (o) => s(at(o, 'status', 'podIP')),
    'status.nominatedNodeName': (o) => s(at(o, 'status', 'nominatedNodeName')),
  },
  defaulter: (o) => {
    const spec = obj(o, 'spec');
    defaultPodSpec(spec);
    const status = obj(o, 'status');
    status.phase ??= 'Pending';
    status.qosClass ??= 'BestEffort';
  },
  validator: (o, old) => {
    const out = validatePodSpec(o.spec, 'spec');
    if (old && JSON.stringify(stripMutable(o.spec)) !== JSON.stringify(stripMutable(old.spec))) {
      out.push(
        fieldErr.forbidden(
          'spec',
          'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
        ),
      );
    }
    return out;
  },
  table: {
    columns: [
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 0,
      },
      {
        name: 'Ready',
        type: 'string',
        description: 'The aggregate readiness state of this pod for accepting traffic.',
        priority: 0,
      },
      {
        name: 'Status',
        type: 'string',
        description: 'The aggregate status of the containers in this pod.',
        priority: 0,
      },
      {
        name: 'Restarts',
        type: 'string',
        description:
          'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
        priority: 0,
      },
      {
        name: 'Age',
        type: 'string',
        description:
          'CreationTimestamp is a timestamp representing the server time when this object was created.',
        priority: 0,
      },
      { name: 'IP', type: 'string', description: 'IP address allocated to the pod.', priority: 1 },
      { name: 'Node', type: 'string', description: 'Name of the Node', priority: 1 },
    ],
    cells: (o, now) => {
      const containers = (at(o, 'spec', 'containers') as unknown[] | undefined) ?? [];
      const statuses = (at(o, 'status', 'containerStatuses') as Obj[] | undefined) ?? [];
      const ready = statuses.filter((c) => c.ready === true).length;
      const restarts = statuses.reduce(
        (n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0),
        0,
      );
      return [
        o.metadata.name ?? '',
        `${ready}/${containers.length}`,
        podStatusText(o),
        String(restarts),
        age(o.metadata.creationTimestamp, now),
        s(at(o, 'status', 'podIP')) ?? '<none>',
        s(at(o, 'spec', 'nodeName')) ?? '<none>',
      ];
    },
  },
});

function stripMutable(spec: unknown): unknown {
  if (!isObject(spec)) return spec;
  const c = structuredClone(spec);
  for (const list of ['containers', 'initContainers']) {
    const l = c[list];
    if (Array.isArray(l)) for (const x of l) if (isObject(x)) delete x.image;
  }
  delete c.activeDeadlineSeconds;
  delete c.tolerations;
  delete c.terminationGracePeriodSeconds;
  return c;
}

/** The defaults the real server fills into a pod spec (and a Job's template). */
export function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  if (spec.serviceAccountName !== undefined) spec.serviceAccount ??= spec.serviceAccountName;
  for (const list of ['containers', 'initContainers']) {
    const l = spec[list];
    if (!Array.isArray(l)) continue;
    for (const c of l) {
      if (!isObject(c)) continue;
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
      if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
        const tag = c.image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(c.image)?.[1] ?? 'latest');
        c.imagePullPolicy = tag === 'latest' ? 'Always' : 'IfNotPresent';
      }
      c.resources ??= {};
      if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) p.protocol ??= 'TCP';
    }
  }
}

export function validatePodSpec(spec: unknown, path: string): FieldError[] {
  const out: FieldError[] = [];
  if (!isObject(spec)) return [fieldErr.required(path)];
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0)
    out.push(fieldErr.required(`${path}.containers`));
  const seen = new Set<string>();
  for (const list of ['initContainers', 'containers']) {
    const l = spec[list];
    if (!Array.isArray(l)) continue;
    l.forEach((c, i) => {
      const p = `${path}.${list}[${i}]`;
      if (!isObject(c)) return;
      if (typeof c.name !== 'string' || c.name === '') out.push(fieldErr.required(`${p}.name`));
      else if (seen.has(c.name)) out.push(fieldErr.duplicate(`${p}.name`, c.name));
      else seen.add(c.name);
      if (typeof c.image !== 'string' || c.image === '') out.push(fieldErr.required(`${p}.image`));
    });
  }
  const rp = spec.restartPolicy;
  if (rp !== undefined && rp !== 'Always' && rp !== 'OnFailure' && rp !== 'Never') {
    out.push(fieldErr.notSupported(`${path}.restartPolicy`, rp, ['Always', 'OnFailure', 'Never']));
  }
  return out;
}

export const persistentvolumeclaims = builtin({
  group: '',
  version: 'v1',
  kind: 'PersistentVolumeClaim',
  plural: 'persistentvolumeclaims',
  namespaced: true,
  shortNames: ['pvc'],
  hasStatus: true,
  returnDeletedObject: true,
  schemaName: 'io.k8s.api.core.v1.PersistentVolumeClaim',
  schema: kindSchema("PersistentVolumeClaim is a user's request for and claim to a persistent volume", {
    spec: {
      type: 'object',
      description: 'spec defines the desired characteristics of a volume requested by a pod author.',
      'x-kubernetes-preserve-unknown-fields': true,
      properties: {
        accessModes: list('accessModes contains the desired access modes the volume should have.', {
          type: 'string',
        }),
        resources: open('resources represents the minimum resources the volume should have.'),
        storageClassName: str('storageClassName is the name of the StorageClass required by the claim.'),
        volumeMode: str('volumeMode defines what type of volume is required by the claim.'),
        volumeName: str('volumeName is the binding reference to the PersistentVolume backing this claim.'),
      },
    },
    status: open('status represents the current information/status of a persistent volume claim.'),
  }),
  defaulter: (o) => {
    const spec = obj(o, 'spec');
    spec.volumeMode ??= 'Filesystem';
    const status = obj(o, 'status');
    status.phase ??= 'Pending';
  },
  validator: (o) => {
    const out: FieldError[] = [];
    const modes = at(o, 'spec', 'accessModes');
    if (!Array.isArray(modes) || modes.length === 0)
      out.push(fieldErr.required('spec.accessModes', 'at least 1 access mode is required'));
    if (at(o, 'spec', 'resources', 'requests', 'storage') === undefined)
      out.push(fieldErr.required('spec.resources[storage]'));
    return out;
  },
  table: ageTable(
    [
      {
        name: 'Status',
        type: 'string',
        description: 'phase represents the current phase of PersistentVolumeClaim.',
      },
      {
        name: 'Volume',
        type: 'string',
        description: 'volumeName is the binding reference to the PersistentVolume backing this claim.',
      },
      {
        name: 'Capacity',
        type: 'string',
        description: 'capacity represents the actual resources of the underlying volume.',
      },
      {
        name: 'Access Modes',
        type: 'string',
        description: 'accessModes contains the actual access modes the volume backing the PVC has.',
      },
      {
        name: 'StorageClass',
        type: 'string',
        description: 'storageClassName is the name of the StorageClass required by the claim.',
      },
      { name: 'VolumeAttributesClass', type: 'string', description: 'volumeAttributesClassName' },
    ],
    (o) => [
      s(at(o, 'status', 'phase')) ?? '',
      s(at(o, 'spec', 'volumeName')) ?? '',
      s(at(o, 'status', 'capacity', 'storage')) ?? '',
      ((at(o, 'status', 'accessModes') as string[] | undefined) ?? [])
        .map(
          (m) =>
            ({ ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' })[
              m
            ] ?? m,
        )
        .join(','),
      s(at(o, 'spec', 'storageClassName')) ?? '<unset>',
      '<unset>',
    ],
  ),
});

const eventFields = (o: KubeObject) => ({
  'involvedObject.kind': s(at(o, 'involvedObject', 'kind')),
  'involvedObject.namespace': s(at(o, 'involvedObject', 'namespace')),
  'involvedObject.name': s(at(o, 'involvedObject', 'name')),
  'involvedObject.uid': s(at(o, 'involvedObject', 'uid')),
  'involvedObject.apiVersion': s(at(o, 'involvedObject', 'apiVersion')),
  'involvedObject.resourceVersion': s(at(o, 'involvedObject', 'resourceVersion')),
  'involvedObject.fieldPath': s(at(o, 'involvedObject', 'fieldPath')),
  reason: s(o.reason),
  reportingComponent: s(o.reportingComponent),
  source: s(at(o, 'source', 'component')),
  type: s(o.type),
});

export const events = builtin({
  group: '',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  namespaced: true,
  shortNames: ['ev'],
  storage: 'events',
  schemaName: 'io.k8s.api.core.v1.Event',
  schema: kindSchema(
    'Event is a report of an event somewhere in the cluster.',
    {
      involvedObject: open('The object that this event is about.'),
      reason: str(
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
      ),
      message: str('A human-readable description of the status of this operation.'),
      type: str('Type of this event (Normal, Warning), new types could be added in the future'),
      count: int('The number of times this event has occurred.'),
      firstTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'The time at which the event was first recorded.',
      },
      lastTimestamp: {
        type: 'string',
        format: 'date-time',
        description: 'The time at which the most recent occurrence of this event was recorded.',
      },
      eventTime: {
        type: 'string',
        format: 'date-time',
        description: 'Time when this Event was first observed.',
      },
      source: open('The component reporting this event.'),
      reportingComponent: str('Name of the controller that emitted this Event.'),
      reportingInstance: str('ID of the controller instance.'),
      action: str('What action was taken/failed regarding to the Regarding object.'),
      related: open('Optional secondary object for more complex actions.'),
      series: open('Data about the Event series this event represents.'),
    },
    ['metadata', 'involvedObject'],
  ),
  fieldLabels: Object.fromEntries(
    Object.keys(eventFields({ apiVersion: '', kind: '', metadata: {} })).map((k) => [
      k,
      (o: KubeObject) => eventFields(o)[k as keyof ReturnType<typeof eventFields>],
    ]),
  ),
  validator: (o) => {
    const out: FieldError[] = [];
    if (!isObject(o.involvedObject)) out.push(fieldErr.required('involvedObject'));
    const ns = at(o, 'involvedObject', 'namespace');
    if (typeof ns === 'string' && ns !== '' && ns !== o.metadata.namespace) {
      out.push(fieldErr.invalid('involvedObject.namespace', ns, 'does not match event.namespace'));
    }
    return out;
  },
  table: {
    columns: [
      { name: 'Last Seen', type: 'string', description: 'Time when this Event was last seen', priority: 0 },
      {
        name: 'Type',
        type: 'string',
        description: 'Type of this event (Normal, Warning), new types could be added in the future.',
        priority: 0,
      },
      {
        name: 'Reason',
        type: 'string',
        description:
          'Reason is why the action was taken. It is human-readable. This field can have at most 128 characters.',
        priority: 0,
      },
      { name: 'Object', type: 'string', description: 'The object this Event is about', priority: 0 },
      {
        name: 'Message',
        type: 'string',
        description: 'A human-readable description of the status of this operation.',
        priority: 0,
      },
      {
        name: 'Name',
        type: 'string',
        format: 'name',
        description: 'Name must be unique within a namespace.',
        priority: 1,
      },
    ],
    cells: (o, now) => [
      age(s(o.lastTimestamp) ?? s(o.eventTime) ?? o.metadata.creationTimestamp, now),
      s(o.type) ?? '',
      s(o.reason) ?? '',
      `${String(at(o, 'involvedObject', 'kind') ?? '').toLowerCase()}/${s(at(o, 'involvedObject', 'name')) ?? ''}`,
      s(o.message) ?? '',
      o.metadata.name ?? '',
    ],
  },
});

export const coreTypes: ResourceType[] = [
  namespaces,
  configmaps,
  secrets,
  serviceaccounts,
  services,
  pods,
  persistentvolumeclaims,
  events,
];
