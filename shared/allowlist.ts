/**
 * What a Cairn resource may make a Job run as (issue 15.6, the confused deputy). The functions
 * hold the right to create Jobs in every namespace; a user who may only write a DatabaseBackup
 * must not borrow that right to run any image as any ServiceAccount of the namespace. So
 * `backupImage` and `serviceAccountName` are checked against lists the cluster admin sets in the
 * functions' env:
 *
 * - `CAIRN_ALLOWED_IMAGES`: image references, comma- or space-separated, compared as written; an
 *   entry ending in `*` allows every reference it begins (`registry.example.com/cairn-agent:*`).
 *   The agent image the functions use by default (`CAIRN_AGENT_IMAGE`) is always allowed.
 * - `CAIRN_ALLOWED_SERVICE_ACCOUNTS`: `name` (in any namespace) or `namespace/name`. A pod with no
 *   ServiceAccount, or `default`, is always allowed.
 *
 * Written by hand: three lines of matching that no library would make clearer.
 */
import { agentImage } from './jobs.ts';

export interface JobAllowList {
  /** Exact references, or prefixes ending in `*`. */
  readonly images: readonly string[];
  /** `name` or `namespace/name`. */
  readonly serviceAccounts: readonly string[];
}

export type Env = Readonly<Record<string, string | undefined>>;

const split = (v: string | undefined) => (v ?? '').split(/[\s,]+/).filter((x) => x !== '');

let cached: { key: string; list: JobAllowList } | undefined;

/** The allow-lists of the functions' env (read once per distinct env). */
export function allowListFromEnv(env: Env = process.env): JobAllowList {
  const key = JSON.stringify([
    env.CAIRN_ALLOWED_IMAGES,
    env.CAIRN_ALLOWED_SERVICE_ACCOUNTS,
    env.CAIRN_AGENT_IMAGE,
  ]);
  if (cached?.key === key) return cached.list;
  const list: JobAllowList = {
    images: [...new Set([agentImage(env), ...split(env.CAIRN_ALLOWED_IMAGES)])],
    serviceAccounts: split(env.CAIRN_ALLOWED_SERVICE_ACCOUNTS),
  };
  cached = { key, list };
  return list;
}

export function imageAllowed(image: string, allow: JobAllowList): boolean {
  return allow.images.some((a) => (a.endsWith('*') ? image.startsWith(a.slice(0, -1)) : image === a));
}

export function serviceAccountAllowed(name: string, namespace: string, allow: JobAllowList): boolean {
  if (name === 'default') return true;
  if (name.includes('/')) return false; // not a ServiceAccount name: never let it match `namespace/name`
  return allow.serviceAccounts.some((a) => a === name || a === `${namespace}/${name}`);
}

export const NotAllowed = {
  image: 'ImageNotAllowed',
  serviceAccount: 'ServiceAccountNotAllowed',
} as const;

export interface JobIdentityRefusal {
  reason: (typeof NotAllowed)[keyof typeof NotAllowed];
  message: string;
}

/**
 * Why a resource's image or ServiceAccount may not run, or undefined when both may. `where`
 * names the resource in the message (`spec` of a policy, `spec` of a Restore…).
 */
export function jobIdentityRefusal(
  spec: { backupImage?: string | undefined; serviceAccountName?: string | undefined },
  namespace: string,
  allow: JobAllowList,
  where = 'spec',
): JobIdentityRefusal | undefined {
  const image = spec.backupImage;
  if (image !== undefined && !imageAllowed(image, allow)) {
    return {
      reason: NotAllowed.image,
      message: `${where}.backupImage ${image} is not an image the cluster admin allows Cairn's Jobs to run (allowed: ${allow.images.join(', ')}; the admin adds more with CAIRN_ALLOWED_IMAGES on the functions). Cairn's Jobs run its own agent, not a backup script: remove backupImage, or use a copy of the agent image that is allowed`,
    };
  }
  const sa = spec.serviceAccountName;
  if (sa !== undefined && !serviceAccountAllowed(sa, namespace, allow)) {
    return {
      reason: NotAllowed.serviceAccount,
      message: `${where}.serviceAccountName ${sa} is not a ServiceAccount the cluster admin allows Cairn's Jobs to run as in namespace ${namespace} (allowed: ${['default', ...allow.serviceAccounts].join(', ')}; the admin adds ${namespace}/${sa} to CAIRN_ALLOWED_SERVICE_ACCOUNTS on the functions to allow it)`,
    };
  }
  return undefined;
}
