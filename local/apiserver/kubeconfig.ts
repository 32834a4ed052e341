/**
 * A kubeconfig for the emulator: its https URL with the CA that signed its certificate, and a
 * user with its bearer token, which every request must carry.
 */
import { stringify } from 'yaml';

export interface KubeconfigOptions {
  namespace?: string;
}

export function kubeconfigYaml(
  url: string,
  token: string,
  ca: string | undefined,
  opts: KubeconfigOptions = {},
): string {
  // Without a CA (a plain-http test proxy in front of the emulator), client-node needs the flag to talk http at all.
  const tls = ca
    ? { 'certificate-authority-data': Buffer.from(ca).toString('base64') }
    : { 'insecure-skip-tls-verify': true };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cairn-local', cluster: { server: url, ...tls } }],
    users: [{ name: 'cairn-local', user: { token } }],
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
