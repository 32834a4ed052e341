/**
 * How much parallel work the agent's pod can take.
 *
 * - `availableCpus()`: what the pod may run on at once: the CPU affinity and the cgroup's CPU
 *   quota (a Job's `limits.cpu`), as libuv reads them; the node's CPUs when there is no limit.
 * - `restoreJobs(env)`: how many pg_restore jobs (server connections, each a backend doing COPY or
 *   CREATE INDEX) a restore runs: the Job's CPU *request*, which the Job hands the agent through
 *   the downward API (CAIRN_CPU_REQUEST, `requests.cpu` rounded up to whole CPUs by the kubelet,
 *   "0" when none is set; shared/jobs.ts), at most availableCpus(). The request and not the limit:
 *   it is what the user asked to be reserved for the restore, it exists where limits are left off
 *   (commonly, for CPU), a LimitRange's default request shows in it too, and no request means 1
 *   job — a Job without one must not open a connection per node CPU to the database.
 */
import os from 'node:os';
import { AGENT_ENV } from '../shared/agent-contract.ts';

export function availableCpus(): number {
  return Math.max(1, os.availableParallelism());
}

export function restoreJobs(env: NodeJS.ProcessEnv): number {
  const requested = Number(env[AGENT_ENV.cpuRequest]);
  if (!Number.isSafeInteger(requested) || requested < 1) return 1;
  return Math.min(requested, availableCpus());
}
