import path from 'node:path';
import type { Express } from 'express';
import type { Config } from '../config';
import { systemClock, type Clock } from './clock';
import { loadKeyring } from './crypto/key-files';
import type { Keyring } from './crypto/keyring';
import { openDatabase, type Database } from './db/database';
import { readOperationalStats } from './db/operational-stats';
import { RecordingsRepository } from './db/recordings';
import type { Access, createAccess as CreateAccess } from './access/compose';
import { RefusalAudit } from './access/refusal-audit';
import type { createHttpApp as CreateHttpApp } from './http/http-app';
import { IngestService } from './ingest/ingest-service';
import { IngestPipeline } from './ingest/pipeline';
import { LeaseStore } from './db/leases';
import { RetentionRepository } from './db/retention';
import { RetentionService, type SweepSummary } from './retention/retention-service';
import { EncryptedSpool } from './ingest/spool';
import { createLogger, type Logger } from './log/logger';
import { Metrics, type IngestMetrics } from './metrics/metrics';
import { providerIngests } from './providers/ingests';
import { JobStore } from './queue/job-store';
import { DatabaseLedger, type JobLedger } from './queue/ledger';
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
  /** Counters and gauges for GET /metrics; retention and export code record their runs here too. */
  readonly metrics: Metrics;
}

export interface App extends AppParts {
  readonly recordings: RecordingsRepository;
  readonly jobs: JobStore;
  readonly ledger: JobLedger;
  readonly vault: RecordingVault;
  readonly pipeline: IngestPipeline;
  readonly ingest: IngestService;
  readonly workers: WorkerPool;
  readonly retention: RetentionService;
  readonly access: Access;
  readonly http: Express;
  /** Starts background work: ingest workers in this thread unless `workers: false` (serve runs them in threads). */
  start(options?: { workers?: boolean }): void;
  /** Stops background work; closes nothing the caller passed in. */
  stop(): Promise<void>;
}

export function createApp(parts: AppParts): App {
  const { config, db, store, keyring, clock, logger, metrics } = parts;
  const recordings = new RecordingsRepository(db);
  const jobs = new JobStore(db);
  const ledger = new DatabaseLedger(db, jobs, recordings);
  // Queue and index figures are read when Prometheus scrapes, behind webhook acknowledgements.
  metrics.observeDatabase((now) => db.scheduled('background', () => readOperationalStats(db, jobs, recordings, now)));
  const { vault, pipeline, workers } = createIngestWorker({ config, store, keyring, clock, logger, ledger, metrics });
  const ingest = new IngestService({ jobs, ledger, recordings, pipeline, store, config, clock, logger, metrics });
  const retention = new RetentionService({ db, repo: new RetentionRepository(db), recordings, leases: new LeaseStore(db), store, config, clock, logger });
  retention.on('sweep-finished', (summary: SweepSummary) =>
    metrics.sweepCompleted({
      dryRun: summary.dryRun,
      ok: summary.failed.length === 0,
      destroyed: summary.destroyed,
      failed: summary.failed.length,
      held: summary.held,
      finishedAt: clock.now(),
      seconds: summary.durationMs / 1000,
    }),
  );
  ingest.on('job-queued', () => workers.nudge());
  // Loaded here rather than imported: ingest threads load this module for createIngestWorker
  // and must not carry sign-in, export and ZIP code they never run.
  const { createAccess } = require('./access/compose') as { createAccess: typeof CreateAccess };
  const access: Access = createAccess({ db, recordings, vault, retention, config, clock, logger });
  const refusals = new RefusalAudit({ record: access.record, now: () => clock.now() });
  const spoolDir = path.join(config.dataDir, 'spool');
  // Built on first use: ingest threads never serve HTTP and need not load it.
  let http: Express | undefined;

  return {
    ...parts,
    recordings,
    jobs,
    ledger,
    vault,
    pipeline,
    ingest,
    workers,
    retention,
    access,
    get http() {
      const { createHttpApp } = require('./http/http-app') as { createHttpApp: typeof CreateHttpApp };
      http ??= createHttpApp({
        config,
        clock,
        logger,
        db,
        store,
        ingest,
        spoolDir,
        metrics,
        api: { ...access, retention },
        onWebhookRefused: (source, code) => {
          metrics.webhookRefused(source, code);
          refusals.refused(source, code);
        },
      });
      return http;
    },
    start(options = {}) {
      EncryptedSpool.sweep(spoolDir, 3600_000);
      void access.authentication.warm();
      if (options.workers !== false) workers.start();
    },
    async stop() {
      await workers.stop();
      refusals.flush();
      await access.audit.idle();
    },
  };
}

export interface IngestWorkerParts {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly keyring: Keyring;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The database (DatabaseLedger) or, in an ingest thread, a proxy to it (RemoteLedger). */
  readonly ledger: JobLedger;
  /** This process's Metrics or, in an ingest thread, a relay to the main thread's. */
  readonly metrics?: IngestMetrics;
}

/** The worker half: the pipeline and a pool of workers running it. Needs no database of its own. */
export function createIngestWorker(parts: IngestWorkerParts): { vault: RecordingVault; pipeline: IngestPipeline; workers: WorkerPool } {
  const { config, store, keyring, clock, logger, ledger, metrics } = parts;
  const vault = new RecordingVault(store, keyring, config.crypto.chunkSize);
  const providers = providerIngests(config);
  const pipeline = new IngestPipeline({ ledger, vault, store, providers, config, clock, logger, metrics });
  const workers = new WorkerPool({
    jobs: ledger,
    concurrency: config.queue.workers,
    leaseMs: config.queue.leaseMs,
    pollMs: config.queue.pollMs,
    backoffBaseMs: config.queue.backoffBaseMs,
    backoffMaxMs: config.queue.backoffMaxMs,
    clock,
    logger,
    claim: (owner) => pipeline.claimNext(owner),
    run: (job, owner, signal) => pipeline.run(job, owner, signal),
    onFailure: (job, error, retryAt) => {
      pipeline.stageLogger(job)(retryAt ? 'retry' : 'failed', { code: error.code, reason: error.message, attempt: job.attempts, retryAt: retryAt?.toISOString() });
      metrics?.ingestFinished({ source: job.source, outcome: retryAt ? 'retry' : 'failed', code: error.code });
    },
    housekeeping: () => pipeline.reapInterruptedUploads(),
  });
  return { vault, pipeline, workers };
}

/** Builds the infrastructure parts from configuration (what `callvault serve` and the commands use). */
export function buildParts(config: Config, overrides: Partial<Pick<AppParts, 'clock' | 'logger' | 'metrics'>> = {}): AppParts {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const clock = overrides.clock ?? systemClock;
  const metrics = overrides.metrics ?? new Metrics();
  const db = openDatabase({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous });
  return { config, db, ...buildStorageAndKeys(config, logger, clock, metrics), clock, logger, metrics };
}

/** Storage and keys, without a database: what an ingest thread needs besides its ledger. */
export function buildStorageAndKeys(config: Config, logger: Logger, clock: Clock, metrics?: IngestMetrics): { store: ObjectStore; keyring: Keyring } {
  const store = createObjectStore(config, metrics ? (operation, error) => metrics.storageError({ operation, code: error.code }) : undefined);
  const keyring = loadKeyring({ dir: config.keys.dir, kind: config.keys.kek, autoGenerate: config.keys.autoGenerate, clock, logger });
  return { store, keyring };
}

/** Closes what buildParts opened. */
export async function closeParts(parts: AppParts): Promise<void> {
  await parts.store.close();
  await parts.db.close();
}
