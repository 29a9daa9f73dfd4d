import { Writable } from 'node:stream';
import winston from 'winston';
import { redactLogValue } from './redact';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; standard output when absent. Tests pass a sink to read them back. */
  sink?: Writable;
  /** Fields on every line (e.g. the process role). */
  defaultMeta?: Record<string, unknown>;
}

/**
 * Redaction runs as a winston format, so no call site can forget it: secrets, signature and
 * authorisation values, URL credentials and query strings, and phone numbers are masked on
 * every line whatever the caller passed.
 */
const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    info[key] = redactLogValue(key, info[key]);
  }
  return info;
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const transport = options.sink
    ? new winston.transports.Stream({ stream: options.sink })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level ?? 'info',
    defaultMeta: options.defaultMeta,
    format: winston.format.combine(
      redactFormat(),
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    transports: [transport],
  });
}

/** A logger that writes nowhere; for tests that do not read logs. */
export function createSilentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}

/** Collects JSON log lines in memory; tests use it to assert what was (and was not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() !== '') this.lines.push(line);
    }
    callback();
  }

  entries(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  text(): string {
    return this.lines.join('\n');
  }
}
