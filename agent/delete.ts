/**
 * `cairn-agent delete --key K…`: removes artifacts and their manifests for retention, with the
 * store's batched delete (S3 DeleteObjects, 1,000 keys a request). Missing objects count as
 * deleted, so a retried Job converges. Any key that could not be deleted fails the run, and the
 * retention-pruner keeps the Backups' finalizers until it succeeds.
 */
import type { AgentDeleteOptions, AgentDeleteSuccess } from '../shared/agent-contract.ts';
import { StorageError } from '../shared/errors.ts';
import type { AgentDeps } from './backup.ts';

export async function runDelete(opts: AgentDeleteOptions, deps: AgentDeps): Promise<AgentDeleteSuccess> {
  const startTime = deps.clock.now().toISOString();
  const result = await deps.store.deleteMany(opts.keys);
  if (result.errors.length > 0) {
    const first = result.errors[0];
    throw new StorageError(
      `could not delete ${result.errors.length} of ${opts.keys.length} object(s), e.g. ${first?.key}: ${first?.message}`,
    );
  }
  deps.log.info('deleted artifacts', { deleted: result.deleted.length });
  return {
    ok: true,
    command: 'delete',
    deleted: result.deleted.length,
    startTime,
    completionTime: deps.clock.now().toISOString(),
  };
}
