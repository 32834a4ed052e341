/**
 * What `npm start` prints: readable lines when its output is a terminal (a real pseudo-terminal,
 * made by util-linux's `script`), JSON lines when piped, and either on request with --log-format.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

const root = new URL('../../', import.meta.url).pathname;

/** Starts local/main.ts (on a terminal: under `script`), waits until it is up, stops it; its output. */
async function startAndStop(
  args: string[],
  terminal: boolean,
): Promise<{ code: number | null; out: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cairn-logs-'));
  try {
    const argv = [
      process.execPath,
      '--import',
      'tsx',
      join(root, 'local/main.ts'),
      '--state-dir',
      stateDir,
      '--port',
      '0',
      '--no-example',
      ...args,
    ];
    const child = terminal
      ? spawn('script', ['-qefc', argv.map((a) => `'${a}'`).join(' '), '/dev/null'], {
          cwd: root,
          stdio: ['pipe', 'pipe', 'pipe'],
        })
      : spawn(argv[0] as string, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Cairn is running') && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (child.exitCode === null) {
      // Ctrl-C: through the terminal when there is one.
      if (terminal) child.stdin?.write('\x03');
      else child.kill('SIGINT');
    }
    return { code: await exited, out: out.replace(/\r\n/g, '\n') };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

const readable =
  /^\d\d:\d\d:\d\d\.\d{3} INFO {2}apiserver\s+api server listening url=https:\/\/127\.0\.0\.1:\d+ /m;
const jsonLine = /^\{"time":"[^"]+","level":"info","msg":"api server listening",.*\}$/m;

test('on a terminal npm start prints readable lines, and JSON lines with --log-format json', async (t) => {
  const text = await startAndStop([], true);
  t.regex(text.out, readable);
  t.notRegex(text.out, jsonLine);
  t.regex(text.out, /Cairn is running/);
  const json = await startAndStop(['--log-format', 'json'], true);
  t.regex(json.out, jsonLine);
  t.notRegex(json.out, readable);
});

test('piped, npm start prints JSON lines, and readable ones with --log-format text; a bad format is a usage error', async (t) => {
  const piped = await startAndStop([], false);
  t.regex(piped.out, jsonLine);
  t.notRegex(piped.out, readable);
  const text = await startAndStop(['--log-format', 'text'], false);
  t.regex(text.out, readable);
  const bad = await startAndStop(['--log-format', 'yaml'], false);
  t.is(bad.code, 2);
  t.regex(bad.out, /--log-format: expected text or json, got "yaml"/);
});
