/**
 * `kubectl logs` against the emulator: the job runner writes a pod's output under
 * `<stateDir>/logs/`, and the API server serves it as the pods/log subresource, so the first
 * command a person runs on a failed backup Job works locally as in a cluster.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { type ImageRule, startJobRunner } from '../../local/jobs/index.ts';
import { silentLogger } from '../../shared/log.ts';
import { eventually, startEmulator } from './apiserver-helpers.ts';

const images: ImageRule[] = [{ match: 'local/busybox', entrypoint: ['sh', '-c'] }];

const jobYaml = (name: string, script: string) =>
  JSON.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: 'default' },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'agent', image: 'local/busybox:1', args: [script] }],
        },
      },
    },
  });

test('kubectl logs reads a Job pod’s output: whole, --tail, --follow to the end; wrong containers and pods are refused', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-podlogs-'));
  const emu = await startEmulator({ podLogDir: join(stateDir, 'logs') });
  const kc = new KubeConfig();
  kc.loadFromFile(emu.kubeconfig);
  const runner = await startJobRunner({ kube: kc, stateDir, images, log: silentLogger });
  t.teardown(async () => {
    await runner.close();
    await emu.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  t.is((await emu.kubectl(['apply', '-f', '-'], jobYaml('done', 'echo one; echo two; echo three'))).code, 0);
  await eventually(async () => {
    const r = await emu.kubectl(['get', 'job', 'done', '-o', 'jsonpath={.status.succeeded}']);
    return r.stdout === '1' || undefined;
  }, 30_000);
  const all = await emu.kubectl(['logs', 'job/done']);
  t.is(all.code, 0, all.stderr);
  t.is(all.stdout, 'one\ntwo\nthree\n');
  const last = await emu.kubectl(['logs', 'job/done', '--tail=1']);
  t.is(last.stdout, 'three\n');
  const limited = await emu.kubectl(['logs', 'job/done', '--limit-bytes=4']);
  t.is(limited.stdout, 'one\n');
  const wrong = await emu.kubectl(['logs', 'job/done', '-c', 'sidecar']);
  t.not(wrong.code, 0);
  t.regex(wrong.stderr, /container sidecar is not valid for pod done-/);
  const missing = await emu.kubectl(['logs', 'nothere']);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /pods "nothere" not found/);

  // Follow: lines written while kubectl waits arrive, and kubectl exits when the pod ends.
  t.is(
    (
      await emu.kubectl(
        ['apply', '-f', '-'],
        jobYaml('slow', 'echo start; sleep 1; echo middle; sleep 1; echo end'),
      )
    ).code,
    0,
  );
  await eventually(async () => {
    const r = await emu.kubectl([
      'get',
      'pods',
      '-l',
      'job-name=slow',
      '-o',
      'jsonpath={.items[0].status.phase}',
    ]);
    return r.stdout === 'Running' || undefined;
  }, 30_000);
  const followed = await emu.kubectl(['logs', '-f', 'job/slow']);
  t.is(followed.code, 0, followed.stderr);
  t.is(followed.stdout, 'start\nmiddle\nend\n');
});
