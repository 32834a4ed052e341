#!/usr/bin/env -S node --import tsx
/**
 * `cairn`: inspect and drive Cairn from a terminal — replay recorded events, read the event
 * record, see every schedule at a glance, back up and restore by hand, describe a backup.
 * Exit codes: 0 ok, 1 the operation failed or was refused, 2 usage error.
 */
import { createInterface } from 'node:readline/promises';
import { backup } from './backup.ts';
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
import { convert } from './convert.ts';
import { describe } from './describe.ts';
import { events } from './events.ts';
import { replay } from './replay.ts';
import { restore } from './restore.ts';
import { status } from './status.ts';

const COMMANDS: Command[] = [status, events, replay, backup, restore, describe, convert];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `cairn: scheduled, verified backups on Kubernetes, from the terminal.

Usage: cairn <command> [arguments] [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

"cairn <command> --help" describes a command.

${GLOBAL_HELP}
`;
}

const io: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  ask: async (question) => {
    if (!process.stdin.isTTY) return undefined;
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
    const cmd = COMMANDS.find((c) => c.name === rest[0]);
    io.out(cmd ? commandHelp(cmd) : mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.err(
      `cairn: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}; cairn --help)\n`,
    );
    return EXIT.usage;
  }
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
