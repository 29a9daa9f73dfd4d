import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { RecordingsRepository } from '../db/recordings';
import { toAppError } from '../errors';
import type { Logger } from '../log/logger';
import type { IngestMetrics } from '../metrics/metrics';
import type { Resolution } from '../providers/types';
import type { Job, JobStore } from '../queue/job-store';
import type { JobLedger } from '../queue/ledger';
import { withLease } from '../queue/lease';
import type { ObjectStore } from '../storage/object-store';
import { NOT_RETAINED_REASON, decideRetention, type CallMetadata } from './call-metadata';
import type { IngestPipeline } from './pipeline';

/**
 * The webhook side of ingest: accept an event by committing its job (the 2xx means "durably
 * queued"), or, when the audio came with the request, run it through the pipeline before
 * answering. Idempotent on (source, recording id): a redelivery is answered as a duplicate.
 */

export interface IngestDeps {
  readonly jobs: JobStore;
  readonly ledger: JobLedger;
  readonly recordings: RecordingsRepository;
  readonly pipeline: IngestPipeline;
  readonly store: ObjectStore;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: IngestMetrics;
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

export class IngestService extends EventEmitter {
  private readonly uploadOwner = `upload-${crypto.randomUUID()}`;

  constructor(private readonly deps: IngestDeps) {
    super();
  }

  /** Queues the work, committed before the caller answers 2xx. */
  async accept(input: AcceptInput): Promise<Acceptance> {
    const { jobs, config, clock, pipeline } = this.deps;
    const { job, created } = await jobs.enqueue(
      { kind: 'fetch', source: input.source, sourceRecordingId: input.sourceRecordingId, payload: input.payload, maxAttempts: config.queue.maxAttempts, requestId: input.requestId ?? null },
      clock.now(),
    );
    const log = pipeline.stageLogger(job, input.requestId);
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
    const { jobs, ledger, config, clock, pipeline } = this.deps;
    const { metadata } = input;
    // Refuse an unknown category before reading any audio.
    decideRetention(metadata.category, metadata.startedAt, clock.now(), config.retention);
    const payload = { metadata: serialiseMetadata(metadata) };
    const claim = { owner: this.uploadOwner, leaseMs: config.queue.leaseMs, objectKey: this.deps.store.newRecordingKey() };
    const enqueued = await jobs.enqueue(
      { kind: 'upload', source: metadata.source, sourceRecordingId: metadata.sourceRecordingId, payload, maxAttempts: 1, requestId: input.requestId ?? null },
      clock.now(),
      claim,
    );
    let job: Job | null = enqueued.job;
    if (!enqueued.created) {
      job = await jobs.reclaimForUpload(enqueued.job.id, claim, clock.now(), payload);
      if (!job) {
        input.audio.resume();
        pipeline.stageLogger(enqueued.job, input.requestId)('duplicate', { existingStatus: enqueued.job.status });
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
      await withLease(ledger, held, claim.owner, { leaseMs: claim.leaseMs, clock, logger: this.deps.logger }, (signal) =>
        pipeline.process(held, claim.owner, resolution, signal, input.requestId),
      );
    } catch (error) {
      const appError = toAppError(error);
      input.audio.resume();
      // An upload cannot be retried from here: the audio left with the request. The job stays
      // visible as failed until the sender delivers it again.
      await ledger.fail(held.id, claim.owner, { code: appError.code, message: appError.message }, null, clock.now()).catch(() => undefined);
      pipeline.stageLogger(held, input.requestId)('failed', { code: appError.code, reason: appError.message, retry: false });
      this.deps.metrics?.ingestFinished({ source: held.source, outcome: 'failed', code: appError.code });
      throw appError;
    }
    const recording = await this.deps.recordings.get(held.recordingId);
    return { jobId: held.id, recordingId: held.recordingId, duplicate: false, status: (recording?.status ?? 'stored') as Acceptance['status'] };
  }

  private async statusOf(job: Job): Promise<Acceptance['status']> {
    if (job.status === 'succeeded') {
      const recording = await this.deps.recordings.get(job.recordingId);
      return (recording?.status as Acceptance['status'] | undefined) ?? 'stored';
    }
    if (job.status === 'failed') return 'failed';
    return job.status === 'running' ? 'in_progress' : 'queued';
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
