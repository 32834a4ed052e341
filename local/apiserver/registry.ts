/**
 * The resources the server serves, built-in and from CRDs, looked up the ways requests need:
 * by group/version/plural (URLs), by group/version/kind (bodies, ownerReferences) and by storage.
 */
import type { ResourceType } from './types.ts';

export interface GroupInfo {
  name: string;
  versions: string[];
  preferred: string;
}

export class Registry {
  #types: ResourceType[] = [];
  /** Bumped on every change so discovery and OpenAPI documents can be cached by it. */
  generation = 0;

  add(rt: ResourceType): void {
    this.#types = this.#types.filter(
      (t) => !(t.group === rt.group && t.version === rt.version && t.plural === rt.plural),
    );
    this.#types.push(rt);
    this.generation++;
  }

  /** Removes every version served from one storage (a deleted CRD). */
  removeStorage(storage: string): void {
    this.#types = this.#types.filter((t) => t.storage !== storage);
    this.generation++;
  }

  all(): readonly ResourceType[] {
    return this.#types;
  }

  byResource(group: string, version: string, plural: string): ResourceType | undefined {
    return this.#types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  byKind(group: string, version: string, kind: string): ResourceType | undefined {
    return this.#types.find((t) => t.group === group && t.version === version && t.kind === kind);
  }

  /** Any version of a group/kind (ownerReferences name an apiVersion that may not be served). */
  byGroupKind(group: string, kind: string): ResourceType | undefined {
    return this.#types.find((t) => t.group === group && t.kind === kind);
  }

  byStorage(storage: string): ResourceType[] {
    return this.#types.filter((t) => t.storage === storage);
  }

  groupVersionExists(group: string, version: string): boolean {
    return this.#types.some((t) => t.group === group && t.version === version);
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.#types.filter((t) => t.group === group && t.version === version);
  }

  /** Groups in the order the real server lists them: core first, then by registration. */
  groups(preferredOf: (group: string) => string | undefined): GroupInfo[] {
    const out = new Map<string, GroupInfo>();
    for (const t of this.#types) {
      let g = out.get(t.group);
      if (!g) {
        g = { name: t.group, versions: [], preferred: t.version };
        out.set(t.group, g);
      }
      if (!g.versions.includes(t.version)) g.versions.push(t.version);
    }
    for (const g of out.values()) {
      g.versions.sort(compareVersions);
      g.preferred = preferredOf(g.name) ?? g.versions[0]!;
    }
    return [...out.values()];
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (v1 > v1beta2 > v1alpha1). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0, v] as const;
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0), v] as const;
  };
  const [sa, ma, na, va] = parse(a);
  const [sb, mb, nb, vb] = parse(b);
  if (sa === 0 && sb === 0) return va.localeCompare(vb);
  return sb - sa || mb - ma || nb - na;
}
