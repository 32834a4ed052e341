/**
 * Query parameters as kube-apiserver converts them into its option structs, in one place
 * (k8s.io/apimachinery/pkg/runtime/conversion.go, `Convert_Slice_string_To_bool` and
 * `_To_int64`; the first value counts when a parameter repeats):
 *
 * - a bool is false when the parameter is absent or its value is `false` or `0` (any case), and
 *   true for any other value, the empty string included: `watch=True` (what the Python client
 *   sends), `watch=yes` and `watch=` all watch;
 * - an optional bool (`*bool` fields such as `sendInitialEvents`, `orphanDependents`) is absent
 *   when the parameter is, and otherwise follows the same rule;
 * - an integer is a base-10 int64; anything else is a 400.
 */
import { statusErr } from './errors.ts';

export function optionalBoolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const lower = v.toLowerCase();
  return !(lower === 'false' || lower === '0');
}

export function boolParam(q: URLSearchParams, name: string): boolean {
  return optionalBoolParam(q, name) ?? false;
}

/** An int64 parameter; absent (or empty, which clients send for "unset") is undefined. */
export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw statusErr.badRequest(`${name}: Invalid value: "${v}": must be an integer`);
  return Number(v);
}

/**
 * The manager a write is recorded under in managedFields: the `fieldManager` parameter, else the
 * User-Agent up to its first `/`, cut to 128 characters (handlers/rest.go, prefixFromUserAgent).
 */
export function fieldManagerOf(q: URLSearchParams, userAgent: string | undefined): string {
  const asked = q.get('fieldManager');
  if (asked) {
    if (asked.length > 128)
      throw statusErr.badRequest(`fieldManager: Too long: may not be more than 128 bytes`);
    return asked;
  }
  return (userAgent ?? '').split('/')[0]!.slice(0, 128);
}
