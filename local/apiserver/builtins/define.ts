/** A compact way to declare a built-in resource with the real server's defaults filled in. */
import type { ResourceType } from '../types.ts';

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export type BuiltinSpec = Pick<
  ResourceType,
  'group' | 'version' | 'kind' | 'plural' | 'namespaced' | 'schemaName'
> &
  Partial<Omit<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'namespaced' | 'schemaName'>>;

export function builtin(s: BuiltinSpec): ResourceType {
  return {
    listKind: `${s.kind}List`,
    singular: s.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    verbs: allVerbs,
    hasStatus: false,
    storage: `${s.group}/${s.plural}`,
    builtin: true,
    generation: false,
    defaultPropagation: 'Background',
    fieldLabels: {},
    returnDeletedObject: false,
    ...s,
  };
}
