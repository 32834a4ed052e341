/**
 * `cairn replay <file|dir|->`: sends recorded CloudEvents to the functions that subscribe to them
 * — in-process (the function's own planner, against the API server of the kubeconfig), to the
 * local runtime's functions over HTTP (`--local`), or to any URL (`--url`). `--dry-run` prints the
 * plan decide made and writes nothing.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type CloudEvent, HTTP } from 'cloudevents';
import { routesFor } from '../functions/router.ts';
import { type Clock, fixedClock, systemClock } from '../shared/clock.ts';
import { CairnError, InvalidEvent, messageOf } from '../shared/errors.ts';
import {
  type CloudEventLike,
  eventFromStructured,
  eventKind,
  parseCairnEvent,
  parsePingEvent,
  parseResourceEvent,
} from '../shared/events.ts';
import { createLogger } from '../shared/log.ts';
import { type Action, applyPlan, describeAction } from '../shared/plan.ts';
import { type Cluster, connect, readRuntime } from './cluster.ts';
import { bool, type Command, type Globals, type Io, OperationFailed, str, UsageError } from './command.ts';
import { emit } from './output.ts';
import { isFunctionName, PLANNERS } from './planners.ts';

interface Input {
  /** Where it came from: a file, `file#2` for the third of an array, or `stdin`. */
  label: string;
  json: unknown;
}

interface Delivery {
  function: string;
  /** in-process: the plan decide made; absent when sent over HTTP. */
  plan?: Action[];
  applied: boolean;
  url?: string;
  status?: number;
  reply?: { id?: string; type?: string; subject?: string };
  error?: string;
}

interface Replayed {
  input: string;
  event: { id?: string; type?: string; source?: string; subject?: string } | undefined;
  deliveries: Delivery[];
  error?: string;
  skipped?: string;
}

async function readJsonDocs(label: string, text: string): Promise<Input[]> {
  const trimmed = text.trim();
  let docs: unknown[];
  try {
    const v = JSON.parse(trimmed) as unknown;
    docs = Array.isArray(v) ? v : [v];
  } catch (err) {
    // One event a line (JSON Lines), as `cairn events -o json` pipes can produce.
    const lines = trimmed.split('\n').filter((l) => l.trim() !== '');
    try {
      docs = lines.map((l) => JSON.parse(l) as unknown);
    } catch {
      throw new InvalidEvent(`${label}: not JSON (${(err as Error).message})`);
    }
  }
  return docs.map((json, i) => ({ label: docs.length > 1 ? `${label}#${i}` : label, json }));
}

/** The events to replay from a file, a folder (its *.json in name order; a state dir's events/) or stdin. */
export async function readInputs(where: string, stdin: () => Promise<string>): Promise<Input[]> {
  if (where === '-') return readJsonDocs('stdin', await stdin());
  const s = await stat(where).catch(() => undefined);
  if (!s) throw new UsageError(`${where}: no such file or folder`);
  if (!s.isDirectory()) return readJsonDocs(where, await readFile(where, 'utf8'));
  const eventsDir = join(where, 'events');
  const dir = (await stat(eventsDir).catch(() => undefined))?.isDirectory() ? eventsDir : where;
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  const out: Input[] = [];
  for (const n of names)
    out.push(...(await readJsonDocs(join(dir, n), await readFile(join(dir, n), 'utf8'))));
  return out;
}

/**
 * A CloudEvent from a record or a structured event, checked by the same parsers the functions
 * use, so a malformed event is refused here with the attribute named.
 */
export function checkedEvent(json: unknown): CloudEvent<unknown> {
  const rec = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const body =
    typeof rec.event === 'object' && rec.event !== null && rec.specversion === undefined ? rec.event : json;
  switch (eventKind(body)) {
    case 'resource':
      parseResourceEvent(body);
      break;
    case 'ping':
      parsePingEvent(body);
      break;
    case 'cairn':
      parseCairnEvent(body);
      break;
    default:
      // Names the first missing core attribute (type, source, id), as the functions would.
      if (typeof (body as CloudEventLike | null)?.type !== 'string') parseResourceEvent(body);
  }
  return eventFromStructured(json);
}

function summary(ev: CloudEventLike): NonNullable<Replayed['event']> {
  return {
    ...(ev.id ? { id: ev.id } : {}),
    ...(ev.type ? { type: ev.type } : {}),
    ...(ev.source ? { source: ev.source } : {}),
    ...(ev.subject ? { subject: ev.subject } : {}),
  };
}

async function post(
  url: string,
  event: CloudEvent<unknown>,
): Promise<Pick<Delivery, 'status' | 'reply' | 'error'>> {
  const msg = HTTP.binary(event);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: msg.headers as Record<string, string>,
      body: msg.body as string,
    });
  } catch (err) {
    return { status: 0, error: `${url}: ${messageOf((err as Error).cause ?? err)}` };
  }
  const text = await res.text();
  const type = res.headers.get('ce-type') ?? undefined;
  const out: Pick<Delivery, 'status' | 'reply' | 'error'> = { status: res.status };
  if (type) {
    out.reply = { type };
    const id = res.headers.get('ce-id');
    const subject = res.headers.get('ce-subject');
    if (id) out.reply.id = id;
    if (subject) out.reply.subject = subject;
  }
  if (!res.ok) out.error = `${url} answered ${res.status}: ${text.slice(0, 300).trim()}`;
  return out;
}

type Target =
  | { mode: 'in-process'; cluster: Cluster; clock: Clock; dryRun: boolean }
  | { mode: 'local'; urls: Record<string, string> }
  | { mode: 'url'; url: string };

async function deliver(target: Target, fn: string, event: CloudEvent<unknown>): Promise<Delivery> {
  if (target.mode === 'url')
    return { function: fn, applied: true, url: target.url, ...(await post(target.url, event)) };
  if (target.mode === 'local') {
    const url = target.urls[fn];
    if (!url) return { function: fn, applied: false, error: `the local runtime serves no function ${fn}` };
    return { function: fn, applied: true, url, ...(await post(url, event)) };
  }
  if (!isFunctionName(fn)) return { function: fn, applied: false, error: `no function named ${fn}` };
  const log = createLogger({ component: 'cairn-replay', function: fn }, { level: 'warn' });
  const deps = { kube: target.cluster.kube, clock: target.clock, log };
  try {
    const { plan, reply } = await PLANNERS[fn](event, deps);
    if (!target.dryRun) await applyPlan(deps.kube, plan, { now: target.clock.now(), log, component: fn });
    const d: Delivery = { function: fn, plan, applied: !target.dryRun };
    if (reply)
      d.reply = { id: reply.id, type: reply.type, ...(reply.subject ? { subject: reply.subject } : {}) };
    return d;
  } catch (err) {
    return { function: fn, applied: false, error: messageOf(err) };
  }
}

function human(results: Replayed[], dryRun: boolean): string {
  const lines: string[] = [];
  for (const r of results) {
    if (r.error) continue; // on stderr
    const e = r.event ?? {};
    lines.push(`${r.input}: ${e.type} ${e.subject ?? e.source ?? ''} (id ${e.id})`);
    if (r.skipped) lines.push(`  skipped: ${r.skipped}`);
    for (const d of r.deliveries) {
      const where = d.url ? ` → ${d.url}` : '';
      if (d.error) lines.push(`  ${d.function}${where}: failed: ${d.error}`);
      else if (d.plan) {
        const verb = dryRun ? 'would do' : 'did';
        lines.push(
          d.plan.length === 0
            ? `  ${d.function}: nothing to do`
            : `  ${d.function} ${verb} ${d.plan.length} action${d.plan.length === 1 ? '' : 's'}:`,
        );
        for (const a of d.plan) lines.push(`    ${describeAction(a)}`);
      } else lines.push(`  ${d.function}${where}: ${d.status}`);
      if (d.reply) lines.push(`    reply: ${d.reply.type}${d.reply.subject ? ` ${d.reply.subject}` : ''}`);
    }
  }
  return lines.join('\n');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const replay: Command = {
  name: 'replay',
  summary: 'Send recorded CloudEvents to the functions that subscribe to them.',
  help: `Usage: cairn replay <file|dir|-> [--dry-run] [--function NAME] [--as-of TIME] [--local | --url URL]

<file> is a record of the local runtime's Broker (.cairn/events/*.json), a structured-mode
CloudEvent (application/cloudevents+json), a JSON array of either, or one per line. <dir> replays
every *.json in name order (a state folder: its events/). "-" reads stdin.

By default each event runs in this process through the planner (gather → decide) of every
function whose Trigger matches it (functions/router.ts), against the API server of the
kubeconfig, and the plan is carried out as the function would.

Options:
  --dry-run           print the plan (creates, deletes, patches, status changes, Events); write nothing
  --function NAME     only this function (schedule-evaluator, job-launcher, job-watcher,
                      retention-pruner, restore-runner); sends even if its Trigger would not match
  --as-of TIME        decide as if it were TIME (RFC 3339); in-process only
  --local             POST to the local runtime's functions (from <state-dir>/runtime.json)
  --url URL           POST every event (binary mode) to URL, e.g. a function or the all-in-one service

A malformed event is refused with the missing attribute named, and exits 1.`,
  options: {
    'dry-run': { type: 'boolean' },
    function: { type: 'string' },
    'as-of': { type: 'string' },
    local: { type: 'boolean' },
    url: { type: 'string' },
  },
  async run(args, g: Globals, io: Io) {
    const [where, ...extra] = args.positionals;
    if (!where || extra.length > 0) throw new UsageError('expected one <file|dir|->');
    const v = args.values;
    const dryRun = bool(v, 'dry-run');
    const fnOnly = str(v, 'function');
    const asOf = str(v, 'as-of');
    const url = str(v, 'url');
    const local = bool(v, 'local');
    if (fnOnly && !isFunctionName(fnOnly)) throw new UsageError(`--function: no function named "${fnOnly}"`);
    if (url && local) throw new UsageError('--url and --local exclude each other');
    if ((url || local) && asOf)
      throw new UsageError('--as-of pins the clock of an in-process replay; drop --url/--local');
    if (url && dryRun) throw new UsageError('--dry-run plans in-process; it cannot ask a function at --url');
    let clock: Clock = systemClock;
    if (asOf) {
      try {
        clock = fixedClock(asOf);
      } catch {
        throw new UsageError(`--as-of: expected an RFC 3339 time, got "${asOf}"`);
      }
    }

    const inputs = await readInputs(where, readStdin);
    if (inputs.length === 0) throw new OperationFailed(`${where}: no events to replay`);

    let target: Target;
    if (url) target = { mode: 'url', url };
    else if (local && !dryRun) {
      const rt = await readRuntime(g.stateDir);
      if (!rt)
        throw new OperationFailed(`no local runtime is running in ${g.stateDir} (start it with npm start)`);
      target = { mode: 'local', urls: rt.functionUrls };
    } else {
      let globals = g;
      if (local) {
        const rt = await readRuntime(g.stateDir);
        if (!rt)
          throw new OperationFailed(`no local runtime is running in ${g.stateDir} (start it with npm start)`);
        globals = { ...g, kubeconfig: rt.kubeconfig };
      }
      target = { mode: 'in-process', cluster: await connect(globals), clock, dryRun };
    }

    const results: Replayed[] = [];
    let failed = false;
    let sent = 0;
    for (const input of inputs) {
      const r: Replayed = { input: input.label, event: undefined, deliveries: [] };
      results.push(r);
      let event: CloudEvent<unknown>;
      try {
        event = checkedEvent(input.json);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        r.error = `${input.label}: ${err.message}`;
        io.err(`cairn replay: ${r.error}\n`);
        failed = true;
        continue;
      }
      r.event = summary(event as unknown as CloudEventLike);
      const fns =
        target.mode === 'url'
          ? [fnOnly ?? 'url']
          : fnOnly
            ? [fnOnly]
            : routesFor(event as unknown as CloudEventLike);
      if (fns.length === 0) {
        r.skipped = `no Cairn function subscribes to ${event.type}${event.kind ? ` of kind ${String(event.kind)}` : ''}`;
        continue;
      }
      for (const fn of fns) {
        const d = await deliver(target, fn, event);
        r.deliveries.push(d);
        sent++;
        if (d.error) {
          failed = true;
          io.err(`cairn replay: ${input.label}: ${fn}: ${d.error}\n`);
        }
      }
    }
    emit(io, g.output, results, () => human(results, dryRun));
    if (sent === 0 && !failed) throw new OperationFailed('no function subscribes to any of these events');
    return failed ? 1 : 0;
  },
};
