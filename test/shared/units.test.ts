/**
 * The human forms of sizes and durations (shared/units.ts), against the tables of the code they
 * follow: TestHumanDuration and TestHumanDurationBoundaries of pkg/util/duration/duration_test.go in
 * kubernetes/apimachinery (Apache-2.0, The Kubernetes Authors; what `kubectl get jobs` prints as
 * DURATION and every AGE), and the IBytes rows of TestBytes in bytes_test.go of
 * dustin/go-humanize (MIT, Dustin Sallings), ported as data.
 */
import test from 'ava';
import { humanBytes, humanDuration } from '../../shared/units.ts';

const ms = 1;
const s = 1000 * ms;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

// TestHumanDuration
const humanDurationTable: [number, string][] = [
  [s, '1s'],
  [70 * s, '70s'],
  [190 * s, '3m10s'],
  [70 * m, '70m'],
  [47 * h, '47h'],
  [49 * h, '2d1h'],
  [(8 * 24 + 2) * h, '8d'],
  [367 * 24 * h, '367d'],
  [(365 * 2 * 24 + 25) * h, '2y1d'],
  [(365 * 8 * 24 + 2) * h, '8y'],
];

// TestHumanDurationBoundaries (Go's `-2*time.Second + 1` is one nanosecond short: one millisecond here).
const boundaries: [number, string][] = [
  [-2 * s, '<invalid>'],
  [-2 * s + 1 * ms, '0s'],
  [0, '0s'],
  [s - ms, '0s'],
  [2 * m - ms, '119s'],
  [2 * m, '2m'],
  [2 * m + s, '2m1s'],
  [10 * m - ms, '9m59s'],
  [10 * m, '10m'],
  [10 * m + s, '10m'],
  [3 * h - ms, '179m'],
  [3 * h, '3h'],
  [3 * h + m, '3h1m'],
  [8 * h - ms, '7h59m'],
  [8 * h, '8h'],
  [8 * h + 59 * m, '8h'],
  [2 * d - ms, '47h'],
  [2 * d, '2d'],
  [2 * d + h, '2d1h'],
  [8 * d - ms, '7d23h'],
  [8 * d, '8d'],
  [8 * d + 23 * h, '8d'],
  [2 * 365 * d - ms, '729d'],
  [2 * 365 * d, '2y'],
  [2 * 365 * d + 23 * h, '2y'],
  [2 * 365 * d + 23 * h + 59 * m, '2y'],
  [2 * 365 * d + d - ms, '2y'],
  [2 * 365 * d + d, '2y1d'],
  [3 * 365 * d, '3y'],
  [4 * 365 * d, '4y'],
  [5 * 365 * d, '5y'],
  [6 * 365 * d, '6y'],
  [7 * 365 * d, '7y'],
  [8 * 365 * d - ms, '7y364d'],
  [8 * 365 * d, '8y'],
  [8 * 365 * d + 364 * d, '8y'],
  [9 * 365 * d, '9y'],
];

for (const [table, rows] of [
  ['TestHumanDuration', humanDurationTable],
  ['TestHumanDurationBoundaries', boundaries],
] as const) {
  for (const [dur, want] of rows) {
    test(`apimachinery ${table}: HumanDuration(${dur} ms) = ${want}`, (t) => {
      t.is(humanDuration(dur), want);
    });
  }
}

const Ki = 1024;
const Mi = Ki * 1024;
const Gi = Mi * 1024;
const Ti = Gi * 1024;
const Pi = Ti * 1024;
const Ei = Pi * 1024;

// TestBytes, its IBytes rows (IBytesN is not ported: Cairn prints go-humanize's default two digits).
const ibytes: [number, string][] = [
  [0, '0 B'],
  [1, '1 B'],
  [803, '803 B'],
  [1023, '1023 B'],
  [1024, '1.0 KiB'],
  [Mi - 1, '1024 KiB'],
  [1024 * 1024, '1.0 MiB'],
  [Gi - Ki, '1024 MiB'],
  [Gi, '1.0 GiB'],
  [Ti - Mi, '1024 GiB'],
  [Ti, '1.0 TiB'],
  [Pi - Ti, '1023 TiB'],
  [Pi, '1.0 PiB'],
  [Ei - Pi, '1023 PiB'],
  [Ei, '1.0 EiB'],
  [5.5 * Gi, '5.5 GiB'],
];

for (const [n, want] of ibytes) {
  test(`go-humanize IBytes(${n}) = ${want}`, (t) => {
    t.is(humanBytes(n), want);
  });
}

test('sizes round as go-humanize rounds: to a tenth first, then to a whole number past 10', (t) => {
  t.is(humanBytes(9999), '9.8 KiB');
  t.is(humanBytes(10 * Ki - 1), '10 KiB');
  t.is(humanBytes(257 * Mi + 300 * Ki), '257 MiB');
  t.is(humanBytes(2.63 * Mi), '2.6 MiB');
});
