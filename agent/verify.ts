/**
 * `cairn-agent verify`: proves a backup restores. It restores the backup into a scratch target —
 * a database on the same server, or a folder of a scratch volume —, runs the checks there, and
 * drops the scratch target again whatever happened (also when the restore or a check failed). A
 * scratch target a killed pod left behind is dropped before the next verification starts.
 *
 * Checks never go through a shell or a client's stdin: a SQL check is one statement sent by a
 * protocol driver to the scratch database, in a read-only transaction (agent/checks.ts); a file
 * check only stats paths that stay inside the restored folder.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import {
  AGENT_EXIT,
  type AgentFailure,
  type AgentSuccess,
  type AgentVerifyOptions,
  type CheckResult,
  COMPARISON,
  type VerifyCheck,
} from '../shared/agent-contract.ts';
import { CairnError, messageOf } from '../shared/errors.ts';
import type { AgentDeps } from './backup.ts';
import { dropDatabase, type Rows, runSqlCheck } from './checks.ts';
import { RestoreFailed, Unsupported } from './errors.ts';
import { parseManifest } from './manifest.ts';
import { runRestore } from './restore.ts';

/** The backup restored, but checks failed on the restored copy (exit 7, reason ChecksFailed). */
export class ChecksFailed extends CairnError {
  readonly checks: CheckResult[];
  constructor(checks: CheckResult[]) {
    const failed = checks.filter((c) => !c.passed);
    super(
      'InvalidSpec',
      `${failed.length} of ${checks.length} check(s) failed: ${failed.map((c) => `${c.name}: ${c.message}`).join('; ')}`,
      {
        code: 422,
      },
    );
    this.checks = checks;
  }

  failure(): Pick<AgentFailure, 'reason' | 'exitCode' | 'message'> {
    return { reason: 'ChecksFailed', exitCode: AGENT_EXIT.checksFailed, message: this.message };
  }
}

export async function runVerify(opts: AgentVerifyOptions, deps: AgentDeps): Promise<AgentSuccess> {
  const manifest = parseManifest(await text(await deps.store.get(opts.manifestKey)), opts.manifestKey);
  const t = opts.target;
  if (t.kind === 'custom') throw new Unsupported('--target', 'a custom target cannot be verified');
  if (t.kind !== 'tar') {
    if (!t.database) throw new Unsupported('--database', 'the scratch database is required');
    if (manifest.source.allDatabases)
      throw new Unsupported(
        '--target',
        'a backup of all databases cannot be verified in one scratch database',
      );
    if (t.database === manifest.source.database) {
      throw new Unsupported(
        '--database',
        `the scratch database must not be the backed-up database ${t.database}: verification drops it afterwards`,
      );
    }
  }
  const drop = () => dropScratch(opts, deps);
  await drop();
  deps.log.info('verification started', { manifestKey: opts.manifestKey, checks: opts.checks.length });
  let result: AgentSuccess;
  let checks: CheckResult[];
  try {
    result = await runRestore({ ...opts, command: 'restore' }, deps);
    checks = [];
    for (const c of opts.checks) checks.push(await runCheck(c, opts, deps));
  } catch (e) {
    await drop().catch((d: unknown) =>
      deps.log.error('could not drop the scratch target', { error: messageOf(d) }),
    );
    throw e;
  }
  await drop();
  if (checks.some((c) => !c.passed)) throw new ChecksFailed(checks);
  deps.log.info('verification passed', { checks: checks.length });
  const end = deps.clock.now();
  return {
    ...result,
    command: 'verify',
    completionTime: end.toISOString(),
    durationMs: end.getTime() - Date.parse(result.startTime),
    checks,
  };
}

// ---------------------------------------------------------------------------------------------
// The scratch target

async function dropScratch(opts: AgentVerifyOptions, deps: AgentDeps): Promise<void> {
  const t = opts.target;
  if (t.kind === 'tar') {
    await rm(path.resolve(t.directory), { recursive: true, force: true });
    return;
  }
  if (t.kind === 'custom' || !t.database) return;
  try {
    await dropDatabase(t, deps.env);
  } catch (e) {
    throw new RestoreFailed(`could not drop the scratch database ${t.database}: ${messageOf(e)}`, e);
  }
  deps.log.info('scratch target dropped', { database: t.database });
}

// ---------------------------------------------------------------------------------------------
// The checks

async function runCheck(c: VerifyCheck, opts: AgentVerifyOptions, deps: AgentDeps): Promise<CheckResult> {
  const t = opts.target;
  try {
    if (c.file !== undefined) {
      if (t.kind !== 'tar')
        return { name: c.name, passed: false, message: 'a file check needs a volume target' };
      return await fileCheck(c, c.file, t.directory);
    }
    if (c.sql === undefined || t.kind === 'tar' || t.kind === 'custom')
      return { name: c.name, passed: false, message: 'a sql check needs a database target' };
    const rows = await runSqlCheck(t, c.sql, deps.env);
    return judge(c, rows);
  } catch (e) {
    return { name: c.name, passed: false, message: messageOf(e).slice(0, 400) };
  }
}

function judge(c: VerifyCheck, rows: Rows): CheckResult {
  const problems: string[] = [];
  const found = rows.map((r) => r.join('|')).join('\n');
  if (c.expect !== undefined && found.trim() !== c.expect.trim())
    problems.push(
      `expected ${JSON.stringify(c.expect.trim())}, got ${JSON.stringify(found.trim().slice(0, 200))}`,
    );
  const m = c.compare !== undefined ? COMPARISON.exec(c.compare) : null;
  if (m) {
    const [, subject, op, num] = m as unknown as [string, 'rowCount' | 'value', string, string];
    const actual = subject === 'rowCount' ? rows.length : Number(rows[0]?.[0]);
    if (subject === 'value' && (rows.length === 0 || Number.isNaN(actual)))
      problems.push(
        `value is not a number (${rows.length === 0 ? 'no rows' : JSON.stringify(rows[0]?.[0])})`,
      );
    else if (!compare(actual, op, Number(num))) problems.push(`${subject} ${actual} is not ${op} ${num}`);
  }
  const summary = c.compare
    ? `${c.compare.replace(/ +/g, ' ')} (${rows.length} row(s))`
    : `${rows.length} row(s)`;
  return problems.length
    ? { name: c.name, passed: false, message: problems.join('; ') }
    : { name: c.name, passed: true, message: summary };
}

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a < b;
  }
}

async function fileCheck(c: VerifyCheck, file: string, directory: string): Promise<CheckResult> {
  const root = path.resolve(directory);
  const p = path.resolve(root, file);
  if (p !== root && !p.startsWith(`${root}${path.sep}`))
    return { name: c.name, passed: false, message: `${file} is outside the restored volume` };
  const s = await stat(p).catch(() => undefined);
  if (!s) return { name: c.name, passed: false, message: `${file} does not exist in the restored copy` };
  const size = s.isDirectory() ? await folderSize(p) : s.size;
  if (c.minSizeBytes !== undefined && size < c.minSizeBytes)
    return {
      name: c.name,
      passed: false,
      message: `${file} has ${size} bytes, fewer than ${c.minSizeBytes}`,
    };
  return { name: c.name, passed: true, message: `${file}: ${size} bytes` };
}

async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await folderSize(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}
