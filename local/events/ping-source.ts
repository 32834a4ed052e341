/**
 * One PingSource, run locally as Knative's mtping adapter runs it: on each tick of `spec.schedule`
 * (robfig/cron syntax: 5 fields, or 6 with leading seconds, descriptors such as @hourly; a
 * `CRON_TZ=`/`TZ=` prefix or `spec.timezone` sets the zone) it sends
 * `dev.knative.sources.ping` with `spec.data` (or the bytes of `spec.dataBase64`) and
 * `spec.contentType` to the sink, with `ceOverrides.extensions`.
 *
 * Ticks come from the injected clock: `schedule` mode sleeps until the next scheduled instant on
 * that clock (re-reading it after each sleep); `interval` mode ticks every `intervalMs` whatever the
 * schedule (fast local loops); `manual` mode only ticks on `fire()` (tests). Knative delays each send
 * by a random 0–500 ms; locally `jitterMs` (default 0) does the same.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Clock } from '../../shared/clock.ts';
import { pingEvent } from '../../shared/events.ts';
import type { Logger } from '../../shared/log.ts';
import { deliver, type RetryPolicy } from '../broker/delivery.ts';
import type { PingSource } from './knative.ts';

export type PingMode = { mode: 'schedule' } | { mode: 'interval'; intervalMs: number } | { mode: 'manual' };

export interface PingSourceOptions {
  source: PingSource;
  sinkUrl: string;
  clock: Clock;
  ticks: PingMode;
  jitterMs?: number;
  retry: RetryPolicy;
  log: Logger;
}

export interface RunningPing {
  /** Sends one tick now; resolves when it was sent (or given up). */
  fire(): Promise<void>;
  /** The next scheduled instant after `from` (schedule semantics, whatever the mode). */
  nextAfter(from: Date): Date;
  close(): Promise<void>;
}

/** Splits robfig's `CRON_TZ=Zone expr` / `TZ=Zone expr` into the expression and zone. */
export function parsePingSchedule(schedule: string, timezone?: string): { expression: string; tz: string } {
  let expression = schedule.trim() || '* * * * *';
  let tz = timezone || 'UTC';
  const m = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(expression);
  if (m) {
    tz = timezone || m[1]!;
    expression = m[2]!;
  }
  if (expression.startsWith('@every'))
    throw new Error(`schedule ${schedule}: @every is not accepted by PingSource`);
  return { expression, tz };
}

export function startPingSource(opts: PingSourceOptions): RunningPing {
  const { source, clock } = opts;
  const spec = source.spec;
  const ns = source.metadata.namespace;
  const name = source.metadata.name;
  const log = opts.log.child({ pingSource: `${ns}/${name}` });
  const { expression, tz } = parsePingSchedule(spec.schedule ?? '* * * * *', spec.timezone);
  // Fail at start on a bad schedule, as the webhook would refuse it.
  CronExpressionParser.parse(expression, { tz, currentDate: clock.now() });
  if (spec.data !== undefined && spec.dataBase64 !== undefined) {
    throw new Error(`PingSource ${ns}/${name}: data and dataBase64 are mutually exclusive`);
  }
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let inflight: Promise<void> = Promise.resolve();

  const nextAfter = (from: Date) =>
    CronExpressionParser.parse(expression, { tz, currentDate: from }).next().toDate();

  const fire = () => {
    const run = async () => {
      if (opts.jitterMs) await new Promise((r) => setTimeout(r, Math.random() * opts.jitterMs!));
      const data = spec.dataBase64 !== undefined ? Buffer.from(spec.dataBase64, 'base64') : spec.data;
      const ev = pingEvent({
        namespace: ns,
        name,
        time: clock.now(),
        ...(data === undefined ? {} : { data, contentType: spec.contentType ?? '' }),
        ...(spec.ceOverrides?.extensions ? { extensions: spec.ceOverrides.extensions } : {}),
      });
      const r = await deliver(ev, opts.sinkUrl, opts.retry, abort.signal);
      if (!r.ok && !r.aborted)
        log.error('failed to send ping', { id: ev.id, status: r.status, error: r.error });
    };
    const p = inflight.then(run);
    inflight = p.catch(() => {});
    return p;
  };

  const tick = () => void fire().catch((e: unknown) => log.error('ping failed', { error: e }));

  // Sleeps until `target` on the clock, in slices of at most a minute so a moved clock is noticed.
  const waitFor = (target: Date) => {
    if (closed) return;
    const delay = target.getTime() - clock.now().getTime();
    if (delay <= 0) {
      tick();
      schedule();
      return;
    }
    timer = setTimeout(() => waitFor(target), Math.min(delay, 60_000));
    timer.unref?.();
  };

  const schedule = () => {
    if (closed || opts.ticks.mode === 'manual') return;
    if (opts.ticks.mode === 'interval') {
      timer = setTimeout(() => {
        tick();
        schedule();
      }, opts.ticks.intervalMs);
      timer.unref?.();
      return;
    }
    waitFor(nextAfter(clock.now()));
  };
  schedule();

  return {
    fire,
    nextAfter,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      abort.abort();
      await inflight;
    },
  };
}
