/**
 * The rules knative/func's published func.yaml schema states (`schema/func_yaml-schema.json`, which
 * func generates from the struct tags of `pkg/functions/function.go`; read at commit
 * c18d6045a1b0cb6c2b411f03082ab9ed20ba90b3, 2026-08-22), written out here as a TypeBox schema:
 * the required fields, the enums, the name and label patterns, and that no section takes fields it
 * does not declare. Re-read that file when func moves on and carry its changes over here.
 */
import { type TSchema, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const S = Type.String;
const map = () => Type.Record(S(), S());
const quantity = () => S({ pattern: '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' });

const Env = Type.Object(
  { name: Type.Optional(S({ pattern: '^[-._a-zA-Z][-._a-zA-Z0-9]*$' })), value: Type.Optional(S()) },
  strict,
);
const Label = Type.Object(
  {
    key: S({
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$',
    }),
    value: Type.Optional(S({ pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' })),
  },
  strict,
);
const opt = <T extends TSchema>(t: T) => Type.Optional(t);
const section = (props: Record<string, TSchema>) =>
  Type.Object(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, opt(v)])), strict);

const Build = section({
  git: section({ url: S(), revision: S(), contextDir: S() }),
  builderImages: map(),
  buildpacks: Type.Array(S()),
  builder: Type.Union([Type.Literal('pack'), Type.Literal('s2i')]),
  buildEnvs: Type.Array(Env),
  pvcSize: S(),
  remoteStorageClass: S(),
  baseImage: S(),
  volumes: Type.Array(Type.Object({ hostPath: S(), path: S() }, strict)),
});

const Run = section({
  volumes: Type.Array(
    section({
      secret: S(),
      configMap: S(),
      persistentVolumeClaim: section({ claimName: S(), readOnly: Type.Boolean() }),
      emptyDir: section({ medium: S(), sizeLimit: S() }),
      path: S(),
    }),
  ),
  envs: Type.Array(Env),
  startTimeout: Type.Integer(),
  kafka: Type.Object({ brokers: S(), topic: S(), consumerGroup: S() }, strict),
});

const deployer = () => Type.Union([Type.Literal('knative'), Type.Literal('raw'), Type.Literal('keda')]);

const Deploy = section({
  namespace: S(),
  image: S(),
  annotations: map(),
  options: section({
    scale: section({
      min: Type.Integer({ minimum: 0 }),
      max: Type.Integer({ minimum: 0 }),
      metric: Type.Union([Type.Literal('concurrency'), Type.Literal('rps')]),
      target: Type.Number({ minimum: 0 }),
      utilization: Type.Number({ minimum: 1, maximum: 100 }),
    }),
    resources: section({
      requests: section({ cpu: quantity(), memory: quantity() }),
      limits: section({ cpu: quantity(), memory: quantity(), concurrency: Type.Integer({ minimum: 0 }) }),
    }),
  }),
  labels: Type.Array(Label),
  healthEndpoints: section({ liveness: S(), readiness: S() }),
  serviceAccountName: S(),
  imagePullSecret: S(),
  deployer: deployer(),
  subscriptions: Type.Array(Type.Object({ source: S(), filters: opt(map()) }, strict)),
  managementDisabled: Type.Boolean(),
});

/** A func.yaml as func's schema accepts it. */
export const FuncYaml = Type.Object(
  {
    specVersion: S(),
    created: S({ format: 'date-time' }),
    name: opt(S({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' })),
    domain: opt(S()),
    runtime: opt(S()),
    registry: opt(S()),
    registryInsecure: opt(Type.Boolean()),
    image: opt(S()),
    namespace: opt(S()),
    deployer: opt(deployer()),
    invoke: opt(Type.Union([Type.Literal('http'), Type.Literal('cloudevent')])),
    build: opt(Build),
    run: opt(Run),
    deploy: opt(Deploy),
  },
  strict,
);
