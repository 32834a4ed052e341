#!/usr/bin/env node
/**
 * cairn-agent: runs inside a backup or restore Job. `cairn-agent backup|restore [flags]`; see
 * agent/README.md or `--help`. It reports through the pod's termination message (one JSON
 * AgentResult, also printed on stdout) and its exit code; logs are JSON lines on stderr.
 */
import { writeFile } from 'node:fs/promises';
import {
  AGENT_ENV,
  type AgentDeleteSuccess,
  type AgentOptions,
  type AgentResult,
  DEFAULT_TERMINATION_LOG,
  formatAgentResult,
  parseAgentArgs,
  wantsHelp,
} from '../shared/agent-contract.ts';
import { systemClock } from '../shared/clock.ts';
import { messageOf } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { openStore, type StoreCredentials } from '../shared/storage/index.ts';
import { runBackup } from './backup.ts';
import { runDelete } from './delete.ts';
import { toFailure } from './errors.ts';
import { CAIRN_VERSION } from './manifest.ts';
import { runRestore } from './restore.ts';
import { USAGE } from './usage.ts';
import { ChecksFailed, runVerify } from './verify.ts';

/** Explicit store credentials from the env the Job sets from Secrets (the SDKs would also find most of them). */
function credentialsFromEnv(env: NodeJS.ProcessEnv): StoreCredentials {
  const id = env[AGENT_ENV.awsAccessKeyId];
  const secret = env[AGENT_ENV.awsSecretAccessKey];
  const token = env[AGENT_ENV.awsSessionToken];
  const key = env[AGENT_ENV.googleCredentials];
  return {
    ...(id && secret
      ? { s3: { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) } }
      : {}),
    ...(key ? { gcsKeyFile: key } : {}),
  };
}

/** Where the termination message goes: the flag, else the env var, else Kubernetes' default. */
function terminationLogOf(
  argv: readonly string[],
  opts: AgentOptions | undefined,
  env: NodeJS.ProcessEnv,
): string {
  if (opts?.terminationLog) return opts.terminationLog;
  // Arguments that failed to parse may still name it.
  const i = argv.indexOf('--termination-log');
  const fromArgv = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--termination-log='))?.slice(18);
  return fromArgv || env[AGENT_ENV.terminationLog] || DEFAULT_TERMINATION_LOG;
}

async function report(result: AgentResult | AgentDeleteSuccess, file: string, log: Logger): Promise<void> {
  const text = formatAgentResult(result);
  process.stdout.write(`${text}\n`);
  try {
    await writeFile(file, text);
  } catch (e) {
    log.warn('could not write the termination message', { file, error: messageOf(e) });
  }
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = createLogger({ component: 'cairn-agent', version: CAIRN_VERSION });
  if (wantsHelp(argv)) {
    process.stdout.write(USAGE);
    return 0;
  }
  const startTime = systemClock.now().toISOString();
  let opts: AgentOptions | undefined;
  try {
    opts = parseAgentArgs(argv);
    const store = await openStore(opts.destination, credentialsFromEnv(env));
    const deps = { store, log: log.child({ command: opts.command }), clock: systemClock, env };
    const result =
      opts.command === 'backup'
        ? await runBackup(opts, deps)
        : opts.command === 'restore'
          ? await runRestore(opts, deps)
          : opts.command === 'verify'
            ? await runVerify(opts, deps)
            : await runDelete(opts, deps);
    await report(result, terminationLogOf(argv, opts, env), log);
    return 0;
  } catch (e) {
    const f = e instanceof ChecksFailed ? e.failure() : toFailure(e);
    log.error(`${opts?.command ?? 'agent'} failed`, {
      reason: f.reason,
      exitCode: f.exitCode,
      error: f.message,
    });
    await report(
      {
        ok: false,
        ...(opts ? { command: opts.command } : {}),
        reason: f.reason,
        message: f.message,
        exitCode: f.exitCode,
        startTime,
        completionTime: systemClock.now().toISOString(),
      },
      terminationLogOf(argv, opts, env),
      log,
    );
    return f.exitCode;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
