import os from 'node:os';
import test from 'ava';
import { type ImageRule, imageRepository, resolveCommand } from '../../local/jobs/images.ts';
import { expand, resourceField, rewritePath } from '../../local/jobs/podenv.ts';

for (const [image, repo] of [
  ['ghcr.io/cairn-dev/cairn-agent:0.1.0', 'ghcr.io/cairn-dev/cairn-agent'],
  ['localhost:5000/cairn-agent', 'localhost:5000/cairn-agent'],
  ['localhost:5000/cairn-agent:dev@sha256:abc', 'localhost:5000/cairn-agent'],
  ['busybox', 'busybox'],
] as const) {
  test(`the repository of ${image} is ${repo}`, (t) => {
    t.is(imageRepository(image), repo);
  });
}

const rules: ImageRule[] = [
  {
    match: 'cairn-agent',
    entrypoint: ['node', 'agent/main.ts'],
    executables: { 'cairn-agent': ['node', 'agent/main.ts'] },
  },
  { match: /^local\/sh(:|$)/, entrypoint: ['sh', '-c'], cmd: ['echo default'] },
  { match: 'tools' },
  { match: 'local/busybox', commandsFromHost: true },
];

for (const [title, container, argv] of [
  [
    'args follow the entrypoint',
    { image: 'x/cairn-agent:1', args: ['backup', '--source', 'tar'] },
    ['node', 'agent/main.ts', 'backup', '--source', 'tar'],
  ],
  [
    'command replaces the entrypoint, mapped when the image names it',
    { image: 'x/cairn-agent:1', command: ['/usr/local/bin/cairn-agent'], args: ['restore'] },
    ['node', 'agent/main.ts', 'restore'],
  ],
  [
    'an unmapped command runs from the host PATH when the rule allows it',
    { image: 'local/busybox:1', command: ['pg_dump', '--version'] },
    ['pg_dump', '--version'],
  ],
  ['no args: the image CMD', { image: 'local/sh' }, ['sh', '-c', 'echo default']],
  ['a RegExp rule', { image: 'local/sh:2', args: ['exit 0'] }, ['sh', '-c', 'exit 0']],
] as const) {
  test(`image map: ${title}`, (t) => {
    const r = resolveCommand(
      { ...container } as { image: string; command?: string[]; args?: string[] },
      rules,
    );
    t.true(r.ok);
    if (r.ok) t.deepEqual(r.argv, argv);
  });
}

test('image map: an unknown image cannot run, and a rule without entrypoint needs a command', (t) => {
  t.like(resolveCommand({ image: 'nginx:1' }, rules), { ok: false, reason: 'ErrImagePull' });
  t.like(resolveCommand({ image: 'my/tools:1' }, rules), { ok: false, reason: 'CreateContainerError' });
});

test('image map: a rule matches whole repository segments, and runs only what its image maps', (t) => {
  for (const image of ['x/notcairn-agent:1', 'cairn-agent-tools', 'x/cairn-agent/extra:1'])
    t.like(resolveCommand({ image, args: ['backup'] }, rules), { ok: false, reason: 'ErrImagePull' }, image);
  t.true(resolveCommand({ image: 'cairn-agent', args: ['backup'] }, rules).ok);
  t.deepEqual(resolveCommand({ image: 'x/cairn-agent:1', command: ['sh', '-c', 'id'] }, rules), {
    ok: false,
    reason: 'StartError',
    message: 'exec: "sh": executable file not found in $PATH',
  });
});

const mounts = [
  { mountPath: '/backup/deep', hostPath: '/state/deep' },
  { mountPath: '/backup', hostPath: '/state/volumes/ns/store' },
  { mountPath: '/dev/termination-log', hostPath: '/state/pods/p/termination-log' },
];

for (const [value, rewritten] of [
  ['/backup', '/state/volumes/ns/store'],
  ['/backup/postgres/x.dump', '/state/volumes/ns/store/postgres/x.dump'],
  ['/backup/deep/a', '/state/deep/a'],
  ['/backups/other', '/backups/other'],
  ['--root=/backup/x', '--root=/state/volumes/ns/store/x'],
  ['-o=/backup', '-o=/state/volumes/ns/store'],
  ['/dev/termination-log', '/state/pods/p/termination-log'],
  ['relative/backup', 'relative/backup'],
  ['echo /backup', 'echo /backup'],
] as const) {
  test(`path rewrite: ${value} → ${rewritten}`, (t) => {
    t.is(rewritePath(value, mounts), rewritten);
  });
}

for (const [value, out] of [
  ['$(A)-$(B)', 'a-$(B)'],
  ['$$(A)', '$(A)'],
  ['$$', '$'],
  ['plain $A', 'plain $A'],
] as const) {
  test(`env expansion: ${value} → ${out}`, (t) => {
    t.is(expand(value, { A: 'a' }), out);
  });
}

// kubelet's resourceFieldRef values: rows of TestExtractResourceValue in kubernetes/kubernetes,
// pkg/api/v1/resource/helpers_test.go (container "foo").
for (const [resource, divisor, resources, value] of [
  ['limits.cpu', undefined, { limits: { cpu: '9' } }, '9'],
  ['requests.cpu', undefined, {}, '0'],
  ['requests.cpu', undefined, { requests: { cpu: '8' } }, '8'],
  ['requests.cpu', undefined, { requests: { cpu: '100m' } }, '1'],
  ['requests.cpu', '100m', { requests: { cpu: '1200m' } }, '12'],
  ['requests.memory', undefined, { requests: { memory: '100Mi' } }, '104857600'],
  ['requests.memory', '1Mi', { requests: { memory: '100Mi' }, limits: { memory: '1Gi' } }, '100'],
  ['limits.memory', undefined, { requests: { memory: '10Mi' }, limits: { memory: '100Mi' } }, '104857600'],
] as const) {
  test(`resourceFieldRef ${resource}${divisor ? ` / ${divisor}` : ''} of ${JSON.stringify(resources)} is ${value}`, (t) => {
    const c = { name: 'foo', resources };
    t.is(resourceField(c, 'X', { resource, ...(divisor ? { divisor } : {}) }), value);
  });
}

test('resourceFieldRef: an unset CPU limit is the node allocatable, here this machine', (t) => {
  t.is(resourceField({ name: 'foo' }, 'X', { resource: 'limits.cpu' }), String(os.availableParallelism()));
});

test('resourceFieldRef: another container or another resource is a CreateContainerConfigError', (t) => {
  const c = { name: 'agent' };
  t.throws(() => resourceField(c, 'X', { containerName: 'other', resource: 'requests.cpu' }), {
    message: /names container other/,
  });
  t.throws(() => resourceField(c, 'X', { resource: 'requests.ephemeral-storage' }), {
    message: /not supported locally/,
  });
});
