/**
 * What Knative's eventing webhook does to an ApiServerSource before the adapter runs it, so the
 * local runtime accepts and refuses the same manifests as a cluster (knative/eventing
 * pkg/apis/sources/v1/apiserver_defaults.go and apiserver_validation.go):
 *
 * - defaults: `mode` Reference, `serviceAccountName` default;
 * - validation: `mode` Reference or Resource; a sink (ref or uri); at least one resource, each with
 *   a kind and a parseable apiVersion (at most one `/`); an owner with both; and `filters` only when
 *   the `new-apiserversource-filters` feature (config-features, Alpha, off by default) is enabled.
 *
 * Messages are knative.dev/pkg FieldError texts (`invalid value: Test: spec.mode`).
 */
import type { ApiServerSourceSpec, Manifest } from './knative.ts';

/** Knative's `config-features` (knative-eventing namespace): flag name → enabled|disabled|allowed. */
export type Features = Record<string, string>;

const NEW_APISERVER_FILTERS = 'new-apiserversource-filters';

function featureEnabled(features: Features, flag: string): boolean {
  return features[flag] === 'enabled';
}

/** The flags of a `config-features` ConfigMap among the manifests, if there is one. */
export function featuresIn(manifests: Manifest[]): Features {
  const cm = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'config-features');
  const data = (cm as { data?: Record<string, string> } | undefined)?.data;
  return { ...data };
}

/** ApiServerSourceSpec.SetDefaults. */
function withApiServerSourceDefaults(spec: ApiServerSourceSpec): ApiServerSourceSpec {
  return {
    ...spec,
    mode: spec.mode || 'Reference',
    serviceAccountName: spec.serviceAccountName || 'default',
  };
}

/** schema.ParseGroupVersion accepts "", "v1" and "group/v1"; more slashes are an error. */
function parsesAsGroupVersion(apiVersion: string | undefined): boolean {
  return (apiVersion ?? '').split('/').length <= 2;
}

/** A knative.dev/pkg apis.FieldError: a message and the paths it is about. */
interface FieldError {
  message: string;
  paths: string[];
}

const render = (e: FieldError, via = '') => `${e.message}: ${e.paths.map((p) => via + p).join(', ')}`;

function specErrors(spec: ApiServerSourceSpec, features: Features): FieldError[] {
  const errs: FieldError[] = [];
  const add = (message: string, ...paths: string[]) => errs.push({ message, paths });
  if (spec.mode !== 'Reference' && spec.mode !== 'Resource') add(`invalid value: ${spec.mode ?? ''}`, 'mode');
  if (!spec.sink?.ref && !spec.sink?.uri) add('expected at least one, got none', 'sink.ref', 'sink.uri');
  const resources = spec.resources ?? [];
  if (resources.length === 0) add('missing field(s)', 'resources');
  resources.forEach((r, i) => {
    if (!parsesAsGroupVersion(r.apiVersion))
      add(`invalid value: ${r.apiVersion}`, `resources[${i}].apiVersion`);
    if (!(r.kind ?? '').trim()) add('missing field(s)', `resources[${i}].kind`);
  });
  if (spec.owner) {
    if (!parsesAsGroupVersion(spec.owner.apiVersion))
      add(`invalid value: ${spec.owner.apiVersion}`, 'owner.apiVersion');
    if (!(spec.owner.kind ?? '').trim()) add('missing field(s)', 'owner.kind');
  }
  if ((spec.filters ?? []).length > 0 && !featureEnabled(features, NEW_APISERVER_FILTERS))
    add('Filters is not empty but the NewAPIServerFilters feature is disabled.', 'filters');
  return errs;
}

/** ApiServerSourceSpec.Validate of a spec: the errors as FieldError prints them (paths relative to the spec). */
export function validateApiServerSourceSpec(spec: ApiServerSourceSpec, features: Features): string[] {
  return specErrors(spec, features).map((e) => render(e));
}

/** Defaults and validates a source as the webhook would; throws what the webhook would answer. */
export function admitApiServerSource<T extends Manifest & { spec: ApiServerSourceSpec }>(
  source: T,
  features: Features,
): T {
  const spec = withApiServerSourceDefaults(source.spec);
  const errs = specErrors(spec, features);
  if (errs.length > 0) {
    const where = `${source.metadata.namespace}/${source.metadata.name}`;
    throw new Error(`ApiServerSource ${where}: ${errs.map((e) => render(e, 'spec.')).join('\n')}`);
  }
  return { ...source, spec };
}
