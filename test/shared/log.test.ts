/**
 * shared/log.ts, the one logger: JSON lines for machines (functions in a cluster, anything piped),
 * readable lines for a person at a terminal (`npm start`), from the same records.
 */
import test from 'ava';
import { createLogger } from '../../shared/log.ts';

const at = new Date(2030, 0, 2, 3, 4, 5, 67); // local time: a terminal shows the local clock

function capture(format?: 'json' | 'text') {
  const lines: string[] = [];
  const log = createLogger(
    { component: 'broker' },
    { write: (l) => lines.push(l), clock: () => at, ...(format ? { format } : {}) },
  );
  return { log, lines };
}

test('JSON lines by default: every field, one object a line', (t) => {
  const { log, lines } = capture();
  log.child({ function: 'job-watcher' }).warn('event failed', { code: 500, error: new Error('boom') });
  t.deepEqual(JSON.parse(lines[0] ?? ''), {
    time: at.toISOString(),
    level: 'warn',
    msg: 'event failed',
    component: 'broker',
    function: 'job-watcher',
    code: 500,
    error: { name: 'Error', message: 'boom' },
  });
});

test('text lines: local time, level, who, the message, then the other fields as key=value', (t) => {
  const { log, lines } = capture('text');
  log.info('delivered', { trigger: 'job-launcher', attempts: 2, url: 'http://127.0.0.1:8080/' });
  log
    .child({
      function: 'schedule-evaluator',
      eventId: 'e-1',
      eventType: 'dev.knative.sources.ping',
      action: 'create',
      kind: 'Backup',
    })
    .info('create Backup default/web-203001020304: run of 2030-01-02T03:04:00.000Z is due');
  log.error('container ended', {
    reason: 'Error: exit 1',
    argv: ['node', '(3 args)'],
    error: new TypeError('bad'),
  });
  log.debug('not shown at info');
  t.deepEqual(lines, [
    '03:04:05.067 INFO  broker              delivered trigger=job-launcher attempts=2 url=http://127.0.0.1:8080/',
    '03:04:05.067 INFO  schedule-evaluator  create Backup default/web-203001020304: run of 2030-01-02T03:04:00.000Z is due event=e-1',
    '03:04:05.067 ERROR broker              container ended reason="Error: exit 1" argv=["node","(3 args)"] error="TypeError: bad"',
  ]);
});

test('the format comes from CAIRN_LOG_FORMAT when not given', (t) => {
  const before = process.env.CAIRN_LOG_FORMAT;
  process.env.CAIRN_LOG_FORMAT = 'text';
  t.teardown(() => {
    if (before === undefined) delete process.env.CAIRN_LOG_FORMAT;
    else process.env.CAIRN_LOG_FORMAT = before;
  });
  const lines: string[] = [];
  createLogger({ component: 'x' }, { write: (l) => lines.push(l), clock: () => at }).info('hello');
  t.is(lines[0], '03:04:05.067 INFO  x                   hello');
});
