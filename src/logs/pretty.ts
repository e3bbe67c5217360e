/**
 * A readable form of the programs' JSON log lines (pino) for people: one line per event,
 * `time LEVEL service host=… port_id=… vhost_id=…: message key=value...`. Lines that are not
 * JSON log lines pass unchanged; a prefix before the JSON (e.g. journalctl's "Dec 01
 * 12:00:00 node prog[1]: ") is dropped, as the line carries its own time.
 */

export const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

const LEVEL_BY_NAME: Record<string, number> = Object.fromEntries(
  Object.entries(LEVELS).map(([number, name]) => [name.toLowerCase(), Number(number)]),
);

const COLORS: Record<number, string> = {
  10: '90',
  20: '36',
  30: '32',
  40: '33',
  50: '31',
  60: '35',
};

/** Fields shown in front, in this order, or not at all. */
const CONTEXT = ['host', 'port_id', 'vhost_id'];
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

export interface PrettyOptions {
  color: boolean;
  /** Lowest level shown (pino number); lines below it are dropped. */
  minLevel: number;
  /** Time zone of the times: the machine's, or UTC. */
  utc: boolean;
}

export function levelNumber(name: string): number | undefined {
  return LEVEL_BY_NAME[name.toLowerCase()];
}

function text(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'message' in value) {
    return text((value as { message: unknown }).message);
  }
  return JSON.stringify(value) ?? String(value);
}

function timestamp(time: unknown, utc: boolean): string {
  const date = new Date(typeof time === 'number' || typeof time === 'string' ? time : NaN);
  if (Number.isNaN(date.getTime())) return '-';
  const shifted = utc ? date : new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted
    .toISOString()
    .replace('T', ' ')
    .replace('Z', utc ? 'Z' : '');
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  const start = line.indexOf('{');
  if (start < 0) return undefined;
  try {
    const record: unknown = JSON.parse(line.slice(start));
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return undefined;
    const fields = record as Record<string, unknown>;
    return typeof fields.level === 'number' && 'msg' in fields ? fields : undefined;
  } catch {
    return undefined;
  }
}

/** The readable line for one input line, or undefined when its level is filtered out. */
export function prettyLine(line: string, options: PrettyOptions): string | undefined {
  const record = parseRecord(line);
  if (!record) return line;
  const level = record.level as number;
  if (level < options.minLevel) return undefined;
  const name = (LEVELS[level] ?? `L${level}`).padEnd(5);
  const shownLevel = options.color ? `\u001b[${COLORS[level] ?? '0'}m${name}\u001b[0m` : name;
  // pino's `name` (the emulator's) stands for the service when there is none.
  const serviceKey = record.service !== undefined ? 'service' : 'name';
  const head = [timestamp(record.time, options.utc), shownLevel];
  if (record[serviceKey] !== undefined) head.push(text(record[serviceKey]));
  for (const key of CONTEXT) {
    if (record[key] !== undefined) head.push(`${key}=${text(record[key])}`);
  }
  const rest = Object.entries(record)
    .filter(([key]) => !HIDDEN.has(key) && key !== serviceKey && !CONTEXT.includes(key))
    .map(([key, value]) => `${key}=${text(value)}`);
  const message = typeof record.msg === 'string' ? record.msg : text(record.msg);
  return `${head.join(' ').trimEnd()}: ${message}${rest.length > 0 ? `  ${rest.join(' ')}` : ''}`.replace(
    /[\r\n]+/g,
    ' ',
  );
}
