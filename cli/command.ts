/**
 * What every subcommand shares: its shape, the global options (kubectl's names), argument parsing
 * with `node:util` parseArgs, help text, and the exit codes.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in how the command was called: exit code 2, and the usage line on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The operation was refused or did not succeed: exit code 1 (the message says why). */
export class OperationFailed extends Error {
  override name = 'OperationFailed';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  'state-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export const GLOBAL_HELP = `Global options:
  --kubeconfig FILE       kubeconfig to use (default $KUBECONFIG, ~/.kube/config, else the
                          local runtime's <state-dir>/kubeconfig)
  --context NAME          kubeconfig context to use
  -n, --namespace NS      namespace (default: the context's, else "default")
  -A, --all-namespaces    every namespace (status, events)
  -o, --output FORMAT     table (default), json or yaml
  --state-dir DIR         the local runtime's state folder (default .cairn, or $CAIRN_STATE_DIR)
  -h, --help              this text

Exit codes: 0 ok, 1 the operation failed or was refused, 2 usage error.`;

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Globals {
  kubeconfig: string | undefined;
  context: string | undefined;
  namespace: string | undefined;
  allNamespaces: boolean;
  output: OutputFormat;
  stateDir: string;
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Reads one answer line (confirmations); undefined when stdin is not a terminal. */
  ask?: (question: string) => Promise<string | undefined>;
}

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  /** Usage lines and the command's own options, shown by `cairn <name> --help`. */
  help: string;
  options: Options;
  run(args: Parsed, globals: Globals, io: Io): Promise<number>;
}

/** Parses a subcommand's argv; a parse failure is a UsageError. */
export function parseCommand(
  cmd: Command,
  argv: string[],
): { parsed: Parsed; globals: Globals; help: boolean } {
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...cmd.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = r.values as Record<string, unknown>;
  const output = (v.output as string | undefined) ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'yaml')
    throw new UsageError(`--output: expected table, json or yaml, got "${output}"`);
  if (v['all-namespaces'] && v.namespace)
    throw new UsageError('--namespace and --all-namespaces exclude each other');
  const globals: Globals = {
    kubeconfig: v.kubeconfig as string | undefined,
    context: v.context as string | undefined,
    namespace: v.namespace as string | undefined,
    allNamespaces: v['all-namespaces'] === true,
    output,
    stateDir: (v['state-dir'] as string | undefined) ?? process.env.CAIRN_STATE_DIR ?? '.cairn',
  };
  return {
    parsed: { values: r.values as Values, positionals: r.positionals },
    globals,
    help: v.help === true,
  };
}

export function commandHelp(cmd: Command): string {
  return `${cmd.summary}\n\n${cmd.help.trimEnd()}\n\n${GLOBAL_HELP}\n`;
}

/** A string option's value, or undefined. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function bool(values: Values, name: string): boolean {
  return values[name] === true;
}

/** Exactly `n` positional arguments, else a UsageError naming what is expected. */
export function positionals(args: Parsed, names: string[]): string[] {
  if (args.positionals.length !== names.length)
    throw new UsageError(
      `expected ${names.map((n) => `<${n}>`).join(' ') || 'no arguments'}, got ${args.positionals.length === 0 ? 'none' : args.positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  return args.positionals;
}

/** An RFC 3339 instant, or a duration before now (`90s`, `15m`, `2h`, `7d`). */
export function parseInstant(flag: string, text: string, now: Date): Date {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (m) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(m[1]) * unit);
  }
  const t = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(t.getTime()))
    throw new UsageError(
      `${flag}: expected an RFC 3339 time (2030-01-01T00:00:00Z) or a duration (15m), got "${text}"`,
    );
  return t;
}

/** A duration flag (`30s`, `10m`) in milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new UsageError(`${flag}: expected a duration such as 30s or 10m, got "${text}"`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}
