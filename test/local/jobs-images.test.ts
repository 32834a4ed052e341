import test from 'ava';
import { defaultImageRules, resolveCommand } from '../../local/jobs/index.ts';

test('the image map entrypoint is marked as host argv, so a checkout under a mount path (/tmp) is not rewritten', (t) => {
  const rules = defaultImageRules('/tmp/ci-check');
  const r = resolveCommand(
    { image: 'ghcr.io/cairn-dev/cairn-agent:0.1.0', args: ['backup', '--dest-root', '/tmp/x'] },
    rules,
  );
  if (!r.ok) return t.fail(r.message);
  t.is(r.argv[r.hostPrefix - 1], '/tmp/ci-check/agent/main.ts');
  t.deepEqual(r.argv.slice(r.hostPrefix), ['backup', '--dest-root', '/tmp/x']);
  const mapped = resolveCommand(
    { image: 'x/cairn-agent', command: ['cairn-agent'], args: ['restore'] },
    rules,
  );
  if (!mapped.ok) return t.fail(mapped.message);
  t.deepEqual(mapped.argv.slice(mapped.hostPrefix), ['restore']);
});
