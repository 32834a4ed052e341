/**
 * `npm start`: Cairn on this machine with no cluster. Starts the local runtime, applies the
 * working example, and says what to type next. Ctrl-C stops everything; starting again resumes.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, parseLogFormat } from '../shared/log.ts';
import { applyFiles, REPO_ROOT, startLocalRuntime } from './runtime.ts';

const USAGE = `npm start [-- options]

  --state-dir DIR    where state lives (default .cairn, or $CAIRN_STATE_DIR)
  --port N           API emulator port (default 6443; 0 picks a free one)
  --clean            start from an empty state folder
  --kubeconfig FILE  use this cluster instead of the emulator (no local job runner then)
  --no-example       do not apply examples/local-demo.yaml
  --log-format F     text (readable lines; the default on a terminal) or json (one object a
                     line; the default when the output is piped)
  --help             this text
`;

async function main(): Promise<number> {
  // Everything this process and the agents it runs create is private to the user (files 0600,
  // folders 0700): the state folder holds credentials, and so do the backups.
  process.umask(0o077);
  let args: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      options: {
        'state-dir': { type: 'string' },
        port: { type: 'string' },
        clean: { type: 'boolean' },
        kubeconfig: { type: 'string' },
        'no-example': { type: 'boolean' },
        'log-format': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const port = Number(v.port ?? process.env.CAIRN_API_PORT ?? 6443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port: expected a port number, got ${JSON.stringify(v.port)}\n`);
    return 2;
  }
  const format =
    v['log-format'] === undefined
      ? process.stderr.isTTY
        ? 'text'
        : 'json'
      : parseLogFormat(v['log-format']);
  if (!format) {
    process.stderr.write(`--log-format: expected text or json, got ${JSON.stringify(v['log-format'])}\n`);
    return 2;
  }
  const stateDir = resolve(v['state-dir'] ?? process.env.CAIRN_STATE_DIR ?? join(REPO_ROOT, '.cairn'));
  if (v.clean) await rm(stateDir, { recursive: true, force: true });
  // Logs go to stderr (the banner below to stdout): readable there when it is a terminal.
  const log = createLogger({ component: 'cairn-local' }, { format });
  const runtime = await startLocalRuntime({
    stateDir,
    apiPort: port,
    ...(v.kubeconfig ? { kubeconfig: resolve(v.kubeconfig) } : {}),
    log,
  });
  if (!v['no-example']) {
    await applyFiles(runtime.kubeconfig, [join(REPO_ROOT, 'examples', 'local-demo.yaml')]);
    const data = join(stateDir, 'volumes', 'default', 'app-data');
    await mkdir(data, { recursive: true });
    if ((await readdir(data)).length === 0) {
      await writeFile(join(data, 'hello.txt'), 'Cairn backs this folder up every minute.\n');
    }
  }
  const kc = relative(process.cwd(), runtime.kubeconfig) || runtime.kubeconfig;
  process.stdout.write(
    [
      '',
      `Cairn is running${runtime.apiUrl ? ` (Kubernetes API emulator at ${runtime.apiUrl})` : ''}; state in ${relative(process.cwd(), stateDir) || stateDir}.`,
      '',
      'Try, in another terminal:',
      `  export KUBECONFIG=${kc}`,
      '  kubectl get backuppolicies,databasebackups',
      '  kubectl get backups -w              # a new Backup every minute',
      '  kubectl describe backuppolicy local-volumes',
      `  ls ${relative(process.cwd(), join(stateDir, 'volumes', 'default', 'cairn-backups', 'demo')) || '.'}`,
      '',
      'Ctrl-C stops Cairn; npm start resumes where it stopped.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    process.stdout.write('\nstopping…\n');
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`cairn: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
