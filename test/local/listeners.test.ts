/**
 * Issue 15.2: nothing the local runtime listens on can be reached from another machine. The
 * kernel's own table of this process's listening sockets is the oracle.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startLocalRuntime } from '../../local/runtime.ts';
import { ManualClock } from '../../shared/clock.ts';
import { silentLogger } from '../../shared/log.ts';
import { isLoopbackAddress, listeningSockets } from '../fixtures/listeners.ts';

test('every socket the local runtime listens on is on loopback: API emulator, Broker, the five functions', async (t) => {
  const before = new Set(listeningSockets().map((l) => l.inode));
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-listeners-'));
  const runtime = await startLocalRuntime({
    stateDir,
    apiPort: 0,
    clock: new ManualClock('2030-01-01T00:00:00Z'),
    ping: { mode: 'manual' },
    log: silentLogger,
  });
  t.teardown(async () => {
    await runtime.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  const opened = listeningSockets().filter((l) => !before.has(l.inode));
  const ports = new Set(opened.map((l) => l.port));
  // The ones the runtime says it has are among them…
  for (const url of [runtime.apiUrl!, runtime.brokerUrl, ...Object.values(runtime.functionUrls)])
    t.true(ports.has(Number(new URL(url).port)), `${url} is listening`);
  t.true(opened.length >= 7, `${opened.length} listeners`);
  // …and none of them, nor any other it opened, is reachable from elsewhere.
  t.deepEqual(
    opened.filter((l) => !isLoopbackAddress(l.address)).map((l) => `${l.address}:${l.port}`),
    [],
  );
});
