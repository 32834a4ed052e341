/**
 * monitoring/: the kube-state-metrics configuration reads only status and spec paths the CRDs
 * define, and the alerts and the dashboard use only metrics (and state labels) it defines.
 */
import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';

const root = new URL('../', import.meta.url);
const read = (p: string) => readFile(new URL(p, root), 'utf8');

type Path = (string | number)[];
interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}
interface Each {
  type: 'Gauge' | 'StateSet' | 'Info';
  gauge?: { path?: Path; valueFrom?: Path; labelsFromPath?: Record<string, Path> };
  stateSet?: { path?: Path; labelName: string; list: string[] };
  info?: { path?: Path; labelsFromPath?: Record<string, Path> };
}
interface Resource {
  groupVersionKind: { group: string; version: string; kind: string };
  metricNamePrefix?: string;
  labelsFromPath?: Record<string, Path>;
  metrics: { name: string; help?: string; each: Each }[];
}

async function crdSchemas(): Promise<Map<string, Schema>> {
  const out = new Map<string, Schema>();
  for (const f of (await readdir(new URL('crds/', root))).filter((n) => n.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(await read(`crds/${f}`))) {
      const crd = d.toJS() as {
        spec: {
          group: string;
          names: { kind: string };
          versions: { name: string; schema: { openAPIV3Schema: Schema } }[];
        };
      };
      for (const v of crd.spec.versions)
        out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
    }
  }
  return out;
}

const METADATA = new Set(['name', 'namespace', 'labels', 'annotations', 'uid', 'creationTimestamp']);

/** The schema at `path` under `schema` (arrays are walked into), or a reason it is not there. */
function at(schema: Schema, path: Path): Schema | string {
  let s: Schema = schema;
  for (const [i, seg] of path.entries()) {
    if (i === 1 && path[0] === 'metadata')
      return METADATA.has(String(seg)) ? { type: 'string' } : `metadata.${seg}`;
    if (s.type === 'array' && s.items) s = s.items;
    const next = s.properties?.[String(seg)];
    if (!next) return `no ${path.slice(0, i + 1).join('.')}`;
    s = next;
  }
  return s;
}

async function ksm(): Promise<Resource[]> {
  const doc = parse(await read('monitoring/custom-resource-state.yaml')) as {
    kind: string;
    spec: { resources: Resource[] };
  };
  if (doc.kind !== 'CustomResourceStateMetrics') throw new Error('not a CustomResourceStateMetrics');
  return doc.spec.resources;
}

/** Every metric name the configuration defines, with the state labels of its StateSets. */
async function definedMetrics(): Promise<Map<string, { label: string; values: string[] } | undefined>> {
  const out = new Map<string, { label: string; values: string[] } | undefined>();
  for (const r of await ksm()) {
    const prefix = r.metricNamePrefix ?? 'kube_customresource';
    for (const m of r.metrics) {
      const s = m.each.stateSet;
      out.set(`${prefix}_${m.name}`, s ? { label: s.labelName, values: s.list } : undefined);
    }
  }
  return out;
}

test('every path the kube-state-metrics configuration reads exists in the CRD schemas', async (t) => {
  const schemas = await crdSchemas();
  const resources = await ksm();
  t.deepEqual(resources.map((r) => r.groupVersionKind.kind).sort(), [
    'Backup',
    'BackupPolicy',
    'DatabaseBackup',
  ]);
  let checked = 0;
  for (const r of resources) {
    const { group, version, kind } = r.groupVersionKind;
    const schema = schemas.get(`${group}/${version}/${kind}`);
    if (!schema) {
      t.fail(`no CRD for ${group}/${version}/${kind}`);
      continue;
    }
    const check = (base: Schema, path: Path, what: string) => {
      const s = at(base, path);
      t.not(typeof s, 'string', `${kind} ${what}: ${String(s)}`);
      checked++;
      return typeof s === 'string' ? undefined : s;
    };
    for (const [label, p] of Object.entries(r.labelsFromPath ?? {})) check(schema, p, `label ${label}`);
    for (const m of r.metrics) {
      const e = m.each;
      const spec = e.gauge ?? e.stateSet ?? e.info;
      t.truthy(spec, `${kind} ${m.name}: ${e.type} has its ${e.type.toLowerCase()} block`);
      const base = spec?.path ? check(schema, spec.path, `${m.name}.path`) : schema;
      if (!base) continue;
      const item = base.type === 'array' && base.items ? base.items : base;
      if (e.gauge?.valueFrom) check(item, e.gauge.valueFrom, `${m.name}.valueFrom`);
      const labels = e.gauge?.labelsFromPath ?? e.info?.labelsFromPath ?? {};
      for (const [label, p] of Object.entries(labels)) check(item, p, `${m.name} label ${label}`);
      if (e.stateSet) {
        const enumOf = (base as { enum?: string[] }).enum;
        t.deepEqual(
          [...e.stateSet.list].sort(),
          [...(enumOf ?? [])].sort(),
          `${kind} ${m.name}: the states are the enum`,
        );
      }
    }
  }
  t.true(checked > 20);
});

/** The metric names a PromQL expression mentions, with `{label="value"}` selectors. */
function references(expr: string): { name: string; label?: string; value?: string }[] {
  return [...expr.matchAll(/\b(cairn_[a-z0-9_]+)(?:\{(\w+)="([^"]*)"\})?/g)].map((m) => ({
    name: m[1] as string,
    ...(m[2] ? { label: m[2], value: m[3] as string } : {}),
  }));
}

async function checkExprs(t: import('ava').ExecutionContext, exprs: { where: string; expr: string }[]) {
  const defined = await definedMetrics();
  t.true(exprs.length > 0);
  for (const { where, expr } of exprs) {
    const refs = references(expr);
    t.true(refs.length > 0, `${where} references a Cairn metric`);
    for (const r of refs) {
      t.true(defined.has(r.name), `${where}: ${r.name} is defined by the kube-state-metrics configuration`);
      const state = defined.get(r.name);
      if (r.label && state) {
        t.is(r.label, state.label, `${where}: ${r.name} has the label ${state.label}`);
        t.true(
          state.values.includes(r.value ?? ''),
          `${where}: ${r.name}{${r.label}="${r.value}"} is a state`,
        );
      }
    }
  }
}

test('every alert uses only metrics and states the configuration defines, and all four alerts exist', async (t) => {
  const rule = parse(await read('monitoring/prometheus-rule.yaml')) as {
    kind: string;
    spec: { groups: { rules: { alert: string; expr: string }[] }[] };
  };
  t.is(rule.kind, 'PrometheusRule');
  const rules = rule.spec.groups.flatMap((g) => g.rules);
  t.deepEqual(rules.map((r) => r.alert).sort(), [
    'CairnBackupFailed',
    'CairnBackupOverDeadline',
    'CairnNoRecentBackup',
    'CairnVerificationFailed',
  ]);
  await checkExprs(
    t,
    rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  );
});

test('every dashboard query uses only metrics and states the configuration defines', async (t) => {
  interface Panel {
    title: string;
    targets?: { expr: string }[];
    panels?: Panel[];
  }
  const dash = JSON.parse(await read('monitoring/grafana-dashboard.json')) as { panels: Panel[] };
  const flat = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  await checkExprs(
    t,
    flat(dash.panels).flatMap((p) =>
      (p.targets ?? []).map((x) => ({ where: `panel ${p.title}`, expr: x.expr })),
    ),
  );
});

test('the checker catches a path, a metric and a state that do not exist', async (t) => {
  const schemas = await crdSchemas();
  const dbb = schemas.get('backup.cairn.dev/v1alpha1/DatabaseBackup') as Schema;
  t.is(typeof at(dbb, ['status', 'lastSuccessfulTime']), 'object');
  t.is(at(dbb, ['status', 'lastSucessfulTime']), 'no status.lastSucessfulTime');
  t.deepEqual(references('cairn_backup_phase{phase="Runing"} == 1'), [
    { name: 'cairn_backup_phase', label: 'phase', value: 'Runing' },
  ]);
  const defined = await definedMetrics();
  t.false(defined.has('cairn_databasebackup_last_sucess_timestamp_seconds'));
  t.false(defined.get('cairn_backup_phase')?.values.includes('Runing'));
});
