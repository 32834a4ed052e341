/** A kubeconfig for the emulator: http with insecure-skip-tls-verify (client-node refuses http otherwise), a token user. */
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  namespace?: string;
}

export function kubeconfigYaml(url: string, opts: KubeconfigOptions = {}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cairn-local', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'cairn-local', user: { token: 'cairn-local' } }],
    contexts: [
      {
        name: 'cairn-local',
        context: { cluster: 'cairn-local', user: 'cairn-local', namespace: opts.namespace ?? 'default' },
      },
    ],
    'current-context': 'cairn-local',
    preferences: {},
  });
}
