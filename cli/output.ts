/**
 * Output in one place: `--output json|yaml` print the command's data as-is (stable for scripts);
 * `table` prints the human view the command builds, with kubectl's column layout.
 */
import { stringify } from 'yaml';
import { humanBytes as iec } from '../shared/units.ts';
import type { Io, OutputFormat } from './command.ts';

/** Prints `data` as JSON or YAML, or calls `human` for the table view. */
export function emit(io: Io, format: OutputFormat, data: unknown, human: () => string): void {
  if (format === 'json') io.out(`${JSON.stringify(data, null, 2)}\n`);
  else if (format === 'yaml') io.out(stringify(data, { lineWidth: 0 }));
  else {
    const text = human();
    io.out(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  }
}

/** Columns padded to the widest cell, three spaces apart, as kubectl does; headers upper-case. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [
    headers.map((h) => h.toUpperCase()),
    ...rows.map((r) => r.map((c) => (c === undefined || c === '' ? '<none>' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - [...c].length)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/** `Key:  value` lines, aligned, skipping empty values. */
export function fields(pairs: [string, string | number | undefined][], indent = ''): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}${String(v)}`).join('\n');
}

/** A size in binary units, as the Backup's status and `kubectl get backups` show it (shared/units.ts). */
export function humanBytes(n: number | undefined): string | undefined {
  return n === undefined ? undefined : iec(n);
}

/** kubectl's short age: `45s`, `12m`, `3h`, `5d`. */
export function age(since: string | undefined, now: Date): string | undefined {
  if (!since) return undefined;
  const s = Math.round((now.getTime() - new Date(since).getTime()) / 1000);
  if (Number.isNaN(s)) return undefined;
  const a = Math.abs(s);
  const text =
    a < 120
      ? `${a}s`
      : a < 7200
        ? `${Math.floor(a / 60)}m`
        : a < 172800
          ? `${Math.floor(a / 3600)}h`
          : `${Math.floor(a / 86400)}d`;
  return s < 0 ? `in ${text}` : text;
}

/** A time with its age: `2030-01-01T00:01:00Z (3m)`. */
export function when(t: string | undefined, now: Date): string | undefined {
  if (!t) return undefined;
  const a = age(t, now);
  return a ? `${t} (${a.startsWith('in ') ? a : `${a} ago`})` : t;
}
