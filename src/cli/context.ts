import { ConfigError, loadConfig, type Config } from '../../config';
import { buildParts, closeParts, createApp, type App } from '../app';
import { AppError, toAppError } from '../errors';
import { createLogger, type Logger } from '../log/logger';

/**
 * What every command shares: configuration read once (a bad value exits 2 with the variable
 * named), the parts built from it, and one way of reporting errors and choosing exit codes:
 * 0 all good, 1 the check or operation found a problem, 2 configuration or usage error.
 */

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_PROBLEM,
  ) {
    super(message);
  }
}

export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`callvault: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
}

/** Commands log warnings and errors as JSON to stderr; their own output goes to stdout. */
export function commandLogger(config: Config): Logger {
  return createLogger({ level: config.logLevel === 'debug' ? 'debug' : 'warn', sink: process.stderr });
}

/** Runs `body` with a fully built app (migrated when auto-migrate is on), then closes it. */
export async function withApp<T>(body: (app: App) => Promise<T>, options: { logger?: Logger; config?: Config } = {}): Promise<T> {
  const config = options.config ?? loadConfigOrExit();
  const parts = buildParts(config, { logger: options.logger ?? commandLogger(config) });
  try {
    if (config.autoMigrate) await parts.db.migrate();
    const app = createApp(parts);
    try {
      return await body(app);
    } finally {
      // Audit entries the command caused (a sweep's destructions, a user change) are written before the database closes.
      await app.access.audit.idle();
    }
  } finally {
    await closeParts(parts);
  }
}

export function reportAndExit(error: unknown): never {
  if (error instanceof CommandFailure) {
    process.stderr.write(`callvault: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  const appError = toAppError(error);
  const exitCode = appError.code === 'E_CONFIG_INVALID' ? EXIT_USAGE : EXIT_PROBLEM;
  process.stderr.write(`callvault: ${appError.code}: ${appError.message}\n`);
  if (appError.code === 'E_INTERNAL' && error instanceof Error && process.env.CALLVAULT_DEBUG) process.stderr.write(`${error.stack}\n`);
  process.exit(exitCode);
}

/** A command-line count (--limit, --batch-size...): a whole number of at least 1, or exit 2 naming the option. */
export function positiveInteger(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new CommandFailure(`${name} must be a positive whole number`, EXIT_USAGE);
  return value;
}

export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export { AppError };
