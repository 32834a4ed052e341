/** Helpers for end-to-end suites on the local runtime. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalRuntime, startLocalRuntime } from '../../local/runtime.ts';
import type { Backup } from '../../shared/api/index.ts';
import { ManualClock } from '../../shared/clock.ts';
import type { KubeObject } from '../../shared/kube.ts';
import { createLogger } from '../../shared/log.ts';

/** Polls `probe` until it returns a value (not undefined/false); fails with `what` on timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface E2E {
  runtime: LocalRuntime;
  clock: ManualClock;
  stateDir: string;
  /** Moves the clock a minute on, ticks, and waits for the Backup of that minute to finish. */
  nextRun(policy: string, namespace?: string): Promise<Backup>;
  stop(): Promise<void>;
}

/** Minute stamp of the instant, as Backup names carry it. */
const stamp = (d: Date) => d.toISOString().slice(0, 16).replace(/[-T:]/g, '');

export async function startE2E(start = '2030-01-01T00:00:30Z'): Promise<E2E> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-e2e-'));
  const clock = new ManualClock(start);
  const lines: string[] = [];
  const runtime = await startLocalRuntime({
    stateDir,
    clock,
    ping: { mode: 'manual' },
    retry: { retry: 3, backoffDelayMs: 50 },
    jobBackoffMs: 200,
    log: createLogger({}, { level: 'info', write: (l) => lines.push(l) }),
  });
  return {
    runtime,
    clock,
    stateDir,
    async nextRun(policy, namespace = 'default') {
      clock.advance(60_000);
      const minute = new Date(Math.floor(clock.now().getTime() / 60_000) * 60_000);
      await runtime.tick();
      const name = `${policy}-${stamp(minute)}`;
      return waitFor(`Backup ${name} to finish`, async () => {
        const b = await runtime.kube.get<Backup>('Backup', namespace, name);
        return b?.status?.phase === 'Completed' || b?.status?.phase === 'Failed' ? b : undefined;
      });
    },
    async stop() {
      await runtime.close();
      if (process.env.CAIRN_KEEP_E2E) {
        process.stderr.write(`kept ${stateDir}\n${lines.slice(-50).join('\n')}\n`);
      } else await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export function names(list: KubeObject[]): string[] {
  return list.map((o) => o.metadata.name).sort();
}
