import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

/** A pino logger whose JSON lines are kept (parsed) in `lines`, for assertions on what was logged. */
export function captureLogger(level = 'info'): { logger: Logger; lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as LogRecord);
      }
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** How many lines were logged with message `msg`. */
export function countLines(lines: LogRecord[], msg: string): number {
  return lines.filter((line) => line.msg === msg).length;
}
