/**
 * OpenAPI schemas of the built-in kinds: enough for `kubectl explain`, the OpenAPI documents and
 * strict field validation at the top levels. Deep parts keep unknown fields
 * (x-kubernetes-preserve-unknown-fields), so nothing valid is ever refused; Kubernetes' full
 * schemas run to megabytes and would add nothing the emulator checks.
 */
import type { Schema } from '../types.ts';

const str = (description: string): Schema => ({ type: 'string', description });
const int = (description: string): Schema => ({ type: 'integer', format: 'int32', description });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const strMap = (description: string): Schema => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});
const open = (description: string): Schema => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});
const list = (description: string, items: Schema, mergeKey?: string): Schema => ({
  type: 'array',
  description,
  items,
  ...(mergeKey ? { 'x-kubernetes-patch-merge-key': mergeKey, 'x-kubernetes-patch-strategy': 'merge' } : {}),
});

export const objectMetaName = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

export const objectMeta: Schema = {
  type: 'object',
  description:
    'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  properties: {
    annotations: strMap(
      'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.',
    ),
    creationTimestamp: {
      type: 'string',
      format: 'date-time',
      description:
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
    },
    deletionGracePeriodSeconds: {
      type: 'integer',
      format: 'int64',
      description:
        'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.',
    },
    deletionTimestamp: {
      type: 'string',
      format: 'date-time',
      description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.',
    },
    finalizers: {
      ...list('Must be empty before the object is deleted from the registry.', { type: 'string' }),
      'x-kubernetes-list-type': 'set',
      'x-kubernetes-patch-strategy': 'merge',
    },
    generateName: str(
      'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.',
    ),
    generation: {
      type: 'integer',
      format: 'int64',
      description: 'A sequence number representing a specific generation of the desired state.',
    },
    labels: strMap(
      'Map of string keys and values that can be used to organize and categorize (scope and select) objects.',
    ),
    managedFields: list(
      'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.',
      open('ManagedFieldsEntry'),
    ),
    name: str('Name must be unique within a namespace.'),
    namespace: str('Namespace defines the space within which each name must be unique.'),
    ownerReferences: list(
      'List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected.',
      {
        type: 'object',
        description: 'OwnerReference contains enough information to let you identify an owning object.',
        required: ['apiVersion', 'kind', 'name', 'uid'],
        properties: {
          apiVersion: str('API version of the referent.'),
          blockOwnerDeletion: bool(
            'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.',
          ),
          controller: bool('If true, this reference points to the managing controller.'),
          kind: str('Kind of the referent.'),
          name: str('Name of the referent.'),
          uid: str('UID of the referent.'),
        },
      },
      'uid',
    ),
    resourceVersion: str('An opaque value that represents the internal version of this object.'),
    selfLink: str(
      'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.',
    ),
    uid: str('UID is the unique in time and space value for this object.'),
  },
};

/** apiVersion, kind, metadata and the given fields: the shape of every top-level kind. */
export function kindSchema(description: string, fields: Record<string, Schema>, required?: string[]): Schema {
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: { ...objectMeta, description: "Standard object's metadata." },
      ...fields,
    },
    ...(required ? { required } : {}),
  };
}

const container: Schema = {
  type: 'object',
  description: 'A single application container that you want to run within a pod.',
  required: ['name'],
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    name: str('Name of the container specified as a DNS_LABEL.'),
    image: str('Container image name.'),
    command: list('Entrypoint array. Not executed within a shell.', { type: 'string' }),
    args: list('Arguments to the entrypoint.', { type: 'string' }),
    workingDir: str("Container's working directory."),
    env: list(
      'List of environment variables to set in the container.',
      open('EnvVar represents an environment variable present in a Container.'),
      'name',
    ),
    envFrom: list(
      'List of sources to populate environment variables in the container.',
      open('EnvFromSource'),
    ),
    ports: list('List of ports to expose from the container.', open('ContainerPort'), 'containerPort'),
    resources: open('Compute Resources required by this container.'),
    volumeMounts: list(
      "Pod volumes to mount into the container's filesystem.",
      open('VolumeMount'),
      'mountPath',
    ),
    securityContext: open('SecurityContext defines the security options the container should be run with.'),
    imagePullPolicy: str('Image pull policy. One of Always, Never, IfNotPresent.'),
    terminationMessagePath: str(
      "Path at which the file to which the container's termination message will be written is mounted.",
    ),
    terminationMessagePolicy: str(
      'Indicate how the termination message should be populated. File or FallbackToLogsOnError.',
    ),
  },
};

export const podSpec: Schema = {
  type: 'object',
  description: 'PodSpec is a description of a pod.',
  required: ['containers'],
  'x-kubernetes-preserve-unknown-fields': true,
  properties: {
    containers: list('List of containers belonging to the pod.', container, 'name'),
    initContainers: list('List of initialization containers belonging to the pod.', container, 'name'),
    volumes: list(
      'List of volumes that can be mounted by containers belonging to the pod.',
      open('Volume'),
      'name',
    ),
    restartPolicy: str('Restart policy for all containers within the pod. One of Always, OnFailure, Never.'),
    serviceAccountName: str('ServiceAccountName is the name of the ServiceAccount to use to run this pod.'),
    securityContext: open(
      'SecurityContext holds pod-level security attributes and common container settings.',
    ),
    nodeName: str('NodeName indicates in which node this pod is scheduled.'),
    activeDeadlineSeconds: {
      type: 'integer',
      format: 'int64',
      description: 'Optional duration in seconds the pod may be active on the node.',
    },
    terminationGracePeriodSeconds: {
      type: 'integer',
      format: 'int64',
      description: 'Optional duration in seconds the pod needs to terminate gracefully.',
    },
    imagePullSecrets: list(
      'ImagePullSecrets is an optional list of references to secrets.',
      open('LocalObjectReference'),
      'name',
    ),
  },
};

export const podTemplate: Schema = {
  type: 'object',
  description: 'PodTemplateSpec describes the data a pod should have when created from a template',
  properties: {
    metadata: { ...objectMeta, description: "Standard object's metadata." },
    spec: podSpec,
  },
};

export { bool, int, list, open, str, strMap };
