/**
 * What long-running processes (npm start, a busy function) need from the pieces they embed:
 * one connection pool to the API server, and their own signal and crash handling.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startApiServer } from '../../local/apiserver/index.ts';
import { serveFunctions } from '../../local/functions.ts';
import { ManualClock } from '../../shared/clock.ts';
import { KubeClient } from '../../shared/kube.ts';
import { silentLogger } from '../../shared/log.ts';

/** Open sockets of this process (Linux). */
function sockets(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while listed
    }
  }
  return n;
}

test('a KubeClient reuses its connections: 200 requests leave no pile of open sockets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-pool-'));
  const api = await startApiServer({ clock: new ManualClock('2030-01-01T00:00:00Z') });
  try {
    const kubeconfig = join(dir, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    const kube = await KubeClient.connect({ kubeconfig });
    await kube.list('Pod', 'default');
    const before = sockets();
    for (let i = 0; i < 200; i++) await kube.get('Pod', 'default', `p${i}`);
    // Both ends live in this process: a connection per request would add ~400 sockets.
    t.true(sockets() - before < 20, `${sockets() - before} more sockets`);
  } finally {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('serving the functions leaves the process its own crash and signal handling', async (t) => {
  const hooks = ['uncaughtException', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
  const proc: NodeJS.EventEmitter = process;
  const before = hooks.map((e) => proc.listenerCount(e));
  const dir = await mkdtemp(join(tmpdir(), 'cairn-hooks-'));
  const api = await startApiServer({ clock: new ManualClock('2030-01-01T00:00:00Z') });
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const kube = await KubeClient.connect({ kubeconfig });
  const fns = await serveFunctions({
    kube,
    clock: new ManualClock('2030-01-01T00:00:00Z'),
    log: silentLogger,
  });
  try {
    t.deepEqual(
      hooks.map((e) => proc.listenerCount(e)),
      before,
    );
    // …and the functions answer.
    const res = await fetch(fns.urls['schedule-evaluator'], { method: 'POST', body: '{}' });
    t.is(res.status >= 400 && res.status < 500, true, `status ${res.status}`);
  } finally {
    await fns.close();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
});
