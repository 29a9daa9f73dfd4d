import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What `GET /metrics` reports, in Prometheus text format. One Metrics object per process, built
 * in the composition root with its own Registry (never prom-client's global one, so tests and
 * several apps in one process do not mix their counts). Parts of callvault record events through
 * the methods below; queue and index figures are read from the database when Prometheus scrapes,
 * so every instance reports the shared truth rather than what it happened to see.
 *
 * Ingest workers run in worker threads: they record through a MetricsRelay (metrics-relay.ts)
 * that posts each event to the main thread, where it lands here.
 */

export type IngestOutcome = 'stored' | 'not_stored' | 'retry' | 'failed' | 'deleted_at_source';
export type StorageOperation = 'put' | 'get' | 'head' | 'delete' | 'delete_many' | 'list';

export interface IngestEvent {
  readonly source: string;
  readonly outcome: IngestOutcome;
  /** From the start of the attempt to the index commit (stored and not_stored). */
  readonly seconds?: number;
  /** Plaintext bytes stored. */
  readonly bytes?: number;
  /** The error code of a retry or failure. */
  readonly code?: string;
}

export interface StorageErrorEvent {
  readonly operation: StorageOperation;
  readonly code: string;
}

/** The part of Metrics that ingest workers use; an ingest thread implements it with a relay. */
export interface IngestMetrics {
  ingestFinished(event: IngestEvent): void;
  storageError(event: StorageErrorEvent): void;
}

/** For the retention sweep (issue 5) to report each run. */
export interface SweepEvent {
  readonly dryRun: boolean;
  readonly ok: boolean;
  /** Recordings destroyed (or, in a dry run, that would be). */
  readonly destroyed: number;
  /** Destructions that failed and will be tried again. */
  readonly failed: number;
  /** Recordings past retention kept because of a legal hold. */
  readonly held: number;
  readonly seconds: number;
  readonly finishedAt: Date;
}

/** For exports and releases (issue 6) to report each copy that leaves the system. */
export interface ExportEvent {
  /** mp3, wav, original, zip (subject access bundle). */
  readonly format: string;
  /** single recording, or subject_access bundle. */
  readonly kind: 'recording' | 'subject_access';
  readonly bytes: number;
}

/** Read from the index at scrape time. */
export interface DatabaseSnapshot {
  readonly jobs: Record<string, number>;
  /** Jobs queued (due now or waiting for a retry), due now, and how long the oldest due one has waited. */
  readonly queue: { readonly queued: number; readonly due: number; readonly oldestDueSeconds: number };
  readonly recordings: Record<string, number>;
}

export type DatabaseProbe = (now: Date) => Promise<DatabaseSnapshot>;

const JOB_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
const SNAPSHOT_TIMEOUT_MS = 3000;

export class Metrics implements IngestMetrics {
  readonly registry = new Registry();
  private readonly webhookRequests: Counter<'source' | 'status'>;
  private readonly webhookRefusals: Counter<'source' | 'code'>;
  private readonly ingestJobs: Counter<'source' | 'outcome'>;
  private readonly ingestErrors: Counter<'source' | 'code'>;
  private readonly ingestDuration: Histogram<'source'>;
  private readonly ingestBytes: Counter<'source'>;
  private readonly storageErrors: Counter<'operation' | 'code'>;
  private readonly sweeps: Counter<'mode' | 'result'>;
  private readonly sweepDestroyed: Counter<'mode'>;
  private readonly sweepFailed: Counter;
  private readonly sweepHeld: Gauge;
  private readonly sweepLast: Gauge<'mode'>;
  private readonly sweepDuration: Gauge<'mode'>;
  private readonly exports: Counter<'format' | 'kind'>;
  private readonly exportBytes: Counter<'format'>;
  private probe: DatabaseProbe | null = null;
  /** The database read of the scrape in progress, shared by its gauges. */
  private current: Promise<DatabaseSnapshot | null> | null = null;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.webhookRequests = new Counter({ name: 'callvault_webhook_requests_total', help: 'Webhook requests received, by source and response status class (2xx accepted, 4xx refused, 5xx failed).', labelNames: ['source', 'status'], registers });
    this.webhookRefusals = new Counter({ name: 'callvault_webhook_refused_total', help: 'Webhook requests refused, by source and error code (E_SIGNATURE_INVALID nearly always means a wrong secret or public URL).', labelNames: ['source', 'code'], registers });
    this.ingestJobs = new Counter({ name: 'callvault_ingest_jobs_total', help: 'Ingest job attempts finished, by source and outcome (stored, not_stored, retry, failed, deleted_at_source).', labelNames: ['source', 'outcome'], registers });
    this.ingestErrors = new Counter({ name: 'callvault_ingest_errors_total', help: 'Ingest attempts that failed, by source and error code (retried or parked as failed).', labelNames: ['source', 'code'], registers });
    this.ingestDuration = new Histogram({ name: 'callvault_ingest_duration_seconds', help: 'Time from the start of an ingest attempt to the index commit (download, encryption, storage and read-back included).', labelNames: ['source'], buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900], registers });
    this.ingestBytes = new Counter({ name: 'callvault_ingest_bytes_total', help: 'Audio bytes stored (before encryption), by source.', labelNames: ['source'], registers });
    this.storageErrors = new Counter({ name: 'callvault_storage_errors_total', help: 'Failed operations on the object storage, by operation and error code.', labelNames: ['operation', 'code'], registers });
    this.sweeps = new Counter({ name: 'callvault_retention_sweeps_total', help: 'Retention sweeps run, by mode (run, dry_run) and result (ok, failed).', labelNames: ['mode', 'result'], registers });
    this.sweepDestroyed = new Counter({ name: 'callvault_retention_destroyed_total', help: 'Recordings destroyed at the end of their retention period (dry_run: that would have been).', labelNames: ['mode'], registers });
    this.sweepFailed = new Counter({ name: 'callvault_retention_destroy_failures_total', help: 'Destructions that failed (tried again at the next sweep).', registers });
    this.sweepHeld = new Gauge({ name: 'callvault_retention_held', help: 'Recordings past their retention period kept by a legal hold, at the last sweep.', registers });
    this.sweepLast = new Gauge({ name: 'callvault_retention_last_sweep_timestamp_seconds', help: 'When the last sweep that succeeded finished (alert when it is more than a day old).', labelNames: ['mode'], registers });
    this.sweepDuration = new Gauge({ name: 'callvault_retention_last_sweep_duration_seconds', help: 'How long the last sweep took.', labelNames: ['mode'], registers });
    this.exports = new Counter({ name: 'callvault_exports_total', help: 'Copies of recordings that left the system, by format and kind (recording, subject_access).', labelNames: ['format', 'kind'], registers });
    this.exportBytes = new Counter({ name: 'callvault_export_bytes_total', help: 'Bytes of audio exported, by format.', labelNames: ['format'], registers });

    // Read from the database at scrape time; one snapshot serves every gauge of a scrape.
    const metrics = this;
    new Gauge({
      name: 'callvault_database_up',
      help: '1 when the last scrape could read the index database, else 0 (the gauges below are then absent).',
      registers,
      async collect() {
        this.set((await metrics.snapshot()) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'callvault_jobs',
      help: 'Ingest jobs by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const snapshot = await metrics.snapshot();
        this.reset();
        if (snapshot) for (const state of JOB_STATES) this.set({ state }, snapshot.jobs[state] ?? 0);
      },
    });
    new Gauge({
      name: 'callvault_queue_depth',
      help: 'Ingest jobs waiting: queued, due now or backing off before a retry.',
      registers,
      async collect() {
        const snapshot = await metrics.snapshot();
        this.reset();
        if (snapshot) this.set(snapshot.queue.queued);
      },
    });
    new Gauge({
      name: 'callvault_queue_due',
      help: 'Ingest jobs due now and not yet taken by a worker (growing: workers cannot keep up, or none run).',
      registers,
      async collect() {
        const snapshot = await metrics.snapshot();
        this.reset();
        if (snapshot) this.set(snapshot.queue.due);
      },
    });
    new Gauge({
      name: 'callvault_queue_oldest_due_seconds',
      help: 'How long the oldest due job has waited for a worker (0 when none waits).',
      registers,
      async collect() {
        const snapshot = await metrics.snapshot();
        this.reset();
        if (snapshot) this.set(snapshot.queue.oldestDueSeconds);
      },
    });
    new Gauge({
      name: 'callvault_recordings',
      help: 'Recordings in the index by status (stored, not_retained, unavailable, destroyed).',
      labelNames: ['status'],
      registers,
      async collect() {
        const snapshot = await metrics.snapshot();
        this.reset();
        if (snapshot) for (const [status, count] of Object.entries(snapshot.recordings)) this.set({ status }, count);
      },
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the scrape-time figures come from (the composition root wires the database in). */
  observeDatabase(probe: DatabaseProbe): void {
    this.probe = probe;
  }

  webhookReceived(source: string, status: number): void {
    this.webhookRequests.inc({ source, status: `${Math.floor(status / 100)}xx` });
  }

  webhookRefused(source: string, code: string): void {
    this.webhookRefusals.inc({ source, code });
  }

  ingestFinished(event: IngestEvent): void {
    this.ingestJobs.inc({ source: event.source, outcome: event.outcome });
    if (event.code) this.ingestErrors.inc({ source: event.source, code: event.code });
    if (event.seconds !== undefined) this.ingestDuration.observe({ source: event.source }, event.seconds);
    if (event.bytes) this.ingestBytes.inc({ source: event.source }, event.bytes);
  }

  storageError(event: StorageErrorEvent): void {
    this.storageErrors.inc({ operation: event.operation, code: event.code });
  }

  /** Hook for the retention sweep: call once per run, dry runs included. */
  sweepCompleted(event: SweepEvent): void {
    const mode = event.dryRun ? 'dry_run' : 'run';
    this.sweeps.inc({ mode, result: event.ok ? 'ok' : 'failed' });
    this.sweepDestroyed.inc({ mode }, event.destroyed);
    if (!event.dryRun) {
      this.sweepFailed.inc(event.failed);
      this.sweepHeld.set(event.held);
    }
    if (event.ok) this.sweepLast.set({ mode }, event.finishedAt.getTime() / 1000);
    this.sweepDuration.set({ mode }, event.seconds);
  }

  /** Hook for exports and releases: call once per copy handed out. */
  exportCompleted(event: ExportEvent): void {
    this.exports.inc({ format: event.format, kind: event.kind });
    this.exportBytes.inc({ format: event.format }, event.bytes);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of everything above, with one fresh database read. */
  async scrape(): Promise<string> {
    const snapshot = this.readDatabase();
    this.current = snapshot;
    try {
      return await this.registry.metrics();
    } finally {
      if (this.current === snapshot) this.current = null;
    }
  }

  private snapshot(): Promise<DatabaseSnapshot | null> {
    return this.current ?? this.readDatabase();
  }

  private readDatabase(): Promise<DatabaseSnapshot | null> {
    const probe = this.probe;
    if (!probe) return Promise.resolve(null);
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      probe(new Date()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), SNAPSHOT_TIMEOUT_MS);
      }),
    ])
      .catch(() => null)
      .finally(() => clearTimeout(timer));
  }
}
