/**
 * `tsx local/apiserver/main.ts [--port 6443] [--host 127.0.0.1] [--state-dir DIR] [--kubeconfig FILE]`
 * Starts the emulator (https, loopback hosts only), prints its URL on stdout, and stops cleanly on
 * SIGINT/SIGTERM. Every request needs the token of the kubeconfig it writes (`--kubeconfig`).
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../shared/log.ts';
import { startApiServer } from './index.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '6443' },
    host: { type: 'string', default: '127.0.0.1' },
    'state-dir': { type: 'string' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
  },
});

const log = createLogger({ component: 'apiserver' });
const server = await startApiServer({
  port: Number(values.port),
  host: values.host,
  logger: log,
  ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
});
if (values.kubeconfig)
  server.writeKubeconfig(values.kubeconfig, values.namespace ? { namespace: values.namespace } : {});
process.stdout.write(`${server.url}\n`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info('stopping', { signal });
  server.close().then(
    () => process.exit(0),
    (e: unknown) => {
      log.error('close failed', { error: e });
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
