/**
 * The envelope every Cairn object has (apiVersion, kind, metadata) around its spec and status,
 * and the static shape of an object of a kind.
 */
import { type TObject, Type } from '@sinclair/typebox';
import { DNS1123_LABEL } from './schema.ts';

/**
 * Names become Job names and label values, so they are DNS-1123 labels of at most 63 characters.
 * A structural schema may restrict only metadata.name and metadata.generateName; everything else in
 * metadata (labels, uid, …) is Kubernetes' own.
 */
const Metadata = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 63, pattern: DNS1123_LABEL })),
    generateName: Type.Optional(Type.String({ maxLength: 58 })),
  },
  { additionalProperties: true },
);

export function objectSchema(spec: TObject, status: TObject, description: string): TObject {
  return Type.Object(
    {
      apiVersion: Type.Optional(Type.String()),
      kind: Type.Optional(Type.String()),
      metadata: Type.Optional(Metadata),
      spec,
      status: Type.Optional(status),
    },
    { description },
  );
}

/** The metadata Cairn reads and writes; the rest passes through untouched. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  generateName?: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface CairnObject<Spec, Status, Kind extends string = string> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}
