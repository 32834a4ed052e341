/**
 * Issue 15.2 in a cluster, read from the manifests `func deploy` and `kubectl apply -k eventing/`
 * use (rendered by the real kubectl kustomize): every function's Knative Service is cluster-local,
 * and the NetworkPolicy lets only the Broker's delivery path reach the function pods.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { FUNCTION_NAMES } from '../functions/names.ts';
import { fromLabelSelectorObject, matchLabels } from '../local/apiserver/selectors.ts';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  namespaceSelector?: Selector;
  podSelector?: Selector;
  ipBlock?: unknown;
}
interface NetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: { podSelector: Selector; policyTypes?: string[]; ingress?: { from?: Peer[] }[] };
}
interface Pod {
  namespace: string;
  labels: Record<string, string>;
}

const selects = (sel: Selector | undefined, labels: Record<string, string>) =>
  sel === undefined || matchLabels(fromLabelSelectorObject(sel), labels);

/**
 * NetworkPolicy ingress semantics (networking.k8s.io/v1): a pod some policy selects accepts a
 * connection only from a peer one of its rules lists; a rule without `from` (or with an empty one)
 * admits every source; a peer with both selectors needs both, a podSelector alone means the
 * policy's own namespace. An ipBlock peer is about addresses, not pods: not modelled, so a policy
 * with one fails the test rather than being read as something it is not.
 */
function admits(policies: NetworkPolicy[], target: Pod, from: Pod): boolean {
  const applying = policies.filter(
    (p) =>
      p.metadata.namespace === target.namespace &&
      selects(p.spec.podSelector, target.labels) &&
      (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'),
  );
  if (applying.length === 0) return true;
  const nsLabels = { 'kubernetes.io/metadata.name': from.namespace };
  return applying.some((p) =>
    (p.spec.ingress ?? []).some((rule) => {
      if (rule.from === undefined || rule.from.length === 0) return true;
      return rule.from.some((peer) => {
        if (peer.ipBlock !== undefined)
          throw new Error(`NetworkPolicy ${p.metadata.name}: an ipBlock peer is not modelled`);
        const nsOk = peer.namespaceSelector
          ? selects(peer.namespaceSelector, nsLabels)
          : from.namespace === p.metadata.namespace;
        return nsOk && selects(peer.podSelector, from.labels);
      });
    }),
  );
}

/** The labels func deploy puts on a function's pods: deploy.labels, and Knative's own. */
async function functionPod(dir: string): Promise<{ name: string; labels: Record<string, string> }> {
  const f = parse(await readFile(`${root}${dir}func.yaml`, 'utf8')) as {
    name: string;
    deploy: { labels: { key: string; value: string }[] };
  };
  const labels = Object.fromEntries(f.deploy.labels.map((l) => [l.key, l.value]));
  return { name: f.name, labels: { ...labels, 'serving.knative.dev/service': f.name } };
}

const FUNC_DIRS = ['', ...FUNCTION_NAMES.map((n) => `functions/${n}/`)];

test('every function is deployed cluster-local (networking.knative.dev/visibility on its Knative Service)', async (t) => {
  for (const dir of FUNC_DIRS) {
    const { name, labels } = await functionPod(dir);
    t.is(labels['networking.knative.dev/visibility'], 'cluster-local', `${dir}func.yaml (${name})`);
  }
});

test('only the Broker’s delivery path may connect to a function pod', async (t) => {
  const { stdout } = await run('kubectl', ['kustomize', `${root}eventing`]);
  const policies = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind: string } & NetworkPolicy)
    .filter((d) => d.kind === 'NetworkPolicy');
  t.true(policies.length > 0, 'eventing/ has a NetworkPolicy');
  const allowed: [string, Pod][] = [
    [
      'the MT Broker filter',
      { namespace: 'knative-eventing', labels: { 'eventing.knative.dev/brokerRole': 'filter' } },
    ],
    ['the activator', { namespace: 'knative-serving', labels: { app: 'activator' } }],
    ['the autoscaler', { namespace: 'knative-serving', labels: { app: 'autoscaler' } }],
    ['the Kourier gateway', { namespace: 'kourier-system', labels: { app: '3scale-kourier-gateway' } }],
  ];
  const refused: [string, Pod][] = [
    ['a pod of an application', { namespace: 'default', labels: { app: 'web' } }],
    [
      'the Broker ingress',
      { namespace: 'knative-eventing', labels: { 'eventing.knative.dev/brokerRole': 'ingress' } },
    ],
    [
      'a filter-labelled pod elsewhere',
      { namespace: 'default', labels: { 'eventing.knative.dev/brokerRole': 'filter' } },
    ],
    ['the Knative Serving controller', { namespace: 'knative-serving', labels: { app: 'controller' } }],
    [
      'an agent Job in cairn-system',
      { namespace: 'cairn-system', labels: { 'app.kubernetes.io/managed-by': 'cairn' } },
    ],
    [
      'another function',
      {
        namespace: 'cairn-system',
        labels: { 'app.kubernetes.io/part-of': 'cairn', 'serving.knative.dev/service': 'job-watcher' },
      },
    ],
  ];
  for (const dir of FUNC_DIRS) {
    const fn = await functionPod(dir);
    const target: Pod = { namespace: 'cairn-system', labels: fn.labels };
    t.true(
      policies.some((p) => selects(p.spec.podSelector, fn.labels)),
      `a NetworkPolicy selects ${fn.name}'s pods`,
    );
    for (const [who, pod] of allowed) t.true(admits(policies, target, pod), `${who} → ${fn.name}`);
    for (const [who, pod] of refused) t.false(admits(policies, target, pod), `${who} → ${fn.name}`);
  }
  // The policy covers function pods only: the ApiServerSource adapters keep their own traffic.
  t.false(
    policies.some((p) =>
      selects(p.spec.podSelector, {
        'app.kubernetes.io/part-of': 'cairn',
        'sources.knative.dev/source': 'apiserver-source-controller',
      }),
    ),
  );
});
