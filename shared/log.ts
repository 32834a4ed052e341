/**
 * A structured logger: one JSON object a line, with a level, a message and fields such as the
 * resource, the event id and the action. Small on purpose (the functions' own runtime uses pino;
 * the agent and the CLI need no dependency for this).
 *
 * The same records print as readable lines for a person at a terminal (`npm start`, format
 * `text`): local time, level, who (the function or component), the message, then the remaining
 * fields as key=value. The event bookkeeping that the message already says (type, subject, action,
 * kind) is left to the JSON lines, which functions in a cluster and anything piped keep.
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

export type LogFormat = 'json' | 'text';

export function parseLogFormat(v: string | undefined): LogFormat | undefined {
  return v === 'json' || v === 'text' ? v : undefined;
}

export interface LoggerOptions {
  level?: Level;
  /** `json` (default, or $CAIRN_LOG_FORMAT) or `text`. */
  format?: LogFormat;
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
  const text = (opts.format ?? parseLogFormat(process.env.CAIRN_LOG_FORMAT)) === 'text';
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (order[level] < min) return;
    const time = clock();
    if (text) write(textLine(time, level, msg, { ...base, ...fields }));
    else write(JSON.stringify({ time: time.toISOString(), level, msg, ...base, ...fields }, errorReplacer));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, opts),
  };
}

/** Fields a text line leaves out: who is in front, the rest the message already says. */
const UNSHOWN = new Set(['component', 'function', 'eventId', 'eventType', 'subject', 'action', 'kind']);
const WHO_WIDTH = 'schedule-evaluator'.length;
const pad2 = (n: number) => String(n).padStart(2, '0');

function textLine(time: Date, level: Level, msg: string, fields: Fields): string {
  const clock = `${pad2(time.getHours())}:${pad2(time.getMinutes())}:${pad2(time.getSeconds())}.${String(time.getMilliseconds()).padStart(3, '0')}`;
  const who = String(fields.function ?? fields.component ?? '');
  const rest = Object.entries(fields)
    .filter(([k, v]) => !UNSHOWN.has(k) && v !== undefined)
    .map(([k, v]) => ` ${k}=${textValue(v)}`);
  // The event id, to look the event up (`cairn events show <id>`).
  const event = fields.eventId === undefined ? '' : ` event=${textValue(fields.eventId)}`;
  return `${clock} ${level.toUpperCase().padEnd(5)} ${who.padEnd(WHO_WIDTH)}  ${msg}${rest.join('')}${event}`;
}

function textValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(`${v.name}: ${v.message}`);
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v, errorReplacer) ?? String(v);
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({}, { write: () => {} });
