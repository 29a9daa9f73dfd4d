import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { pipeline, type Readable } from 'node:stream';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { Database } from '../db/database';
import type { RecordingsRepository } from '../db/recordings';
import { AppError, toAppError } from '../errors';
import { safeFetch } from '../fetch/safe-fetch';
import type { Logger } from '../log/logger';
import type { ProviderIngest, Resolution, SourceFetch } from '../providers/types';
import type { Job, JobStore } from '../queue/job-store';
import { withLease } from '../queue/lease';
import type { ObjectStore } from '../storage/object-store';
import type { RecordingVault, SealedObject } from '../vault/recording-vault';
import { AudioSniffer, contentTypeOf } from './audio-sniffer';
import { NOT_RETAINED_REASON, decideRetention, type CallMetadata, type RetentionDecision } from './call-metadata';
import { buildRecording } from './recording-row';

/**
 * The ingest pipeline: accept (durably queue) -> fetch -> encrypt -> store -> verify -> index.
 * A recording the provider handed over is, at every moment, either indexed with a verified
 * object, or a job row (queued, running under a lease, or failed with its reason) that says
 * where it stands. Objects are written under a fresh key per attempt, recorded on the job
 * before the first byte, so an interrupted attempt leaves a key to clean up rather than an
 * unknown orphan; the index row and the job's success commit in one transaction.
 */

export interface IngestDeps {
  readonly db: Database;
  readonly recordings: RecordingsRepository;
  readonly jobs: JobStore;
  readonly vault: RecordingVault;
  readonly store: ObjectStore;
  readonly providers: ReadonlyMap<string, ProviderIngest>;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface Acceptance {
  readonly jobId: string;
  readonly recordingId: string;
  /** True when this (source, recording id) was already known: nothing new was queued or stored. */
  readonly duplicate: boolean;
  readonly status: 'queued' | 'stored' | 'not_retained' | 'unavailable' | 'in_progress' | 'failed';
}

export interface AcceptInput {
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly payload: Record<string, unknown>;
  readonly requestId?: string | null;
}

export interface UploadInput {
  readonly metadata: CallMetadata;
  readonly audio: Readable;
  readonly requestId?: string | null;
}

/** Stage names, one log line each: ingest.<stage>. */
export type IngestStage = 'queued' | 'duplicate' | 'claimed' | 'fetched' | 'stored' | 'verified' | 'indexed' | 'not_stored' | 'failed' | 'retry' | 'cleanup';

export class IngestService extends EventEmitter {
  private readonly uploadOwner = `upload-${crypto.randomUUID()}`;

  constructor(private readonly deps: IngestDeps) {
    super();
  }

  /** Webhook side: queue the work, committed before the caller answers 2xx. */
  async accept(input: AcceptInput): Promise<Acceptance> {
    const { jobs, config, clock } = this.deps;
    const { job, created } = await jobs.enqueue(
      { kind: 'fetch', source: input.source, sourceRecordingId: input.sourceRecordingId, payload: input.payload, maxAttempts: config.queue.maxAttempts, requestId: input.requestId ?? null },
      clock.now(),
    );
    const log = this.stageLogger(job, input.requestId);
    if (created) {
      log('queued');
      this.emit('job-queued', job.id);
      return { jobId: job.id, recordingId: job.recordingId, duplicate: false, status: 'queued' };
    }
    log('duplicate', { existingStatus: job.status });
    return { jobId: job.id, recordingId: job.recordingId, duplicate: true, status: await this.statusOf(job) };
  }

  /**
   * Audio that arrives with the request (multipart webhook, operator import): stored, verified
   * and indexed before this returns, so the caller's 2xx means "stored". A redelivery of a
   * recording already stored is drained and answered as a duplicate.
   */
  async storeUpload(input: UploadInput): Promise<Acceptance> {
    const { jobs, config, clock } = this.deps;
    const { metadata } = input;
    // Refuse an unknown category before reading any audio.
    decideRetention(metadata.category, metadata.startedAt, clock.now(), config.retention);
    const payload = { metadata: serialiseMetadata(metadata) };
    const claim = { owner: this.uploadOwner, leaseMs: config.queue.leaseMs };
    const enqueued = await jobs.enqueue(
      { kind: 'upload', source: metadata.source, sourceRecordingId: metadata.sourceRecordingId, payload, maxAttempts: 1, requestId: input.requestId ?? null },
      clock.now(),
      claim,
    );
    let job: Job | null = enqueued.job;
    if (!enqueued.created) {
      job = await jobs.reclaimForUpload(enqueued.job.id, claim.owner, claim.leaseMs, clock.now(), payload);
      if (!job) {
        input.audio.resume();
        this.stageLogger(enqueued.job, input.requestId)('duplicate', { existingStatus: enqueued.job.status });
        return { jobId: enqueued.job.id, recordingId: enqueued.job.recordingId, duplicate: true, status: await this.statusOf(enqueued.job) };
      }
    }
    const held = job;
    const resolution: Resolution =
      metadata.consent === 'declined'
        ? { kind: 'no-audio', metadata, status: 'not_retained', reason: NOT_RETAINED_REASON }
        : { kind: 'audio', metadata, audio: { stream: input.audio, contentType: null } };
    // Declined: the audio is read and dropped, never written anywhere.
    if (resolution.kind === 'no-audio') input.audio.resume();
    try {
      await withLease(jobs, held, claim.owner, { leaseMs: claim.leaseMs, clock, logger: this.deps.logger }, (signal) =>
        this.process(held, claim.owner, resolution, signal, input.requestId),
      );
    } catch (error) {
      const appError = toAppError(error);
      input.audio.resume();
      // An upload cannot be retried from here: the audio left with the request. The job stays
      // visible as failed until the sender delivers it again.
      await jobs.fail(held.id, claim.owner, { code: appError.code, message: appError.message }, null, clock.now()).catch(() => undefined);
      this.stageLogger(held, input.requestId)('failed', { code: appError.code, reason: appError.message, retry: false });
      throw appError;
    }
    const recording = await this.deps.recordings.get(held.recordingId);
    return { jobId: held.id, recordingId: held.recordingId, duplicate: false, status: (recording?.status ?? 'stored') as Acceptance['status'] };
  }

  /** Worker side: one attempt at a claimed fetch job. Throws on failure; the worker pool decides on retry. */
  async runFetchJob(job: Job, owner: string, signal: AbortSignal): Promise<void> {
    const provider = this.deps.providers.get(job.source);
    if (!provider) throw new AppError('E_PROVIDER_NOT_CONFIGURED', `no ingest handler for source ${job.source}`, { retryable: false });
    this.stageLogger(job)('claimed', { attempt: job.attempts });
    const resolution = await provider.resolve(job.payload, {
      fetch: this.fetcherFor(provider, signal),
      signal,
      logger: this.deps.logger.child({ recordingId: job.recordingId, jobId: job.id }),
      clock: this.deps.clock,
    });
    if (resolution.kind === 'audio') this.stageLogger(job)('fetched', { contentType: resolution.audio.contentType });
    await this.process(job, owner, resolution, signal, job.requestId);
  }

  /** Deletes the object an interrupted attempt was writing, if any. */
  async cleanupPendingObject(job: Job, owner: string): Promise<void> {
    if (!job.pendingObjectKey) return;
    await this.deps.store.delete(job.pendingObjectKey);
    await this.deps.jobs.setPendingObject(job.id, owner, null, this.deps.clock.now());
    this.stageLogger(job)('cleanup', { reason: 'object of an interrupted attempt removed' });
  }

  /**
   * Uploads whose process died mid-write: remove the partial object and mark them failed (the
   * audio left with the request; the sender must deliver it again).
   */
  async reapInterruptedUploads(): Promise<number> {
    const { jobs, clock } = this.deps;
    let reaped = 0;
    for (const job of await jobs.expiredUploads(clock.now())) {
      const reclaimed = await jobs.reclaimForUpload(job.id, this.uploadOwner, this.deps.config.queue.leaseMs, clock.now(), job.payload);
      if (!reclaimed) continue;
      await this.cleanupPendingObject(reclaimed, this.uploadOwner).catch(() => undefined);
      await jobs.fail(reclaimed.id, this.uploadOwner, { code: 'E_INTERNAL', message: 'upload interrupted (the process stopped); the sender must deliver the recording again' }, null, clock.now());
      this.stageLogger(reclaimed)('failed', { code: 'E_INTERNAL', reason: 'upload interrupted', retry: false });
      reaped += 1;
    }
    return reaped;
  }

  private async process(job: Job, owner: string, resolution: Resolution, signal: AbortSignal, requestId?: string | null): Promise<void> {
    const { jobs, store, vault, config, clock, db, recordings } = this.deps;
    const log = this.stageLogger(job, requestId);
    await this.cleanupPendingObject(job, owner);
    const metadata = resolution.metadata;
    const ingestedAt = clock.now();
    const decision = decideRetention(metadata.category, metadata.startedAt, ingestedAt, config.retention);

    if (resolution.kind === 'no-audio') {
      const recording = buildRecording({ job, metadata, decision, sealed: null, status: resolution.status, reason: resolution.reason, ingestedAt, defaultCountry: config.defaultCountry });
      await db.transaction(async (trx) => {
        await jobs.succeed(trx, job.id, owner, clock.now());
        await recordings.insert(trx, recording, clock.now());
      });
      log('not_stored', { status: resolution.status, reason: resolution.reason, category: decision.category });
      return;
    }

    const storageKey = store.newRecordingKey();
    await jobs.setPendingObject(job.id, owner, storageKey, clock.now());
    try {
      const sniffer = new AudioSniffer();
      const plaintext = pipeline(resolution.audio.stream, sniffer, () => undefined);
      const started = performance.now();
      const sealed = await vault.writeVerified(storageKey, plaintext, { maxBytes: config.limits.audioBytes, signal });
      log('stored', { bytes: sealed.plaintextSize, storedBytes: sealed.ciphertextSize, ms: Math.round(performance.now() - started), keyId: sealed.keyId });
      log('verified', { sha256: sealed.sha256 });
      await this.index(job, owner, metadata, decision, sealed, sniffer, ingestedAt);
      log('indexed', { category: decision.category, retainUntil: decision.retainUntil.toISOString() });
    } catch (error) {
      await store
        .delete(storageKey)
        .then(() => jobs.setPendingObject(job.id, owner, null, clock.now()))
        .catch(() => undefined);
      throw error;
    }
  }

  private async index(job: Job, owner: string, metadata: CallMetadata, decision: RetentionDecision, sealed: SealedObject, sniffer: AudioSniffer, ingestedAt: Date): Promise<void> {
    const { db, jobs, recordings, clock, config } = this.deps;
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
    await db.transaction(async (trx) => {
      await jobs.succeed(trx, job.id, owner, clock.now());
      await recordings.insert(trx, recording, clock.now());
    });
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
        maxBytes: options.expect === 'audio' ? config.limits.audioBytes : config.limits.webhookBodyBytes,
        maxRedirects: config.fetch.maxRedirects,
        signal,
      });
  }

  private async statusOf(job: Job): Promise<Acceptance['status']> {
    if (job.status === 'succeeded') {
      const recording = await this.deps.recordings.get(job.recordingId);
      return (recording?.status as Acceptance['status'] | undefined) ?? 'stored';
    }
    if (job.status === 'failed') return 'failed';
    return job.status === 'running' ? 'in_progress' : 'queued';
  }

  stageLogger(job: Pick<Job, 'id' | 'recordingId' | 'source'>, requestId?: string | null): (stage: IngestStage, fields?: Record<string, unknown>) => void {
    const logger = this.deps.logger;
    return (stage, fields = {}) => {
      const level = stage === 'failed' ? 'warn' : 'info';
      logger.log(level, `ingest.${stage}`, { event: `ingest.${stage}`, recordingId: job.recordingId, jobId: job.id, source: job.source, requestId: requestId ?? undefined, ...fields });
      this.emit('stage', stage, job.source, fields);
    };
  }
}

/** Metadata as JSON for the job payload (Dates as ISO strings). */
export function serialiseMetadata(metadata: CallMetadata): Record<string, unknown> {
  return {
    ...metadata,
    startedAt: metadata.startedAt?.toISOString() ?? null,
    endedAt: metadata.endedAt?.toISOString() ?? null,
  };
}
