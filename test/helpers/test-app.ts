import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Config } from '../../config';
import { buildParts, closeParts, createApp, type App } from '../../src/app';
import { systemClock, type Clock } from '../../src/clock';
import { createLogger, LogCapture } from '../../src/log/logger';
import type { StorageAdapter } from '../../storage-adapters/types';
import { createTestDatabase, type Backend, type TestDatabase } from './backends';
import type { S3Server } from './s3rver';
import { tempDir } from './temp';

/**
 * The real app over real HTTP, built from test parts: a temporary data folder, SQLite or a
 * PostgreSQL schema, the local folder or an s3rver bucket, logs captured in memory.
 */

export const GENERIC_SECRET = 'test-generic-secret-0123456789';
export const TWILIO_ACCOUNT_SID = `AC${'1'.repeat(32)}`;
export const TWILIO_AUTH_TOKEN = 'test-twilio-auth-token-abcdef012345';

export interface TestAppOptions {
  readonly backend?: Backend;
  readonly s3?: S3Server;
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  /** Do not start workers (tests that drive them by hand). */
  readonly workers?: boolean;
  /** Wraps the storage adapter (e.g. one that corrupts reads, to make verification fail). */
  readonly wrapAdapter?: (adapter: StorageAdapter) => StorageAdapter;
}

export interface TestApp {
  readonly app: App;
  readonly config: Config;
  readonly url: string;
  readonly logs: LogCapture;
  readonly dataDir: string;
  readonly databaseUrl: string;
  /** Environment that builds this same configuration (for child processes). */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const { dir, cleanup } = tempDir('callvault-app');
  const database: TestDatabase = await createTestDatabase(options.backend ?? 'sqlite', dir);
  const env: Record<string, string> = {
    CALLVAULT_DATA_DIR: dir,
    CALLVAULT_DATABASE_URL: database.url,
    CALLVAULT_GENERIC_SECRET: GENERIC_SECRET,
    CALLVAULT_TWILIO_ACCOUNT_SID: TWILIO_ACCOUNT_SID,
    CALLVAULT_TWILIO_AUTH_TOKEN: TWILIO_AUTH_TOKEN,
    CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1,localhost',
    CALLVAULT_JOB_BACKOFF_BASE_MS: '50',
    CALLVAULT_JOB_BACKOFF_MAX_MS: '400',
    CALLVAULT_JOB_POLL_MS: '50',
    CALLVAULT_JOB_LEASE_MS: '5000',
    CALLVAULT_FETCH_TIMEOUT_MS: '5000',
    CALLVAULT_SQLITE_SYNCHRONOUS: 'NORMAL',
    ...(options.s3
      ? {
          CALLVAULT_STORAGE: 's3',
          CALLVAULT_S3_ENDPOINT: options.s3.endpoint,
          CALLVAULT_S3_BUCKET: options.s3.bucket,
          CALLVAULT_S3_REGION: 'us-east-1',
          CALLVAULT_S3_ACCESS_KEY_ID: 'S3RVER',
          CALLVAULT_S3_SECRET_ACCESS_KEY: 'S3RVER',
          CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
          CALLVAULT_S3_CHECKSUM: 'when_required',
        }
      : {}),
    ...(options.env ?? {}),
  };
  // The public URL must name the port we listen on; pick it first.
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  env.PORT = String(port);
  env.CALLVAULT_PUBLIC_URL ??= `http://127.0.0.1:${port}`;

  const config = loadConfig(env);
  const logs = new LogCapture();
  const logger = createLogger({ level: 'debug', sink: logs });
  const built = buildParts(config, { logger, clock: options.clock ?? systemClock });
  const parts = options.wrapAdapter ? { ...built, store: built.store.withAdapter(options.wrapAdapter) } : built;
  await parts.db.migrate();
  const app = createApp(parts);
  server.on('request', app.http);
  if (options.workers !== false) app.start();

  return {
    app,
    config,
    url: `http://127.0.0.1:${port}`,
    logs,
    dataDir: dir,
    databaseUrl: database.url,
    env,
    async close() {
      await app.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeParts(parts);
      await database.drop();
      cleanup();
    },
  };
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false | null>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
