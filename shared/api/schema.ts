/**
 * Building blocks for Cairn's API schemas. The schemas are written with TypeBox so that one
 * definition gives the static type (`Static<…>`) and the CRD's openAPIV3Schema, which the API
 * server validates objects against. Only constructs a Kubernetes *structural* schema accepts are used here: no
 * unions (enums are string `enum`s), no `$ref`, `additionalProperties` only for maps.
 */
import { type TString, type TUnsafe, Type } from '@sinclair/typebox';

/** A CEL rule, as `x-kubernetes-validations` holds it. */
export interface CelRule {
  rule: string;
  message: string;
  /** Relative JSON path of the field to blame, e.g. `.bucket`. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

/** A string enum with a literal-union static type. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  opts: { default?: T[number]; description?: string } = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts });
}

/** DNS-1123 label: what Kubernetes allows for most names that become labels. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** DNS-1123 subdomain: names of Secrets, PVCs, ServiceAccounts. */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export const ObjectName = (description: string): TString =>
  Type.String({ minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN, description });

export const Timestamp = (description: string): TString => Type.String({ format: 'date-time', description });

/**
 * A five-field cron expression or a macro, as a Kubernetes CronJob accepts (no seconds field, no
 * CRON_TZ/TZ prefix: the time zone has its own field). Whether the fields are in range is checked
 * by the schedule module (`Ready=False`, reason `InvalidSchedule`), which a pattern cannot do.
 */
export const Schedule = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^\\s]+( +[^\\s]+){4})$',
  description:
    'Cron expression with five fields (minute hour day-of-month month day-of-week) or a macro such as @daily, evaluated in spec.timeZone.',
});

export const TimeZone = Type.String({
  default: 'UTC',
  maxLength: 64,
  pattern: '^[A-Za-z][A-Za-z0-9_+\\-]*(/[A-Za-z0-9_+\\-]+)*$',
  description: 'IANA time zone the schedule is evaluated in, such as Europe/Berlin. Defaults to UTC.',
});

export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(
      Type.Record(Type.String(), Type.String({ maxLength: 63 }), {
        description: 'Labels an object must all carry.',
      }),
    ),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            key: Type.String({ minLength: 1, maxLength: 317 }),
            operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
            values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'A Kubernetes label selector (matchLabels and matchExpressions, ANDed).',
    'x-kubernetes-validations': [
      {
        rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
        message: 'an empty selector would select everything: give matchLabels or matchExpressions',
      },
    ] satisfies CelRule[],
  },
);

export const SecretKeyRef = Type.Object(
  {
    name: ObjectName('Name of a Secret in the same namespace as this resource.'),
    key: Type.String({ default: 'password', minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' }),
  },
  {
    additionalProperties: false,
    description:
      "A key of a Secret in the resource's own namespace. There is no namespace field on purpose: Cairn never reads Secrets across namespaces.",
  },
);

export const Condition = Type.Object(
  {
    type: Type.String({ maxLength: 316 }),
    status: StringEnum(['True', 'False', 'Unknown']),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    lastTransitionTime: Timestamp('When the condition last changed status.'),
    reason: Type.String({ maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: Type.String({ maxLength: 32768 }),
  },
  { additionalProperties: false },
);

export const Conditions = Type.Array(Condition, {
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** A relative path of plain segments: no leading slash, no `.` or `..` segments. */
export const RelativePath = (description: string): TString =>
  Type.String({
    maxLength: 512,
    pattern: '^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$',
    'x-kubernetes-validations': [
      {
        rule: "!self.split('/').exists(s, s == '..' || s == '.')",
        message: 'must not contain . or .. segments',
      },
    ] satisfies CelRule[],
    description,
  });
