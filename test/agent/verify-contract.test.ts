/** The verify command's argv: checks travel as JSON arguments (never a shell) and come back the same. */
import test from 'ava';
import { type AgentVerifyOptions, parseAgentArgs, toAgentArgs } from '../../shared/agent-contract.ts';
import { CairnError } from '../../shared/errors.ts';

const opts: AgentVerifyOptions = {
  command: 'verify',
  destination: { type: 's3', bucket: 'b' },
  manifestKey: 'p/x.manifest.json',
  target: { kind: 'postgres', host: 'pg', port: 5432, user: 'u', database: 'app_cairn_verify' },
  checks: [
    { name: 'rows', sql: "select 1; -- $(rm -rf /) 'quoted'", compare: 'rowCount >= 1' },
    { name: 'exact', sql: 'select 2', expect: '2' },
  ],
};

test('verify options survive toAgentArgs → parseAgentArgs, shell-looking text included', (t) => {
  const argv = toAgentArgs(opts);
  t.is(argv[0], 'verify');
  t.is(argv.filter((a) => a === '--check').length, 2);
  t.deepEqual(parseAgentArgs(argv), opts);
});

test('a bad --check, a custom target or restore-only flags are refused, naming the flag', (t) => {
  const argv = toAgentArgs(opts);
  const field = (a: string[]) => t.throws(() => parseAgentArgs(a), { instanceOf: CairnError })?.field;
  t.is(field([...argv, '--check', '{"name":"x","sql":"s","compare":"rows > 1"}']), '--check');
  t.is(field([...argv, '--check', '{"name":"x"}']), '--check');
  t.is(field([...argv, '--overwrite']), '--overwrite');
  t.is(
    field([
      'verify',
      '--target',
      'custom',
      '--manifest-key',
      'k',
      '--dest-type',
      's3',
      '--dest-bucket',
      'bb',
      '--',
      'x',
    ]),
    '--target',
  );
});
