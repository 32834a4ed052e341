/** The job-launcher ↔ agent contract: argv both ways, key names, the termination message. */
import test from 'ava';
import fc from 'fast-check';
import {
  type AgentBackupOptions,
  type AgentOptions,
  type AgentRestoreOptions,
  artifactKeys,
  formatAgentResult,
  parseAgentArgs,
  parseAgentResult,
  TERMINATION_MESSAGE_LIMIT,
  toAgentArgs,
} from '../../shared/agent-contract.ts';

const backups: AgentBackupOptions[] = [
  {
    command: 'backup',
    source: {
      kind: 'postgres',
      host: 'pg.default.svc',
      port: 5432,
      user: 'backup',
      database: 'app',
      schemas: ['billing', 'Odd "name"'],
    },
    destination: {
      type: 's3',
      bucket: 'my-database-backups',
      path: 'postgres/daily',
      endpoint: 'http://minio:9000',
      forcePathStyle: true,
      region: 'eu-1',
    },
    policy: 'postgres-daily-backup',
    scheduledTime: '2025-03-27T01:00:00Z',
    backupName: 'postgres-daily-backup-202503270100',
    compression: 'zstd',
    compressionLevel: 5,
  },
  {
    command: 'backup',
    source: { kind: 'mariadb', host: 'db', allDatabases: true },
    destination: { type: 'gcs', bucket: 'b' },
    policy: 'p',
    scheduledTime: '2025-03-27T01:00:00Z',
    compression: 'gzip',
    terminationLog: '/tmp/tl',
    progressIntervalSeconds: 10,
  },
  {
    command: 'backup',
    source: { kind: 'tar', paths: ['/data/a', '/data/-odd'] },
    destination: { type: 'pvc', root: '/backup', path: 'vols' },
    policy: 'vols',
    scheduledTime: '2025-03-27T01:00:00Z',
    compression: 'none',
  },
  {
    command: 'backup',
    source: {
      kind: 'custom',
      command: ['etcdctl', 'snapshot', 'save', '-', '--endpoints=x'],
      extension: 'db',
    },
    destination: { type: 'pvc', root: '/backup' },
    policy: 'etcd',
    scheduledTime: '2025-03-27T01:00:00Z',
    compression: 'zstd',
    encryption: 'age',
  },
];
const restores: AgentRestoreOptions[] = [
  {
    command: 'restore',
    manifestKey: 'postgres/daily/p/20250327T010000Z.manifest.json',
    target: { kind: 'postgres', host: 'pg', port: 5433, user: 'u', database: 'copy' },
    destination: { type: 's3', bucket: 'b', checksums: 'when-required' },
    overwrite: true,
    noOwner: true,
    expectSha256: 'a'.repeat(64),
  },
  {
    command: 'restore',
    manifestKey: 'k',
    target: { kind: 'tar', directory: '/restore' },
    destination: { type: 'pvc', root: '/b' },
    allowUnauthenticated: true,
  },
  {
    command: 'restore',
    manifestKey: 'k',
    target: { kind: 'tar', directory: '/restore' },
    destination: { type: 'pvc', root: '/b' },
    clean: true,
  },
  {
    command: 'restore',
    manifestKey: 'k',
    target: { kind: 'custom', command: ['sh', '-c', 'cat > /x'] },
    destination: { type: 'gcs', bucket: 'g' },
  },
];

test('toAgentArgs and parseAgentArgs are inverses for every kind of source and target', (t) => {
  for (const o of [...backups, ...restores] as AgentOptions[]) t.deepEqual(parseAgentArgs(toAgentArgs(o)), o);
});

test('an expected sha256 that is not 64 hex digits, or an unknown encryption, is refused naming the flag', (t) => {
  const base = [
    'restore',
    '--target',
    'tar',
    '--target-dir',
    '/r',
    '--dest-type',
    'pvc',
    '--dest-root',
    '/b',
    '--manifest-key',
    'k',
  ];
  t.throws(() => parseAgentArgs([...base, '--expect-sha256', 'ABC']), {
    message: /--expect-sha256.*64 lowercase hex/,
  });
  const backup = [
    'backup',
    '--source',
    'tar',
    '--volume',
    '/v',
    '--dest-type',
    'pvc',
    '--dest-root',
    '/b',
    '--policy',
    'p',
    '--scheduled-time',
    '2025-03-27T01:00:00Z',
  ];
  t.throws(() => parseAgentArgs([...backup, '--encryption', 'rot13']), {
    message: /--encryption.*age, none/,
  });
  t.false('encryption' in parseAgentArgs([...backup, '--encryption', 'none']));
});

test('arbitrary names and values survive the argv round trip', (t) => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.array(fc.string({ minLength: 1 }), { maxLength: 3 }),
      fc.string({ minLength: 1 }),
      (database, schemas, path) => {
        const o: AgentBackupOptions = {
          command: 'backup',
          source: { kind: 'postgres', host: 'h', database, ...(schemas.length ? { schemas } : {}) },
          destination: { type: 'pvc', root: '/r', path },
          policy: 'p',
          scheduledTime: '2025-03-27T01:00:00Z',
          compression: 'zstd',
        };
        t.deepEqual(parseAgentArgs(toAgentArgs(o)), o);
      },
    ),
  );
});

test('a bad argv throws InvalidSpec naming the flag', (t) => {
  const base = [
    'backup',
    '--source',
    'postgres',
    '--host',
    'h',
    '--database',
    'd',
    '--dest-type',
    'pvc',
    '--dest-root',
    '/r',
    '--policy',
    'p',
    '--scheduled-time',
    '2025-03-27T01:00:00Z',
  ];
  t.notThrows(() => parseAgentArgs(base));
  const cases: [string[], string][] = [
    [[...base, '--port', 'x'], '--port'],
    [[...base, '--password', 'secret'], '--password'],
    [[...base, '--compression', 'lz4'], '--compression'],
    [base.filter((a) => a !== '--policy' && a !== 'p'), '--policy'],
    [[...base.slice(0, -1), 'yesterday'], '--scheduled-time'],
    [
      [
        'backup',
        '--source',
        'postgres',
        '--host',
        'h',
        '--all-databases',
        '--schema',
        's',
        '--dest-type',
        'pvc',
        '--dest-root',
        '/r',
        '--policy',
        'p',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      '--schema',
    ],
    [
      [
        'backup',
        '--source',
        'tar',
        '--dest-type',
        's3',
        '--policy',
        'p',
        '--scheduled-time',
        '2025-03-27T01:00:00Z',
      ],
      '--dest-bucket',
    ],
    [
      ['restore', '--target', 'tar', '--dest-type', 'pvc', '--dest-root', '/r', '--manifest-key', 'k'],
      '--target-dir',
    ],
    [['restore', '--schema', 'x'], '--schema'],
    [['dump'], 'command'],
  ];
  for (const [argv, field] of cases) {
    const e = t.throws(() => parseAgentArgs(argv), { name: 'InvalidSpec' }, argv.join(' '));
    t.is((e as unknown as { field: string }).field, field, argv.join(' '));
  }
});

test('artifact keys follow <path>/<policy>/<UTC stamp>.<ext> with the manifest beside it', (t) => {
  t.deepEqual(
    artifactKeys({
      path: 'postgres/daily',
      policy: 'postgres-daily-backup',
      scheduledTime: '2025-03-27T02:00:00+01:00',
      extension: 'dump',
      compression: 'zstd',
    }),
    {
      key: 'postgres/daily/postgres-daily-backup/20250327T010000Z.dump.zst',
      manifestKey: 'postgres/daily/postgres-daily-backup/20250327T010000Z.manifest.json',
    },
  );
  t.is(
    artifactKeys({
      policy: 'p',
      scheduledTime: '2025-01-02T03:04:05.678Z',
      extension: 'tar',
      compression: 'none',
    }).key,
    'p/20250102T030405Z.tar',
  );
});

test('a termination message stays under 4096 bytes and parses back', (t) => {
  const long = formatAgentResult({
    ok: false,
    command: 'backup',
    reason: 'SourceFailed',
    message: 'é'.repeat(5000),
    exitCode: 3,
  });
  t.true(Buffer.byteLength(long) <= TERMINATION_MESSAGE_LIMIT);
  t.like(parseAgentResult(long), { ok: false, reason: 'SourceFailed', exitCode: 3 });
  const ok = {
    ok: true as const,
    command: 'backup' as const,
    location: 's3://b/k',
    key: 'k',
    manifestKey: 'm',
    sizeBytes: 1,
    rawBytes: 2,
    sha256: 'a'.repeat(64),
    compression: 'zstd' as const,
    startTime: '2025-03-27T01:00:00.000Z',
    completionTime: '2025-03-27T01:00:01.000Z',
    durationMs: 1000,
  };
  t.deepEqual(parseAgentResult(formatAgentResult(ok)), ok);
  for (const bad of [
    '',
    'not json',
    '{}',
    '{"ok":true}',
    '{"ok":false,"reason":"Nope","message":"m","exitCode":1}',
  ]) {
    t.throws(() => parseAgentResult(bad), { name: 'InvalidSpec' }, bad);
  }
});
