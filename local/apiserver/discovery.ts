/**
 * Discovery documents: the legacy per-group ones (/api, /api/v1, /apis, /apis/g, /apis/g/v) and
 * the aggregated apidiscovery.k8s.io/v2 lists kubectl 1.32 asks for first.
 */
import type { Registry } from './registry.ts';
import type { Json, ResourceType } from './types.ts';

export const aggregatedMediaType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether the Accept header asks for (and prefers) aggregated discovery v2. */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const p = part.replace(/\s/g, '');
    return (
      p.includes('as=APIGroupDiscoveryList') &&
      p.includes('v=v2') &&
      !p.includes('v=v2beta1') &&
      p.includes('g=apidiscovery.k8s.io')
    );
  });
}

const subresourceVerbs = ['get', 'patch', 'update'];

/** The preferred version is the highest by Kubernetes version priority (as for CRDs). */
const preferredVersion = (_r: Registry, _g: string): string | undefined => undefined;

export function apiVersions(serverAddress: string): Json {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList(registry: Registry): Json {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: registry
      .groups((g) => preferredVersion(registry, g))
      .filter((g) => g.name !== '')
      .map((g) => groupJson(g.name, g.versions, g.preferred)),
  };
}

function groupJson(name: string, versions: string[], preferred: string): { [k: string]: Json } {
  return {
    name,
    versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${name}/${preferred}`, version: preferred },
  };
}

export function apiGroup(registry: Registry, group: string): Json | undefined {
  const g = registry.groups((x) => preferredVersion(registry, x)).find((x) => x.name === group);
  if (!g || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupJson(g.name, g.versions, g.preferred) };
}

export function apiResourceList(registry: Registry, group: string, version: string): Json {
  const resources: Json[] = [];
  for (const t of registry.inGroupVersion(group, version)) {
    const r: { [k: string]: Json } = {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.verbs,
    };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    if (t.hasStatus)
      resources.push({
        name: `${t.plural}/status`,
        singularName: '',
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: subresourceVerbs,
      });
    if (group === '' && t.plural === 'pods')
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
  }
  const out: { [k: string]: Json } = { kind: 'APIResourceList' };
  if (group !== '') out.apiVersion = 'v1';
  out.groupVersion = group ? `${group}/${version}` : version;
  out.resources = resources;
  return out;
}

function discoveryResource(t: ResourceType): Json {
  const responseKind = { group: t.group, version: t.version, kind: t.kind };
  const r: { [k: string]: Json } = {
    resource: t.plural,
    responseKind,
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: t.verbs,
  };
  if (t.shortNames.length) r.shortNames = t.shortNames;
  if (t.categories.length) r.categories = t.categories;
  if (t.hasStatus) r.subresources = [{ subresource: 'status', responseKind, verbs: subresourceVerbs }];
  return r;
}

/** /api (core only) or /apis (every other group) as an APIGroupDiscoveryList. */
export function aggregated(registry: Registry, legacy: boolean): Json {
  const groups = registry
    .groups((g) => preferredVersion(registry, g))
    .filter((g) => (g.name === '') === legacy);
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: groups.map((g): Json => {
      const ordered = [g.preferred, ...g.versions.filter((v) => v !== g.preferred)];
      return {
        metadata: g.name ? { name: g.name, creationTimestamp: null } : { creationTimestamp: null },
        versions: ordered.map((v) => ({
          version: v,
          resources: registry.inGroupVersion(g.name, v).map(discoveryResource),
          freshness: 'Current',
        })),
      };
    }),
  };
}
