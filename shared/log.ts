/**
 * A structured logger: one JSON object a line, with a level, a message and fields such as the
 * resource, the event id and the action. Small on purpose (the functions' own runtime uses pino;
 * the agent and the CLI need no dependency for this).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  level?: Level;
  /** Where lines go; stderr by default so stdout stays free for data. */
  write?: (line: string) => void;
  clock?: () => Date;
}

function parseLevel(v: string | undefined): Level | undefined {
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : undefined;
}

export function createLogger(base: Fields = {}, opts: LoggerOptions = {}): Logger {
  const min = order[opts.level ?? parseLevel(process.env.CAIRN_LOG_LEVEL) ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = opts.clock ?? (() => new Date());
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (order[level] < min) return;
    write(JSON.stringify({ time: clock().toISOString(), level, msg, ...base, ...fields }, errorReplacer));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, opts),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({}, { write: () => {} });
