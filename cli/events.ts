/**
 * `cairn events`: the CloudEvents the local runtime's Broker recorded (`<state-dir>/events/`, one
 * file per event, see local/broker/records.ts), filtered by type, subject and time; `--follow`
 * tails new ones; `cairn events show <file|id>` prints one record whole.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { EventRecord } from '../local/broker/records.ts';
import { readRecords } from '../local/broker/records.ts';
import { systemClock } from '../shared/clock.ts';
import { bool, type Command, type Io, OperationFailed, parseInstant, str, UsageError } from './command.ts';
import { emit, table } from './output.ts';

export interface EventSummary {
  file: string;
  receivedAt: string;
  id: string;
  type: string;
  source: string;
  subject: string | undefined;
  state: string;
  deliveries: { subscriber: string; result: string; status: number; attempts: number }[];
}

function summarize(file: string, r: EventRecord): EventSummary {
  const e = r.event as Record<string, unknown>;
  return {
    file,
    receivedAt: r.receivedAt,
    id: String(e.id ?? ''),
    type: String(e.type ?? ''),
    source: String(e.source ?? ''),
    subject: typeof e.subject === 'string' ? e.subject : undefined,
    state: r.state,
    deliveries: (r.deliveries ?? []).map((d) => ({
      subscriber: d.subscriber,
      result: d.result,
      status: d.status,
      attempts: d.attempts,
    })),
  };
}

/** `*` matches any run of characters; anything else is literal. */
function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

interface Filter {
  type?: RegExp;
  subject?: RegExp;
  since?: Date;
  until?: Date;
}

function matches(f: Filter, e: EventSummary): boolean {
  if (f.type && !f.type.test(e.type)) return false;
  if (f.subject && !f.subject.test(e.subject ?? e.source)) return false;
  const t = new Date(e.receivedAt);
  if (f.since && t < f.since) return false;
  if (f.until && t > f.until) return false;
  return true;
}

function deliveries(e: EventSummary): string {
  if (e.state === 'pending' && e.deliveries.length === 0) return 'pending';
  return (
    e.deliveries
      .map((d) => (d.result === 'delivered' ? d.subscriber : `${d.subscriber}(${d.result} ${d.status})`))
      .join(',') || 'none'
  );
}

/** `/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>` → `<ns>/<plural>/<name>`, for the table. */
function shortSubject(e: EventSummary): string {
  const s = e.subject ?? e.source;
  const m = /\/namespaces\/([^/]*)\/(.+)$/.exec(s);
  return m ? `${m[1] || '-'}/${m[2]}` : s;
}

const row = (e: EventSummary) => [e.receivedAt, e.type, shortSubject(e), deliveries(e), basename(e.file)];
const HEADERS = ['received', 'type', 'subject', 'deliveries', 'file'];

async function show(io: Io, dir: string, which: string, format: 'table' | 'json' | 'yaml'): Promise<number> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  let file: string | undefined = names.find((n) => n === basename(which))
    ? join(dir, basename(which))
    : undefined;
  if (!file && which.endsWith('.json')) file = which;
  if (!file) {
    const hits: string[] = [];
    for (const n of names) {
      const rec = JSON.parse(await readFile(join(dir, n), 'utf8')) as EventRecord;
      if ((rec.event as { id?: unknown }).id === which) hits.push(join(dir, n));
    }
    if (hits.length > 1) throw new UsageError(`${hits.length} records have id ${which}; name the file`);
    file = hits[0];
  }
  if (!file) throw new OperationFailed(`no recorded event ${which} in ${dir}`);
  const rec = JSON.parse(await readFile(file, 'utf8')) as EventRecord;
  // A record is JSON already: the table view is the record itself, as YAML reads best.
  emit(io, format === 'table' ? 'yaml' : format, { file, ...rec }, () => '');
  return 0;
}

export const events: Command = {
  name: 'events',
  summary: "List, show and tail the CloudEvents the local runtime's Broker recorded.",
  help: `Usage: cairn events [list] [--type T] [--subject S] [--since TIME] [--until TIME] [--follow]
       cairn events show <file|id>

Reads <state-dir>/events/ (default .cairn/events): one record per event the Broker received,
with its deliveries (trigger, subscriber, result, HTTP status, attempts, reply). Any record (or
the folder) can be given to cairn replay.

Options:
  --type T        only this CloudEvent type; * matches anything (dev.knative.apiserver.resource.*)
  --subject S     only this subject (or source, for events without one); * matches anything
                  (*/backuppolicies/web, */backups/web-*)
  --since TIME    received at or after TIME: RFC 3339, or a duration ago (90s, 15m, 2h, 1d)
  --until TIME    received at or before TIME
  -f, --follow    after the list, print new events as they arrive (Ctrl-C stops); with -o json,
                  one JSON object a line`,
  options: {
    type: { type: 'string' },
    subject: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
  },
  async run(args, g, io) {
    const [sub = 'list', ...rest] = args.positionals;
    const dir = join(g.stateDir, 'events');
    if (sub === 'show') {
      const [which, ...extra] = rest;
      if (!which || extra.length > 0) throw new UsageError('expected cairn events show <file|id>');
      return show(io, dir, which, g.output);
    }
    if (sub !== 'list' || rest.length > 0)
      throw new UsageError(`expected list or show, got "${args.positionals.join(' ')}"`);
    const v = args.values;
    const now = systemClock.now();
    const f: Filter = {};
    const type = str(v, 'type');
    const subject = str(v, 'subject');
    const since = str(v, 'since');
    const until = str(v, 'until');
    if (type) f.type = glob(type);
    if (subject) f.subject = glob(subject);
    if (since) f.since = parseInstant('--since', since, now);
    if (until) f.until = parseInstant('--until', until, now);

    const records = await readRecords(g.stateDir);
    const seen = new Set(records.map((r) => r.file));
    const list = records.map((r) => summarize(r.file, r.record)).filter((e) => matches(f, e));
    const follow = bool(v, 'follow');
    if (follow && g.output === 'json') for (const e of list) io.out(`${JSON.stringify(e)}\n`);
    else
      emit(io, g.output, list, () =>
        list.length ? table(HEADERS, list.map(row)) : `No recorded events in ${dir}.`,
      );
    if (!follow) return 0;

    // Tail: poll the folder; a record appears when its event arrives.
    const stop = new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
    let stopped = false;
    void stop.then(() => {
      stopped = true;
    });
    while (!stopped) {
      await Promise.race([stop, new Promise((r) => setTimeout(r, 300))]);
      const names = (await readdir(dir).catch(() => [] as string[]))
        .filter((n) => n.endsWith('.json'))
        .sort();
      for (const n of names) {
        const file = join(dir, n);
        if (seen.has(file)) continue;
        let rec: EventRecord;
        try {
          rec = JSON.parse(await readFile(file, 'utf8')) as EventRecord;
        } catch {
          continue; // being written; next round
        }
        seen.add(file);
        const e = summarize(file, rec);
        if (!matches(f, e)) continue;
        if (g.output === 'json') io.out(`${JSON.stringify(e)}\n`);
        else if (g.output === 'yaml') emit(io, 'yaml', [e], () => '');
        else io.out(`${row(e).join('   ')}\n`);
      }
    }
    return 0;
  },
};
