#!/usr/bin/env -S node --import tsx
/**
 * `cairn`: inspect and drive Cairn from a terminal — replay recorded events, read the event
 * record, see every schedule at a glance, back up and restore by hand, describe a backup.
 * Exit codes: 0 ok, 1 the operation failed or was refused, 2 usage error.
 *
 * Run bundled (cli/build.ts, started by cli/bin/cairn.mjs) or from source (`node --import tsx
 * cli/cairn.ts`). Each subcommand is a module loaded when it is asked for: `cairn status` does not
 * load replay's five functions.
 */
import {
  type Command,
  commandHelp,
  EXIT,
  GLOBAL_HELP,
  type Io,
  OperationFailed,
  parseCommand,
  UsageError,
} from './command.ts';

/** The subcommands, in the order help lists them; each module is loaded when it runs. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  status: async () => (await import('./status.ts')).status,
  events: async () => (await import('./events.ts')).events,
  replay: async () => (await import('./replay.ts')).replay,
  backup: async () => (await import('./backup.ts')).backup,
  restore: async () => (await import('./restore.ts')).restore,
  describe: async () => (await import('./describe.ts')).describe,
  convert: async () => (await import('./convert.ts')).convert,
};

async function mainHelp(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `cairn: scheduled, verified backups on Kubernetes, from the terminal.

Usage: cairn <command> [arguments] [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

"cairn <command> --help" describes a command.

${GLOBAL_HELP}
`;
}

const io: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  ask: async (question) => {
    if (!process.stdin.isTTY) return undefined;
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const load = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    io.out(load ? commandHelp(await load()) : await mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    io.err(
      `cairn: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')}; cairn --help)\n`,
    );
    return EXIT.usage;
  }
  const cmd = await load();
  try {
    const { parsed, globals, help } = parseCommand(cmd, rest);
    if (help) {
      io.out(commandHelp(cmd));
      return EXIT.ok;
    }
    return await cmd.run(parsed, globals, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`cairn ${cmd.name}: ${err.message} (cairn ${cmd.name} --help)\n`);
      return EXIT.usage;
    }
    const msg = err instanceof Error ? err.message : String(err);
    io.err(`cairn ${cmd.name}: ${msg.split('\n')[0]}\n`);
    if (process.env.CAIRN_DEBUG && err instanceof Error && !(err instanceof OperationFailed))
      io.err(`${err.stack}\n`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2)).then(
  // Exit once stdout is flushed: API clients keep sockets open that would hold the process.
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`cairn: ${String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
