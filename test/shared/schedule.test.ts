import test from 'ava';
import { InvalidSchedule } from '../../shared/errors.ts';
import { dueRun, MAX_MISSED_COUNT, parseSchedule, type ScheduleSpec } from '../../shared/schedule.ts';

const at = (iso: string) => new Date(iso);
const iso = (d: Date | undefined) => d?.toISOString();

function nextRuns(spec: ScheduleSpec, from: string, n: number): string[] {
  const s = parseSchedule(spec);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    t = s.next(t);
    out.push(t.toISOString());
  }
  return out;
}

const nextCases: { title: string; spec: ScheduleSpec; from: string; want: string[] }[] = [
  {
    title: 'every minute runs on each minute boundary',
    spec: { schedule: '* * * * *' },
    from: '2025-03-27T01:00:30Z',
    want: ['2025-03-27T01:01:00.000Z', '2025-03-27T01:02:00.000Z', '2025-03-27T01:03:00.000Z'],
  },
  {
    title: '@daily runs at midnight UTC',
    spec: { schedule: '@daily' },
    from: '2025-03-27T12:00:00Z',
    want: ['2025-03-28T00:00:00.000Z', '2025-03-29T00:00:00.000Z'],
  },
  {
    title: '@midnight is the same as @daily',
    spec: { schedule: '@midnight', timeZone: 'UTC' },
    from: '2025-03-27T12:00:00Z',
    want: ['2025-03-28T00:00:00.000Z'],
  },
  {
    title: '0 1 * * * in Europe/Berlin follows the spring DST change (UTC+1 → UTC+2)',
    spec: { schedule: '0 1 * * *', timeZone: 'Europe/Berlin' },
    from: '2025-03-28T12:00:00Z',
    want: ['2025-03-29T00:00:00.000Z', '2025-03-30T00:00:00.000Z', '2025-03-30T23:00:00.000Z'],
  },
  {
    title: '0 1 * * * in Europe/Berlin follows the autumn DST change (UTC+2 → UTC+1)',
    spec: { schedule: '0 1 * * *', timeZone: 'Europe/Berlin' },
    from: '2025-10-24T12:00:00Z',
    want: ['2025-10-24T23:00:00.000Z', '2025-10-25T23:00:00.000Z', '2025-10-27T00:00:00.000Z'],
  },
  {
    title: 'a time zone west of UTC shifts the run',
    spec: { schedule: '30 9 * * 1-5', timeZone: 'America/New_York' },
    from: '2025-01-03T00:00:00Z',
    want: ['2025-01-03T14:30:00.000Z', '2025-01-06T14:30:00.000Z'],
  },
];

for (const c of nextCases) {
  test(`next: ${c.title}`, (t) => {
    t.deepEqual(nextRuns(c.spec, c.from, c.want.length), c.want);
  });
}

const dueCases: {
  title: string;
  spec: ScheduleSpec;
  since: string;
  now: string;
  due?: string;
  missed: number;
  skipped?: string;
  tooMany?: boolean;
}[] = [
  {
    title: 'nothing is due before the first scheduled time',
    spec: { schedule: '* * * * *' },
    since: '2025-03-27T01:00:00Z',
    now: '2025-03-27T01:00:59Z',
    missed: 0,
  },
  {
    title: 'the minute that just passed is due',
    spec: { schedule: '* * * * *' },
    since: '2025-03-27T01:00:00Z',
    now: '2025-03-27T01:01:05Z',
    due: '2025-03-27T01:01:00.000Z',
    missed: 1,
  },
  {
    title: 'a run exactly at now is due',
    spec: { schedule: '@daily' },
    since: '2025-03-26T00:00:00Z',
    now: '2025-03-27T00:00:00Z',
    due: '2025-03-27T00:00:00.000Z',
    missed: 1,
  },
  {
    title: 'after a 3-day downtime only the most recent run is started (one catch-up)',
    spec: { schedule: '0 * * * *' },
    since: '2025-01-01T00:00:00Z',
    now: '2025-01-04T00:30:00Z',
    due: '2025-01-04T00:00:00.000Z',
    missed: 72,
  },
  {
    title: 'counting missed runs stops at the cap',
    spec: { schedule: '* * * * *' },
    since: '2025-01-01T00:00:00Z',
    now: '2025-01-04T00:30:00Z',
    due: '2025-01-04T00:30:00.000Z',
    missed: MAX_MISSED_COUNT,
    tooMany: true,
  },
  {
    title: 'a run whose starting deadline has passed is skipped, not started',
    spec: { schedule: '0 1 * * *', startingDeadlineSeconds: 300 },
    since: '2025-03-26T01:00:00Z',
    now: '2025-03-27T01:10:00Z',
    missed: 1,
    skipped: '2025-03-27T01:00:00.000Z',
  },
  {
    title: 'a run still inside its starting deadline is started',
    spec: { schedule: '0 1 * * *', startingDeadlineSeconds: 900 },
    since: '2025-03-26T01:00:00Z',
    now: '2025-03-27T01:10:00Z',
    due: '2025-03-27T01:00:00.000Z',
    missed: 1,
  },
  {
    title: 'a run already handled (since = that run) is not due again',
    spec: { schedule: '0 1 * * *' },
    since: '2025-03-27T01:00:00Z',
    now: '2025-03-27T01:10:00Z',
    missed: 0,
  },
];

for (const c of dueCases) {
  test(`due: ${c.title}`, (t) => {
    const s = parseSchedule(c.spec);
    const r = dueRun(s, c.spec, at(c.since), at(c.now));
    t.is(iso(r.due), c.due);
    t.is(r.missed, c.missed);
    t.is(iso(r.skippedPastDeadline), c.skipped);
    t.is(r.tooManyMissed, c.tooMany ?? false);
    t.true(r.next.getTime() > at(c.now).getTime());
  });
}

const invalid: { spec: ScheduleSpec; field: string; match: RegExp }[] = [
  { spec: { schedule: '61 * * * *' }, field: 'spec.schedule', match: /not a valid cron expression.*61/ },
  { spec: { schedule: '* * * * * *' }, field: 'spec.schedule', match: /6 fields; expected 5/ },
  { spec: { schedule: '* * * *' }, field: 'spec.schedule', match: /4 fields; expected 5/ },
  { spec: { schedule: '' }, field: 'spec.schedule', match: /0 fields/ },
  { spec: { schedule: 'a b c d e' }, field: 'spec.schedule', match: /Invalid characters/ },
  { spec: { schedule: '@every 5m' }, field: 'spec.schedule', match: /unknown macro/ },
  { spec: { schedule: '0 0 30 2 *' }, field: 'spec.schedule', match: /not a valid|never fires/ },
  {
    spec: { schedule: 'CRON_TZ=UTC 0 * * *' },
    field: 'spec.schedule',
    match: /time zone inside the schedule/,
  },
  // H (a hashed value) is not in robfig/cron, so not in a CronJob; cron-parser would pick a
  // random value at every parse and move the run each time.
  { spec: { schedule: 'H * * * *' }, field: 'spec.schedule', match: /uses H/ },
  { spec: { schedule: '0 H(1-4) * * *' }, field: 'spec.schedule', match: /uses H/ },
  { spec: { schedule: '5,H/15 * * * *' }, field: 'spec.schedule', match: /uses H/ },
  {
    spec: { schedule: '* * * * *', timeZone: 'Mars/Olympus' },
    field: 'spec.timeZone',
    match: /unknown time zone/,
  },
];

test('day and month names are not taken for H', (t) => {
  t.notThrows(() => parseSchedule({ schedule: '0 3 * * THU' }));
  t.notThrows(() => parseSchedule({ schedule: '0 3 * * thu,sat' }));
});

for (const c of invalid) {
  test(`invalid: ${JSON.stringify(c.spec)} is a typed error naming ${c.field}`, (t) => {
    const err = t.throws(() => parseSchedule(c.spec), { instanceOf: InvalidSchedule });
    t.is(err?.field, c.field);
    t.is(err?.reason, 'InvalidSchedule');
    t.regex(err?.message ?? '', c.match);
    t.true(err?.message.startsWith(`${c.field}: `));
  });
}
