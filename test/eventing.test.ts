/**
 * The eventing manifests render with kubectl's kustomize, and everything in them points at
 * something that exists: each Trigger's subscriber is a function with a func.yaml, each source's
 * sink is the Broker, and the all-in-one router routes exactly what the Triggers route.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { FUNCTION_NAMES } from '../functions/names.ts';
import { ROUTES } from '../functions/router.ts';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary YAML.
type Doc = any;
async function render(dir: string): Promise<Doc[]> {
  const { stdout } = await run('kubectl', ['kustomize', `${root}${dir}`]);
  return parseAllDocuments(stdout).map((d) => d.toJS());
}

test('eventing/ renders, and every subscriber and sink exists', async (t) => {
  const docs = await render('eventing');
  const of = (kind: string) => docs.filter((d) => d.kind === kind);
  const brokers = of('Broker').map((b) => b.metadata.name);
  t.deepEqual(brokers, ['default']);
  for (const s of [...of('PingSource'), ...of('ApiServerSource')]) {
    t.like(s.spec.sink.ref, { kind: 'Broker', name: 'default' }, s.metadata.name);
  }
  for (const s of of('ApiServerSource')) t.is(s.spec.mode, 'Resource');
  const triggers = of('Trigger');
  t.true(triggers.length >= FUNCTION_NAMES.length);
  for (const tr of triggers) {
    t.true(brokers.includes(tr.spec.broker), `${tr.metadata.name} → broker ${tr.spec.broker}`);
    const fn = tr.spec.subscriber.ref.name;
    t.true((FUNCTION_NAMES as readonly string[]).includes(fn), `${tr.metadata.name} → ${fn}`);
    const funcYaml = parse(await readFile(`${root}functions/${fn}/func.yaml`, 'utf8'));
    t.is(funcYaml.name, fn);
    t.is(funcYaml.runtime, 'typescript');
    t.is(funcYaml.deploy.serviceAccountName, `${fn}-fn`);
  }
  for (const fn of FUNCTION_NAMES)
    t.true(
      triggers.some((tr) => tr.spec.subscriber.ref.name === fn),
      `${fn} has a Trigger`,
    );
  for (const d of docs)
    t.is(d.metadata.labels?.['app.kubernetes.io/part-of'], 'cairn', `${d.kind}/${d.metadata.name}`);
  // A reply of a function must not loop back into itself: no function replies with an event type its own Triggers take.
  const repliers: Record<string, string[]> = {
    'job-watcher': [
      'dev.cairn.backup.completed',
      'dev.cairn.backup.failed',
      'dev.cairn.restore.completed',
      'dev.cairn.restore.failed',
    ],
  };
  for (const [fn, types] of Object.entries(repliers)) {
    for (const tr of triggers.filter((x) => x.spec.subscriber.ref.name === fn))
      t.false(types.includes(tr.spec.filter.attributes.type));
  }
});

test('the all-in-one router routes exactly what the Triggers route', async (t) => {
  const triggers = (await render('eventing')).filter((d) => d.kind === 'Trigger');
  const fromTriggers = triggers
    .map((tr) =>
      [tr.spec.subscriber.ref.name, tr.spec.filter.attributes.type, tr.spec.filter.attributes.kind].join(' '),
    )
    .sort();
  const fromRouter = ROUTES.map(([fn, type, kind]) => [fn, type, kind].join(' ')).sort();
  t.deepEqual(fromRouter, fromTriggers);
  const allInOne = (await render('eventing/all-in-one')).filter((d) => d.kind === 'Trigger');
  t.deepEqual([...new Set(allInOne.map((tr) => tr.spec.subscriber.ref.name))], ['cairn']);
  t.is(parse(await readFile(`${root}func.yaml`, 'utf8')).name, 'cairn');
});
