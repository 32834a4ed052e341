/**
 * Decoding of Kubernetes protobuf request bodies for the few kinds kubectl's generators send that
 * way (`kubectl create namespace|secret|configmap|serviceaccount` use typed clients whose content
 * type is application/vnd.kubernetes.protobuf). Answers are always JSON, which those clients also
 * accept. Hand-written: the wire format is small, and no npm package ships Kubernetes' .proto
 * descriptors; the field numbers below are those of k8s.io/api's generated.proto files.
 */

import { kubeTime } from '../../shared/clock.ts';
import { statusErr } from './errors.ts';

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | Descriptor | { map: 'string' | 'bytes' };
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
}
type Descriptor = Record<number, Field>;

const time: FieldType = 'time';
const ownerReference: Descriptor = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};
const objectMeta: Descriptor = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: time },
  9: { name: 'deletionTimestamp', type: time },
  10: { name: 'deletionGracePeriodSeconds', type: 'int' },
  11: { name: 'labels', type: { map: 'string' } },
  12: { name: 'annotations', type: { map: 'string' } },
  13: { name: 'ownerReferences', type: ownerReference, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};
const localObjectReference: Descriptor = { 1: { name: 'name', type: 'string' } };
const objectReference: Descriptor = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'namespace', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
};

const kinds: Record<string, Descriptor> = {
  'v1/Namespace': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
  },
  'v1/Secret': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'data', type: { map: 'bytes' } },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: { map: 'string' } },
    5: { name: 'immutable', type: 'bool' },
  },
  'v1/ConfigMap': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'data', type: { map: 'string' } },
    3: { name: 'binaryData', type: { map: 'bytes' } },
    4: { name: 'immutable', type: 'bool' },
  },
  'v1/ServiceAccount': {
    1: { name: 'metadata', type: objectMeta },
    2: { name: 'secrets', type: objectReference, repeated: true },
    3: { name: 'imagePullSecrets', type: localObjectReference, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool' },
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done() {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeMessage(buf: Buffer, d: Descriptor): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const tag = Number(r.varint());
    const no = tag >> 3;
    const wire = tag & 7;
    const f = d[no];
    if (!f) {
      r.skip(wire);
      continue;
    }
    const value = decodeValue(r, wire, f.type);
    if (typeof f.type === 'object' && 'map' in f.type) {
      const [k, v] = value as [string, unknown];
      out[f.name] = { ...(out[f.name] as Record<string, unknown> | undefined), [k]: v };
    } else if (f.repeated) out[f.name] = [...((out[f.name] as unknown[] | undefined) ?? []), value];
    else if (value === '' || value === 0 || value === false) delete out[f.name];
    // Go writes zero values of non-pointer fields; as JSON's omitempty would, they mean "unset".
    else out[f.name] = value;
  }
  return out;
}

function decodeValue(r: Reader, wire: number, t: FieldType): unknown {
  if (t === 'int') return Number(BigInt.asIntN(64, r.varint()));
  if (t === 'bool') return r.varint() !== 0n;
  if (wire !== 2) throw new Error('unexpected wire type');
  const raw = r.bytes();
  if (t === 'string') return raw.toString('utf8');
  if (t === 'bytes') return raw.toString('base64');
  if (t === 'time') {
    const m = decodeMessage(raw, { 1: { name: 'seconds', type: 'int' }, 2: { name: 'nanos', type: 'int' } });
    return kubeTime(new Date(Number(m.seconds ?? 0) * 1000));
  }
  if ('map' in t) {
    const e = decodeMessage(raw, { 1: { name: 'k', type: 'string' }, 2: { name: 'v', type: t.map } });
    return [e.k ?? '', e.v ?? (t.map === 'bytes' ? '' : '')];
  }
  return decodeMessage(raw, t);
}

const deleteOptions: Descriptor = {
  1: { name: 'gracePeriodSeconds', type: 'int' },
  2: {
    name: 'preconditions',
    type: { 1: { name: 'uid', type: 'string' }, 2: { name: 'resourceVersion', type: 'string' } },
  },
  3: { name: 'orphanDependents', type: 'bool' },
  4: { name: 'propagationPolicy', type: 'string' },
  5: { name: 'dryRun', type: 'string', repeated: true },
};

const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a `k8s\0` + runtime.Unknown envelope into the JSON object it carries. */
export function decodeKubeProtobuf(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(magic))
    throw statusErr.badRequest('provided protobuf is not a Kubernetes object (missing magic prefix)');
  try {
    const env = decodeMessage(body.subarray(4), {
      1: {
        name: 'typeMeta',
        type: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } },
      },
      2: { name: 'raw', type: 'bytes' },
    });
    const tm = (env.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
    const d = tm.kind === 'DeleteOptions' ? deleteOptions : kinds[`${tm.apiVersion}/${tm.kind}`];
    if (!d) {
      throw statusErr.unsupportedMediaType(
        'application/json, application/yaml (protobuf only for Namespace, Secret, ConfigMap and ServiceAccount)',
      );
    }
    const obj = decodeMessage(Buffer.from(String(env.raw ?? ''), 'base64'), d);
    return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj };
  } catch (e) {
    if (e instanceof Error && e.name === 'StatusError') throw e;
    throw statusErr.badRequest(`error decoding protobuf body: ${e instanceof Error ? e.message : String(e)}`);
  }
}
