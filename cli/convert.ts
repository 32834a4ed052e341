/**
 * `cairn convert -f old.yaml`: the manifests of a seed system (shared/seeds/000–004, see
 * cli/convert-seeds.ts) as Cairn manifests, with a comment for every choice made and every field
 * left behind. Kubernetes' own kinds pass through unchanged; anything else is reported and not
 * converted (exit 1). Every Cairn object printed has passed Cairn's validation (shared/api).
 */
import { readFile } from 'node:fs/promises';
import { Document, isScalar, parseAllDocuments } from 'yaml';
import { fieldErrors } from '../local/apiserver/admission.ts';
import { type Command, EXIT, type Io, OperationFailed, str, UsageError } from './command.ts';
import { groupOf, type Json, type Mapped, type Note, rec, SEED_KINDS } from './convert-seeds.ts';

const CAIRN_KINDS = ['DatabaseBackup', 'BackupPolicy', 'Backup', 'Restore'];

/** One input document's fate. */
type Outcome =
  | { type: 'converted'; obj: Json; notes: Note[]; from: string }
  | { type: 'unchanged'; obj: Json; notes: Note[]; from: string }
  | { type: 'refused'; from: string; reason: string; text: string };

function describeDoc(obj: Json, at: string): string {
  const m = rec(obj.metadata);
  const name = m.name ? ` ${m.namespace ? `${String(m.namespace)}/` : ''}${String(m.name)}` : '';
  return `${at}: ${String(obj.apiVersion ?? '?')} ${String(obj.kind ?? '?')}${name}`;
}

/** Kubernetes' own groups (core, apps, batch, *.k8s.io): applied as they are. */
function isKubernetesKind(apiVersion: string): boolean {
  const group = groupOf(apiVersion);
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

/**
 * The one place convert validates: as the API server would, against Cairn's CRDs (their schemas
 * and CEL rules), through the emulator's admission (local/apiserver/admission.ts).
 */
function validate(obj: Json): Promise<{ field: string; message: string }[]> {
  return fieldErrors(String(obj.kind), structuredClone(obj));
}

function dropPath(obj: Json, field: string): boolean {
  const parts = field.split('.');
  let cur: Json = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (!next || typeof next !== 'object' || Array.isArray(next)) return false;
    cur = next as Json;
  }
  const last = parts[parts.length - 1] as string;
  if (!(last in cur)) return false;
  delete cur[last];
  return true;
}

/**
 * Fields Cairn's schema does not have are left behind, each with a note; what else the schema
 * refuses makes the document refused, with the API server's wording.
 */
async function checked(m: Mapped, from: string, text: string): Promise<Outcome> {
  for (let round = 0; round < 50; round++) {
    const errors = await validate(m.obj);
    if (errors.length === 0) return { type: 'converted', obj: m.obj, notes: m.notes, from };
    const unknown = errors.filter((e) => e.message === 'unknown field');
    if (unknown.length === 0 || !unknown.every((e) => dropPath(m.obj, e.field))) {
      return {
        type: 'refused',
        from,
        reason: `the result does not pass Cairn's validation: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
        text,
      };
    }
    for (const e of unknown) m.notes.push({ text: `${e.field}: not carried over (Cairn has no such field)` });
  }
  return { type: 'refused', from, reason: 'too many unknown fields', text };
}

function secretPlaceholders(obj: Json): Note[] {
  if (obj.kind !== 'Secret') return [];
  const notes: Note[] = [];
  for (const [k, v] of Object.entries(rec(obj.data))) {
    const s = String(v);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0)
      notes.push({
        path: ['data', k],
        text: 'not base64: a placeholder? kubectl apply refuses it until you put the base64 value here',
      });
  }
  return notes;
}

async function convertDocument(
  value: unknown,
  text: string,
  at: string,
  opts: { schedule?: string | undefined; namespace?: string | undefined },
): Promise<Outcome> {
  const obj = rec(value);
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : undefined;
  const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
  if (!apiVersion || !kind) {
    const keys = Object.keys(obj);
    const policyFields = [
      'schedule',
      'retention',
      'retentionCount',
      'pvcSelector',
      'backupStrategy',
      'suspend',
    ];
    const hint =
      keys.length > 0 && keys.every((k) => policyFields.includes(k))
        ? ` Its keys (${keys.join(', ')}) are fields of Cairn's BackupPolicy spec, where they mean the same: put them under spec: of a BackupPolicy.`
        : '';
    return {
      type: 'refused',
      from: at,
      reason: `not a manifest: it has no ${!apiVersion ? 'apiVersion' : 'kind'} (a fragment?).${hint}`,
      text,
    };
  }
  const from = describeDoc(obj, at);
  const seed = SEED_KINDS.find((s) => s.matches(apiVersion, kind, rec(obj.spec)));
  if (seed) {
    const mapped = seed.map(obj, opts);
    mapped.notes.unshift({ text: `from ${seed.seed}` });
    const out = await checked(mapped, from, text);
    if (out.type === 'converted') out.notes.push(...mapped.todo.map((t) => ({ text: `TODO: ${t}` })));
    return out;
  }
  if (apiVersion.startsWith('backup.cairn.dev/') && CAIRN_KINDS.includes(kind)) {
    const errors = await validate(obj);
    if (errors.length > 0)
      return {
        type: 'refused',
        from,
        reason: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
        text,
      };
    return { type: 'unchanged', obj, notes: [{ text: "already Cairn's: unchanged" }], from };
  }
  if (isKubernetesKind(apiVersion)) {
    if (opts.namespace && !rec(obj.metadata).namespace && kind !== 'Namespace')
      obj.metadata = { ...rec(obj.metadata), namespace: opts.namespace };
    return {
      type: 'unchanged',
      obj,
      notes: [{ text: `a Kubernetes ${kind}: passed through unchanged` }, ...secretPlaceholders(obj)],
      from,
    };
  }
  return {
    type: 'refused',
    from,
    reason: `${kind} of ${apiVersion} is not a kind of the seed systems cairn convert knows (DatabaseBackup, BackupDatabaseSchema, BackupPolicy, Backup, Restore)`,
    text,
  };
}

function render(o: Outcome): string {
  if (o.type === 'refused') {
    const body = o.text
      .trimEnd()
      .split('\n')
      .map((l) => `#   ${l}`)
      .join('\n');
    return `# cairn convert: NOT CONVERTED ${o.from}\n# ${o.reason}\n${body}\n`;
  }
  const doc = new Document(o.obj);
  const header = [`cairn convert: ${o.from}`];
  for (const n of o.notes) {
    const node = n.path ? doc.getIn(n.path, true) : undefined;
    if (isScalar(node)) node.comment = node.comment ? `${node.comment}; ${n.text}` : ` ${n.text}`;
    else header.push(`- ${n.path ? `${n.path.join('.')}: ` : ''}${n.text}`);
  }
  doc.commentBefore = header.map((h) => ` ${h}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}

async function readInput(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new OperationFailed(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Converts the text of one input (several documents); returns what to print and what to say. */
export async function convertText(
  text: string,
  source: string,
  opts: { schedule?: string | undefined; namespace?: string | undefined },
): Promise<Outcome[]> {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  const outcomes = await Promise.all(
    list.map((d, i): Outcome | undefined | Promise<Outcome> => {
      const at = `${source} document ${i + 1}`;
      const part = text.slice(d.range[0], d.range[2]);
      if (d.errors.length > 0) {
        const e = d.errors[0];
        const line = e?.linePos?.[0] ? ` line ${e.linePos[0].line}` : '';
        return {
          type: 'refused',
          from: at,
          reason: `not YAML${line}: ${e?.message.split('\n')[0]}`,
          text: part,
        };
      }
      const value = d.toJS() as unknown;
      if (value === null || value === undefined) return undefined;
      return convertDocument(value, part, at, opts);
    }),
  );
  return outcomes.filter((o): o is Outcome => o !== undefined);
}

export const convert: Command = {
  name: 'convert',
  summary:
    "Rewrite a seed system's manifests (DatabaseBackup, BackupDatabaseSchema, BackupPolicy…) as Cairn's.",
  help: `Usage: cairn convert -f FILE [-f FILE…] [--schedule CRON] [-n NAMESPACE]
       cairn convert -f - < old.yaml

Reads the manifests of the systems Cairn replaces (docs/from-*.md) and prints Cairn manifests
that kubectl apply accepts: kinds, fields, Secrets and namespaces mapped, a comment beside every
choice made and every field not carried over, and TODOs (also on stderr) for what only you can
do. Kubernetes' own kinds (Secret, Service, StatefulSet…) pass through unchanged. A document it
cannot convert (an unknown kind, a fragment, invalid YAML) is printed as a comment and reported;
the exit code is then 1.

Options:
  -f, --filename FILE   input file, or - for stdin (repeatable)
  --schedule CRON       schedule for kinds that had none (seed 001; default "*/5 * * * *",
                        what the seed did)
  -n, --namespace NS    put objects that name no namespace into NS`,
  options: { filename: { type: 'string', short: 'f', multiple: true }, schedule: { type: 'string' } },
  async run(args, g, io: Io) {
    const files = (args.values.filename as string[] | undefined) ?? [];
    if (files.length === 0) throw new UsageError('-f FILE (or -f - for stdin) is required');
    if (args.positionals.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const opts = { schedule: str(args.values, 'schedule'), namespace: g.namespace };
    if (
      opts.schedule !== undefined &&
      opts.schedule.trim().split(/\s+/).length !== 5 &&
      !opts.schedule.startsWith('@')
    )
      throw new UsageError(
        `--schedule: expected five cron fields or @hourly/@daily…, got "${opts.schedule}"`,
      );
    const outcomes: Outcome[] = [];
    for (const f of files)
      outcomes.push(...(await convertText(await readInput(f), f === '-' ? 'stdin' : f, opts)));
    if (outcomes.length === 0) throw new OperationFailed('no manifests in the input');
    io.out(outcomes.map(render).join('---\n'));
    let refused = 0;
    for (const o of outcomes) {
      if (o.type === 'refused') {
        refused++;
        io.err(`cairn convert: not converted: ${o.from}: ${o.reason}\n`);
      } else
        for (const n of o.notes)
          if (n.text.startsWith('TODO: ')) io.err(`cairn convert: ${o.from}: ${n.text}\n`);
      if (o.type !== 'refused')
        for (const n of o.notes)
          if (n.text.startsWith('not base64'))
            io.err(`cairn convert: ${o.from}: data.${String(n.path?.[1])}: ${n.text}\n`);
    }
    const converted = outcomes.filter((o) => o.type === 'converted').length;
    const unchanged = outcomes.filter((o) => o.type === 'unchanged').length;
    io.err(`cairn convert: ${converted} converted, ${unchanged} unchanged, ${refused} not converted\n`);
    return refused > 0 ? EXIT.failed : EXIT.ok;
  },
};
