import path from 'node:path';
import type { Express } from 'express';
import type { Config } from '../config';
import { systemClock, type Clock } from './clock';
import { loadKeyring } from './crypto/key-files';
import type { Keyring } from './crypto/keyring';
import { openDatabase, type Database } from './db/database';
import { RecordingsRepository } from './db/recordings';
import { createHttpApp } from './http/http-app';
import { IngestService } from './ingest/ingest-service';
import { EncryptedSpool } from './ingest/spool';
import { createLogger, type Logger } from './log/logger';
import { genericIngest } from './providers/generic/ingest';
import { twilioIngest } from './providers/twilio/ingest';
import type { ProviderIngest } from './providers/types';
import { JobStore } from './queue/job-store';
import { WorkerPool } from './queue/worker-pool';
import { createObjectStore } from './storage/factory';
import type { ObjectStore } from './storage/object-store';
import { RecordingVault } from './vault/recording-vault';

/**
 * The composition root: the one place where callvault's parts are built and wired. Nothing
 * else creates a database, a store, a keyring or a logger, and no module keeps one in a global,
 * so tests build an app from their own parts (a temporary folder, s3rver, a manual clock).
 */

export interface AppParts {
  readonly config: Config;
  readonly db: Database;
  readonly store: ObjectStore;
  readonly keyring: Keyring;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface App extends AppParts {
  readonly recordings: RecordingsRepository;
  readonly jobs: JobStore;
  readonly vault: RecordingVault;
  readonly ingest: IngestService;
  readonly workers: WorkerPool;
  readonly http: Express;
  /** Starts background work (ingest workers). */
  start(): void;
  /** Stops background work; closes nothing the caller passed in. */
  stop(): Promise<void>;
}

export function createApp(parts: AppParts): App {
  const { config, db, store, keyring, clock, logger } = parts;
  const recordings = new RecordingsRepository(db);
  const jobs = new JobStore(db);
  const vault = new RecordingVault(store, keyring, config.crypto.chunkSize);
  const providers = new Map<string, ProviderIngest>([genericIngest, twilioIngest(config)].map((provider) => [provider.source, provider]));
  const ingest = new IngestService({ db, recordings, jobs, vault, store, providers, config, clock, logger });
  const workers = new WorkerPool({
    jobs,
    concurrency: config.queue.workers,
    leaseMs: config.queue.leaseMs,
    pollMs: config.queue.pollMs,
    backoffBaseMs: config.queue.backoffBaseMs,
    backoffMaxMs: config.queue.backoffMaxMs,
    clock,
    logger,
    run: (job, owner, signal) => ingest.runFetchJob(job, owner, signal),
    onFailure: (job, error, retryAt) =>
      ingest.stageLogger(job)(retryAt ? 'retry' : 'failed', { code: error.code, reason: error.message, attempt: job.attempts, retryAt: retryAt?.toISOString() }),
    housekeeping: () => ingest.reapInterruptedUploads(),
  });
  ingest.on('job-queued', () => workers.nudge());
  const spoolDir = path.join(config.dataDir, 'spool');
  const http = createHttpApp({ config, clock, logger, db, store, ingest, spoolDir });

  return {
    ...parts,
    recordings,
    jobs,
    vault,
    ingest,
    workers,
    http,
    start() {
      EncryptedSpool.sweep(spoolDir, 3600_000);
      workers.start();
    },
    async stop() {
      await workers.stop();
    },
  };
}

/** Builds the infrastructure parts from configuration (what `callvault serve` and the commands use). */
export function buildParts(config: Config, overrides: Partial<Pick<AppParts, 'clock' | 'logger'>> = {}): AppParts {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const clock = overrides.clock ?? systemClock;
  const db = openDatabase({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous });
  const store = createObjectStore(config);
  const keyring = loadKeyring({ dir: config.keys.dir, kind: config.keys.kek, autoGenerate: config.keys.autoGenerate, clock, logger });
  return { config, db, store, keyring, clock, logger };
}

/** Closes what buildParts opened. */
export async function closeParts(parts: AppParts): Promise<void> {
  await parts.store.close();
  await parts.db.close();
}
