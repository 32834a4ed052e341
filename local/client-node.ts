/**
 * What the local controllers (local/jobs/, local/snapshots/) share about calling the API through
 * client-node, as Kubernetes' own controllers are clients of the API server like any other.
 */
import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

/** Options that send a patch as a JSON merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The call's result, or undefined when the object does not exist (404); other errors throw. */
export async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiException && e.code === 404) return undefined;
    throw e;
  }
}
