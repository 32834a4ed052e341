/** The allow-lists of issue 15.6: which images and ServiceAccounts a resource may make a Job use. */
import test from 'ava';
import {
  allowListFromEnv,
  imageAllowed,
  jobIdentityRefusal,
  serviceAccountAllowed,
} from '../../shared/allowlist.ts';
import { DEFAULT_AGENT_IMAGE } from '../../shared/jobs.ts';

test('by default only the agent image and the default ServiceAccount are allowed', (t) => {
  const allow = allowListFromEnv({});
  t.deepEqual(allow, { images: [DEFAULT_AGENT_IMAGE], serviceAccounts: [] });
  t.true(imageAllowed(DEFAULT_AGENT_IMAGE, allow));
  for (const image of [
    'busybox:latest',
    'ghcr.io/cairn-dev/cairn-agent:0.1.1',
    `${DEFAULT_AGENT_IMAGE}-evil`,
    'ghcr.io/cairn-dev/cairn-agent',
  ])
    t.false(imageAllowed(image, allow), image);
  t.true(serviceAccountAllowed('default', 'prod', allow));
  t.false(serviceAccountAllowed('admin', 'prod', allow));
});

test('the functions’ CAIRN_AGENT_IMAGE is allowed, and the admin adds images and ServiceAccounts', (t) => {
  const allow = allowListFromEnv({
    CAIRN_AGENT_IMAGE: 'registry.example.com/cairn-agent:0.1.0',
    CAIRN_ALLOWED_IMAGES: 'registry.example.com/mirror/cairn-agent:*, registry.example.com/pinned@sha256:abc',
    CAIRN_ALLOWED_SERVICE_ACCOUNTS: 'gcs-writer prod/backup-sa',
  });
  for (const [image, ok] of [
    ['registry.example.com/cairn-agent:0.1.0', true],
    [DEFAULT_AGENT_IMAGE, false],
    ['registry.example.com/mirror/cairn-agent:0.2.0', true],
    ['registry.example.com/mirror/cairn-agent-evil:1', false],
    ['registry.example.com/pinned@sha256:abc', true],
    ['registry.example.com/pinned@sha256:abcd', false],
  ] as const)
    t.is(imageAllowed(image, allow), ok, image);
  for (const [sa, ns, ok] of [
    ['gcs-writer', 'prod', true],
    ['gcs-writer', 'dev', true],
    ['backup-sa', 'prod', true],
    ['backup-sa', 'dev', false],
    ['prod/backup-sa', 'prod', false],
  ] as const)
    t.is(serviceAccountAllowed(sa, ns, allow), ok, `${ns}/${sa}`);
});

test('a refusal names the field, the value, what is allowed and how the admin allows more', (t) => {
  const allow = allowListFromEnv({});
  t.is(jobIdentityRefusal({}, 'prod', allow), undefined);
  t.is(
    jobIdentityRefusal({ backupImage: DEFAULT_AGENT_IMAGE, serviceAccountName: 'default' }, 'prod', allow),
    undefined,
  );
  const image = jobIdentityRefusal({ backupImage: 'busybox:latest' }, 'prod', allow);
  t.is(image?.reason, 'ImageNotAllowed');
  t.regex(image?.message ?? '', /^spec\.backupImage busybox:latest is not an image the cluster admin allows/);
  t.regex(image?.message ?? '', /CAIRN_ALLOWED_IMAGES/);
  t.true(image?.message.includes(DEFAULT_AGENT_IMAGE));
  const sa = jobIdentityRefusal({ serviceAccountName: 'admin' }, 'prod', allow);
  t.is(sa?.reason, 'ServiceAccountNotAllowed');
  t.regex(sa?.message ?? '', /^spec\.serviceAccountName admin is not a ServiceAccount .* in namespace prod/);
  t.regex(sa?.message ?? '', /prod\/admin to CAIRN_ALLOWED_SERVICE_ACCOUNTS/);
});
