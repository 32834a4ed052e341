/**
 * The CustomResourceDefinitions of the CSI snapshot API (`snapshot.storage.k8s.io/v1`) that the
 * local runtime serves, so VolumeSnapshots behave as in a cluster where the snapshot CRDs are
 * installed. Written here from the API's documentation (kubernetes-csi/external-snapshotter,
 * "Volume Snapshot" CRD reference and the Kubernetes docs on volume snapshots): the kinds, names,
 * scope, printer columns, the status subresource and the fields with their validation rules
 * (immutable sources, exactly one source, a non-empty class name, a bound content naming its
 * snapshot's name and namespace).
 */
import type { KubeObject } from '../../shared/kube.ts';
import { SNAPSHOT_GROUP } from '../../shared/snapshots.ts';
import { VERSION } from './api.ts';

type Schema = Record<string, unknown>;

const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  ...extra,
});
const immutable = (s: Schema, field: string): Schema => ({
  ...s,
  'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: `${field} is immutable` }],
});
const requiredOnceSet = (field: string) => ({
  rule: `!has(oldSelf.${field}) || has(self.${field})`,
  message: `${field} is required once set`,
});
const exactlyOne = (a: string, b: string) => ({
  rule: `(has(self.${a}) && !has(self.${b})) || (!has(self.${a}) && has(self.${b}))`,
  message: `exactly one of ${a} and ${b} must be set`,
});
/** A Kubernetes resource.Quantity: an int or a string such as `1Gi`. */
const quantity: Schema = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern:
    '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
  'x-kubernetes-int-or-string': true,
};
const snapshotError: Schema = obj({ message: str(), time: { type: 'string', format: 'date-time' } });
const deletionPolicy: Schema = { type: 'string', enum: ['Delete', 'Retain'] };

function crd(
  kind: string,
  plural: string,
  scope: 'Namespaced' | 'Cluster',
  shortNames: string[],
  root: Schema,
  columns: Schema[],
  status: boolean,
): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${SNAPSHOT_GROUP}` },
    spec: {
      group: SNAPSHOT_GROUP,
      scope,
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), shortNames },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              ...root,
              properties: {
                apiVersion: str(),
                kind: str(),
                metadata: { type: 'object' },
                ...(root.properties as Record<string, Schema>),
              },
            },
          },
          additionalPrinterColumns: [
            ...columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          ...(status ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}

const volumeSnapshot = crd(
  'VolumeSnapshot',
  'volumesnapshots',
  'Namespaced',
  ['vs'],
  {
    required: ['spec'],
    properties: {
      spec: obj(
        {
          source: obj(
            {
              persistentVolumeClaimName: immutable(str('the claim to snapshot'), 'persistentVolumeClaimName'),
              volumeSnapshotContentName: immutable(
                str('a pre-existing content to bind'),
                'volumeSnapshotContentName',
              ),
            },
            {
              'x-kubernetes-validations': [
                requiredOnceSet('persistentVolumeClaimName'),
                requiredOnceSet('volumeSnapshotContentName'),
                exactlyOne('volumeSnapshotContentName', 'persistentVolumeClaimName'),
              ],
            },
          ),
          volumeSnapshotClassName: {
            ...str('the class; the default class when unset'),
            'x-kubernetes-validations': [
              {
                rule: 'size(self) > 0',
                message: 'volumeSnapshotClassName must not be the empty string when set',
              },
            ],
          },
        },
        { required: ['source'] },
      ),
      status: obj({
        boundVolumeSnapshotContentName: str(),
        creationTime: { type: 'string', format: 'date-time' },
        error: snapshotError,
        readyToUse: { type: 'boolean' },
        restoreSize: quantity,
        volumeGroupSnapshotName: str(),
      }),
    },
  },
  [
    { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' },
    { name: 'SourcePVC', type: 'string', jsonPath: '.spec.source.persistentVolumeClaimName' },
    { name: 'SourceSnapshotContent', type: 'string', jsonPath: '.spec.source.volumeSnapshotContentName' },
    { name: 'RestoreSize', type: 'string', jsonPath: '.status.restoreSize' },
    { name: 'SnapshotClass', type: 'string', jsonPath: '.spec.volumeSnapshotClassName' },
    { name: 'SnapshotContent', type: 'string', jsonPath: '.status.boundVolumeSnapshotContentName' },
    { name: 'CreationTime', type: 'date', jsonPath: '.status.creationTime' },
  ],
  true,
);

const volumeSnapshotContent = crd(
  'VolumeSnapshotContent',
  'volumesnapshotcontents',
  'Cluster',
  ['vsc', 'vscs'],
  {
    required: ['spec'],
    properties: {
      spec: obj(
        {
          deletionPolicy,
          driver: str('the CSI driver'),
          source: obj(
            {
              snapshotHandle: immutable(str(), 'snapshotHandle'),
              volumeHandle: immutable(str(), 'volumeHandle'),
            },
            {
              'x-kubernetes-validations': [
                requiredOnceSet('volumeHandle'),
                requiredOnceSet('snapshotHandle'),
                exactlyOne('volumeHandle', 'snapshotHandle'),
              ],
            },
          ),
          sourceVolumeMode: immutable({ type: 'string', enum: ['Filesystem', 'Block'] }, 'sourceVolumeMode'),
          volumeSnapshotClassName: str(),
          volumeSnapshotRef: obj(
            {
              apiVersion: str(),
              fieldPath: str(),
              kind: str(),
              name: str(),
              namespace: str(),
              resourceVersion: str(),
              uid: str(),
            },
            {
              'x-kubernetes-map-type': 'atomic',
              // `namespace` is a CEL keyword: Kubernetes escapes it as __namespace__.
              'x-kubernetes-validations': [
                {
                  rule: 'has(self.name) && has(self.__namespace__)',
                  message:
                    'both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set',
                },
              ],
            },
          ),
        },
        {
          required: ['deletionPolicy', 'driver', 'source', 'volumeSnapshotRef'],
          'x-kubernetes-validations': [requiredOnceSet('sourceVolumeMode')],
        },
      ),
      status: obj({
        creationTime: { type: 'integer', format: 'int64' },
        error: snapshotError,
        readyToUse: { type: 'boolean' },
        restoreSize: { type: 'integer', format: 'int64', minimum: 0 },
        snapshotHandle: str(),
        volumeGroupSnapshotHandle: str(),
      }),
    },
  },
  [
    { name: 'ReadyToUse', type: 'boolean', jsonPath: '.status.readyToUse' },
    { name: 'RestoreSize', type: 'integer', jsonPath: '.status.restoreSize' },
    { name: 'DeletionPolicy', type: 'string', jsonPath: '.spec.deletionPolicy' },
    { name: 'Driver', type: 'string', jsonPath: '.spec.driver' },
    { name: 'VolumeSnapshotClass', type: 'string', jsonPath: '.spec.volumeSnapshotClassName' },
    { name: 'VolumeSnapshot', type: 'string', jsonPath: '.spec.volumeSnapshotRef.name' },
    { name: 'VolumeSnapshotNamespace', type: 'string', jsonPath: '.spec.volumeSnapshotRef.namespace' },
  ],
  true,
);

const volumeSnapshotClass = crd(
  'VolumeSnapshotClass',
  'volumesnapshotclasses',
  'Cluster',
  ['vsclass', 'vsclasses'],
  {
    required: ['deletionPolicy', 'driver'],
    properties: {
      deletionPolicy,
      driver: str('the CSI driver'),
      parameters: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
  [
    { name: 'Driver', type: 'string', jsonPath: '.driver' },
    { name: 'DeletionPolicy', type: 'string', jsonPath: '.deletionPolicy' },
  ],
  false,
);

/** The three snapshot CRDs, in the order they are installed. */
export const SNAPSHOT_CRDS: readonly KubeObject[] = [
  volumeSnapshotClass,
  volumeSnapshotContent,
  volumeSnapshot,
];
