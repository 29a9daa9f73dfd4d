import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { pipeline } from 'node:stream';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import { AppError } from '../errors';
import { failpoint } from '../failpoint';
import { safeFetch } from '../fetch/safe-fetch';
import type { Logger } from '../log/logger';
import type { IngestMetrics } from '../metrics/metrics';
import type { ProviderIngest, Resolution, ResolveContext, SourceFetch } from '../providers/types';
import type { Job } from '../queue/job-store';
import type { JobLedger } from '../queue/ledger';
import type { ObjectStore } from '../storage/object-store';
import type { RecordingVault } from '../vault/recording-vault';
import { AudioSniffer, contentTypeOf } from './audio-sniffer';
import { decideRetention } from './call-metadata';
import { buildRecording } from './recording-row';

/**
 * The ingest pipeline for one claimed job: fetch -> encrypt -> store -> verify -> index.
 * A recording the provider handed over is, at every moment, either indexed with a verified
 * object, or a job row (queued, running under a lease, or failed with its reason) that says
 * where it stands. Each attempt writes under a fresh object key recorded on the job when it was
 * claimed (before the first byte), so an interrupted attempt leaves a key to clean up rather
 * than an unknown orphan; the index row and the job's success commit in one transaction.
 * Runs in ingest threads (with a RemoteLedger) or in-process (with the DatabaseLedger).
 */

export interface PipelineDeps {
  readonly ledger: JobLedger;
  readonly vault: RecordingVault;
  readonly store: ObjectStore;
  readonly providers: ReadonlyMap<string, ProviderIngest>;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Outcomes, durations and bytes of successful attempts; failures are reported by whoever decides on the retry. */
  readonly metrics?: IngestMetrics;
}

/** Stage names, one log line each: ingest.<stage>. */
export type IngestStage = 'queued' | 'duplicate' | 'claimed' | 'fetched' | 'stored' | 'verified' | 'indexed' | 'not_stored' | 'failed' | 'retry' | 'cleanup' | 'deleted_at_source';

export type StageLogger = (stage: IngestStage, fields?: Record<string, unknown>) => void;

export class IngestPipeline extends EventEmitter {
  private readonly reaperOwner = `reaper-${crypto.randomUUID()}`;

  constructor(private readonly deps: PipelineDeps) {
    super();
  }

  /** Claims the next due job (a download, or a deletion at source) for a worker, with a fresh object key for this attempt. */
  claimNext(owner: string): Promise<Job | null> {
    const { ledger, store, config, clock } = this.deps;
    return ledger.claimNext({ owner, leaseMs: config.queue.leaseMs, objectKey: store.newRecordingKey() }, clock.now());
  }

  /** One attempt at a claimed job of any kind. */
  run(job: Job, owner: string, signal: AbortSignal): Promise<void> {
    return job.kind === 'delete' ? this.runSourceDeletion(job, owner, signal) : this.runFetchJob(job, owner, signal);
  }

  /**
   * Deletes a recording at its provider. The job exists only because the recording was stored,
   * verified and indexed (it was committed with the index row), so this never runs early; a
   * failure is retried like any job and never touches the stored recording.
   */
  async runSourceDeletion(job: Job, owner: string, signal: AbortSignal): Promise<void> {
    const provider = this.deps.providers.get(job.source);
    if (!provider?.deleteAtSource) throw new AppError('E_PROVIDER_NOT_CONFIGURED', `source ${job.source} cannot delete at source`, { retryable: false });
    await provider.deleteAtSource(job.payload, this.context(job, provider, signal));
    await this.deps.ledger.succeed(job.id, owner, this.deps.clock.now());
    this.stageLogger(job)('deleted_at_source');
    this.deps.metrics?.ingestFinished({ source: job.source, outcome: 'deleted_at_source' });
  }

  /** One attempt at a claimed fetch job. Throws on failure; the worker pool decides on retry. */
  async runFetchJob(job: Job, owner: string, signal: AbortSignal): Promise<void> {
    const provider = this.deps.providers.get(job.source);
    if (!provider) throw new AppError('E_PROVIDER_NOT_CONFIGURED', `no ingest handler for source ${job.source}`, { retryable: false });
    const started = performance.now();
    this.stageLogger(job)('claimed', { attempt: job.attempts });
    const resolution = await provider.resolve(job.payload, this.context(job, provider, signal));
    if (resolution.kind === 'audio') this.stageLogger(job)('fetched', { contentType: resolution.audio.contentType });
    await this.process(job, owner, resolution, signal, job.requestId, started);
  }

  /** Stores (or records, when there is no audio) a claimed job's recording and indexes it. */
  async process(job: Job, owner: string, resolution: Resolution, signal: AbortSignal, requestId?: string | null, attemptStarted = performance.now()): Promise<void> {
    const { ledger, store, vault, config, clock, metrics } = this.deps;
    const seconds = (): number => (performance.now() - attemptStarted) / 1000;
    const log = this.stageLogger(job, requestId);
    await this.deleteAbandoned(job, owner);
    const metadata = resolution.metadata;
    const ingestedAt = clock.now();
    const decision = decideRetention(metadata.category, metadata.startedAt, ingestedAt, config.retention);
    if (decision.callTimeAdjusted) {
      this.deps.logger.warn('ingest.call_time_adjusted', {
        event: 'ingest.call_time_adjusted',
        recordingId: job.recordingId,
        jobId: job.id,
        source: job.source,
        reason: decision.callTimeAdjusted,
        retentionFrom: decision.retentionFrom.toISOString(),
        detail: "the source's call start time is implausible (check the phone system's clock); retention runs from the ingest time",
      });
    }

    if (resolution.kind === 'no-audio') {
      const recording = buildRecording({ job, metadata, decision, sealed: null, status: resolution.status, reason: resolution.reason, ingestedAt, defaultCountry: config.defaultCountry });
      await ledger.complete(job.id, owner, recording, clock.now());
      log('not_stored', { status: resolution.status, reason: resolution.reason, category: decision.category });
      metrics?.ingestFinished({ source: job.source, outcome: 'not_stored', seconds: seconds() });
      return;
    }

    // The key was recorded on the job when it was claimed, before any byte is written.
    const storageKey = job.pendingObjectKey;
    if (!storageKey) throw new AppError('E_INTERNAL', `job ${job.id} was claimed without an object key`);
    failpoint(this.deps.config, 'ingest.after-pending');
    // Once the index write has been attempted its outcome may be unknown (a lost connection can
    // hide a commit), so from then on the object is deleted here only when the write certainly
    // rolled back (the lease was lost). Otherwise, if the commit did not happen, the job is
    // claimed again and that claim removes the object as abandoned.
    let indexAttempted = false;
    try {
      const sniffer = new AudioSniffer();
      const plaintext = pipeline(resolution.audio.stream, sniffer, () => undefined);
      const started = performance.now();
      const sealed = await vault.writeVerified(storageKey, plaintext, { maxBytes: config.limits.audioBytes, signal, onStored: () => failpoint(this.deps.config, 'ingest.after-store') });
      log('stored', { bytes: sealed.plaintextSize, storedBytes: sealed.ciphertextSize, ms: Math.round(performance.now() - started), keyId: sealed.keyId });
      log('verified', { sha256: sealed.sha256 });
      failpoint(this.deps.config, 'ingest.after-verify');
      const format = sniffer.format!;
      const recording = buildRecording({
        job,
        metadata,
        decision,
        sealed: { ...sealed, format, contentType: contentTypeOf(format), verifiedAt: clock.now() },
        status: 'stored',
        reason: null,
        ingestedAt,
        defaultCountry: config.defaultCountry,
      });
      const followUp = resolution.sourceDeletion
        ? { kind: 'delete' as const, purpose: 'source-delete' as const, source: job.source, sourceRecordingId: job.sourceRecordingId, recordingId: job.recordingId, payload: resolution.sourceDeletion, maxAttempts: config.queue.maxAttempts }
        : undefined;
      indexAttempted = true;
      await ledger.complete(job.id, owner, recording, clock.now(), followUp);
      failpoint(this.deps.config, 'ingest.after-index');
      log('indexed', { category: decision.category, retainUntil: decision.retainUntil.toISOString() });
      metrics?.ingestFinished({ source: job.source, outcome: 'stored', seconds: seconds(), bytes: sealed.plaintextSize });
    } catch (error) {
      // Best effort: if this fails too, the key stays on the job and the next attempt removes it.
      const rolledBack = !indexAttempted || (error instanceof AppError && error.code === 'E_JOB_LEASE_LOST');
      if (rolledBack) await store.delete(storageKey).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Uploads whose process died mid-write: remove the partial object and mark them failed (the
   * audio left with the request; the sender must deliver it again).
   */
  async reapInterruptedUploads(): Promise<number> {
    const { ledger, clock, store, config } = this.deps;
    let reaped = 0;
    for (const job of await ledger.expiredUploads(clock.now())) {
      const claim = { owner: this.reaperOwner, leaseMs: config.queue.leaseMs, objectKey: store.newRecordingKey() };
      const reclaimed = await ledger.reclaimForUpload(job.id, claim, clock.now(), job.payload);
      if (!reclaimed) continue;
      await this.deleteAbandoned(reclaimed, claim.owner).catch(() => undefined);
      await ledger.fail(reclaimed.id, claim.owner, { code: 'E_INTERNAL', message: 'upload interrupted (the process stopped); the sender must deliver the recording again' }, null, clock.now());
      this.stageLogger(reclaimed)('failed', { code: 'E_INTERNAL', reason: 'upload interrupted', retry: false });
      reaped += 1;
    }
    return reaped;
  }

  stageLogger(job: Pick<Job, 'id' | 'recordingId' | 'source'>, requestId?: string | null): StageLogger {
    const logger = this.deps.logger;
    return (stage, fields = {}) => {
      const level = stage === 'failed' ? 'warn' : 'info';
      logger.log(level, `ingest.${stage}`, { event: `ingest.${stage}`, recordingId: job.recordingId, jobId: job.id, source: job.source, requestId: requestId ?? undefined, ...fields });
      this.emit('stage', stage, job.source, fields);
    };
  }

  /**
   * Deletes what an interrupted earlier attempt may have written (idempotent: usually nothing is
   * there), then clears the key on the job. Both must succeed before this attempt writes.
   */
  private async deleteAbandoned(job: Job, owner: string): Promise<void> {
    if (!job.abandonedObjectKey) return;
    await this.deps.store.delete(job.abandonedObjectKey);
    await this.deps.ledger.clearAbandoned(job.id, owner, job.abandonedObjectKey);
    this.stageLogger(job)('cleanup', { reason: 'object of an interrupted attempt removed' });
  }


  private context(job: Job, provider: ProviderIngest, signal: AbortSignal): ResolveContext {
    return {
      fetch: this.fetcherFor(provider, signal),
      signal,
      logger: this.deps.logger.child({ recordingId: job.recordingId, jobId: job.id }),
      clock: this.deps.clock,
    };
  }

  private fetcherFor(provider: ProviderIngest, signal: AbortSignal): SourceFetch {
    const { config } = this.deps;
    const policy = { allowed: [...provider.defaultHosts], explicit: config.fetch.allowHosts };
    return (url, options) =>
      safeFetch(url, {
        policy,
        method: options.method,
        headers: options.headers,
        expect: options.expect,
        timeoutMs: config.fetch.timeoutMs,
        deadlineMs: config.fetch.deadlineMs,
        maxBytes: options.expect === 'audio' ? config.limits.audioBytes : config.limits.webhookBodyBytes,
        maxRedirects: config.fetch.maxRedirects,
        signal,
      });
  }
}
