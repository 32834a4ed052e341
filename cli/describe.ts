/**
 * `cairn describe <backup>`: one Backup (or `restore/<name>`) in full — phase, timings, artifact
 * location, size, checksum, conditions, the tail of its Job's log, and the Events about it and
 * its Job. Logs come from the API (pods/log); on the local runtime, from `<state-dir>/logs/`.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Backup, Restore } from '../shared/api/index.ts';
import { systemClock } from '../shared/clock.ts';
import type { KubeObject } from '../shared/kube.ts';
import { type Cluster, connect, readRuntime } from './cluster.ts';
import { type Command, OperationFailed, str, UsageError } from './command.ts';
import { age, emit, fields, humanBytes, table } from './output.ts';

interface EventLine {
  type: string;
  reason: string;
  object: string;
  count: number;
  lastTimestamp: string | undefined;
  from: string | undefined;
  message: string;
}

/** A timestamp field as the API server wrote it (RFC 3339), or undefined. */
function iso(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function eventsAbout(
  cluster: Cluster,
  namespace: string,
  objects: [string, string][],
): Promise<EventLine[]> {
  const all = await cluster.kube.list<KubeObject>('Event', namespace);
  return all
    .filter((e) =>
      objects.some(([kind, name]) => e.involvedObject?.kind === kind && e.involvedObject?.name === name),
    )
    .map((e) => ({
      type: String(e.type ?? ''),
      reason: String(e.reason ?? ''),
      object: `${String(e.involvedObject.kind).toLowerCase()}/${e.involvedObject.name}`,
      count: Number(e.count ?? 1),
      lastTimestamp: iso(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp),
      from: e.source?.component ?? e.reportingComponent,
      message: String(e.message ?? ''),
    }))
    .sort((a, b) => (a.lastTimestamp ?? '').localeCompare(b.lastTimestamp ?? ''));
}

/** The newest pod of the Job and the last lines of its log, from the API or the local runtime's files. */
async function jobLog(
  cluster: Cluster,
  stateDir: string,
  namespace: string,
  jobName: string,
  lines: number,
): Promise<{ pod: string; log: string; from: string } | undefined> {
  const pods = await cluster.kube.list<KubeObject>('Pod', namespace, {
    labelSelector: `job-name=${jobName}`,
  });
  pods.sort((a, b) =>
    (iso(b.metadata.creationTimestamp) ?? '').localeCompare(iso(a.metadata.creationTimestamp) ?? ''),
  );
  const pod = pods[0]?.metadata.name;
  if (!pod) return undefined;
  const rt = await readRuntime(stateDir);
  if (rt?.apiUrl && cluster.server && new URL(rt.apiUrl).origin === new URL(cluster.server).origin) {
    const file = join(resolve(stateDir), 'logs', namespace, `${pod}.log`);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return { pod, log: tail(text, lines), from: file };
  }
  const log = await cluster.podLog(namespace, pod, lines);
  return log === undefined ? undefined : { pod, log: tail(log, lines), from: `pods/${pod}/log` };
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export const describe: Command = {
  name: 'describe',
  summary: 'Show one Backup (or restore/<name>): phase, timings, artifact, checksum, log tail, Events.',
  help: `Usage: cairn describe <backup> | restore/<name> [--tail N]

Options:
  --tail N    lines of the Job's log to show (default 20; 0 for none)`,
  options: { tail: { type: 'string' } },
  async run(args, g, io) {
    const [ref, ...extra] = args.positionals;
    if (!ref || extra.length > 0) throw new UsageError('expected one <backup> or restore/<name>');
    const tailLines = Number(str(args.values, 'tail') ?? '20');
    if (!Number.isInteger(tailLines) || tailLines < 0)
      throw new UsageError('--tail: expected a whole number');
    const m = /^(?:(backups?|bk|restores?|rst)(?:\.backup\.cairn\.dev)?\/)?(.+)$/.exec(ref);
    const kind: 'Backup' | 'Restore' = m?.[1]?.startsWith('r') ? 'Restore' : 'Backup';
    const name = m?.[2] ?? ref;
    const cluster = await connect(g);
    const ns = cluster.namespace;
    const obj = await cluster.kube.get<Backup | Restore>(kind, ns, name);
    if (!obj) throw new OperationFailed(`${kind} ${name} not found in namespace ${ns}`);
    const jobName = obj.status?.jobName;
    const [events, log] = await Promise.all([
      eventsAbout(cluster, ns, [
        [kind, name],
        ...(jobName ? ([['Job', jobName]] as [string, string][]) : []),
      ]),
      jobName && tailLines > 0
        ? jobLog(cluster, g.stateDir, ns, jobName, tailLines)
        : Promise.resolve(undefined),
    ]);
    const data = { object: obj, events, ...(log ? { log } : {}) };
    emit(io, g.output, data, () => {
      const now = systemClock.now();
      const s = (obj.status ?? {}) as Backup['status'] & Restore['status'];
      const spec = obj.spec as Partial<Backup['spec']> & Partial<Restore['spec']>;
      const out = [
        fields([
          ['Name', obj.metadata.name],
          ['Namespace', ns],
          ['Kind', kind],
          ['Policy', spec.policyRef ? `${spec.policyRef.kind}/${spec.policyRef.name}` : undefined],
          ['Backup', spec.backupRef?.name],
          [
            'Run',
            kind === 'Backup'
              ? spec.scheduledTime
                ? `scheduled for ${spec.scheduledTime}`
                : 'manual'
              : undefined,
          ],
          ['Phase', s?.phase ?? 'Pending'],
          ['Job', jobName],
          ['Created', obj.metadata.creationTimestamp],
          ['Started', s?.startTime],
          ['Completed', s?.completionTime],
          ['Duration', s?.durationSeconds === undefined ? undefined : `${s.durationSeconds}s`],
          ['Location', s?.location],
          ['Manifest', s?.manifestKey],
          [
            'Size',
            s?.sizeBytes === undefined ? undefined : `${humanBytes(s.sizeBytes)} (${s.sizeBytes} bytes)`,
          ],
          [
            'Raw size',
            s?.rawBytes === undefined ? undefined : `${humanBytes(s.rawBytes)} (${s.rawBytes} bytes)`,
          ],
          ['Restored', s?.restoredBytes === undefined ? undefined : `${s.restoredBytes} bytes`],
          ['Compression', s?.compression],
          ['SHA-256', s?.sha256],
          ['Reason', s?.reason],
          ['Message', s?.message],
        ]),
      ];
      const conds = s?.conditions ?? [];
      out.push('', 'Conditions:');
      out.push(
        conds.length
          ? table(
              ['type', 'status', 'reason', 'age', 'message'],
              conds.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message]),
            )
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n')
          : '  <none>',
      );
      out.push('', log ? `Log (last ${tailLines} lines of ${log.pod}, from ${log.from}):` : 'Log:');
      out.push(
        log
          ? log.log
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n')
          : '  <not available>',
      );
      out.push('', 'Events:');
      out.push(
        events.length
          ? table(
              ['type', 'reason', 'age', 'from', 'object', 'message'],
              events.map((e) => [
                e.type,
                e.reason,
                `${age(e.lastTimestamp, now) ?? ''}${e.count > 1 ? ` (x${e.count})` : ''}`,
                e.from,
                e.object,
                e.message,
              ]),
            )
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n')
          : '  <none>',
      );
      return out.join('\n');
    });
    return 0;
  },
};
