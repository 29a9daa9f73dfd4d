import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../db/database';
import { AppError } from '../errors';

/**
 * The durable ingest queue, kept in the index database so that a webhook's 2xx means "committed"
 * and nothing lives only in memory. One row per (source, recording id): the unique constraint is
 * what makes a duplicate delivery a no-op, however many arrive at once and on however many
 * instances.
 *
 * A worker holds a job by lease (owner + expiry). It renews the lease while it works; if it dies
 * the lease runs out and another worker takes the job over. Every state change after the claim is
 * conditional on still owning the lease, so a worker that stalled past its lease cannot overwrite
 * the newer owner's work.
 */

export type JobKind = 'fetch' | 'upload';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Job {
  readonly id: string;
  readonly kind: JobKind;
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly recordingId: string;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly runAfter: Date;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: Date | null;
  readonly pendingObjectKey: string | null;
  readonly payload: Record<string, unknown>;
  readonly lastErrorCode: string | null;
  readonly lastError: string | null;
  readonly requestId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
}

export interface NewJob {
  readonly kind: JobKind;
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly payload: Record<string, unknown>;
  readonly maxAttempts: number;
  readonly requestId?: string | null;
}

export interface EnqueueResult {
  readonly job: Job;
  /** False when a job for this (source, recording id) already existed: a duplicate delivery. */
  readonly created: boolean;
}

export class JobStore {
  constructor(private readonly db: Database) {}

  /**
   * Inserts the job unless one exists for (source, recording id); either way returns the row
   * that is in the database once this commits. `running` creates it already claimed (uploads,
   * whose audio is in the request).
   */
  async enqueue(job: NewJob, now: Date, claim?: { owner: string; leaseMs: number }): Promise<EnqueueResult> {
    const { codec, knex } = this.db;
    const id = crypto.randomUUID();
    await knex('jobs')
      .insert({
        id,
        kind: job.kind,
        source: job.source,
        source_recording_id: job.sourceRecordingId,
        recording_id: crypto.randomUUID(),
        status: claim ? 'running' : 'queued',
        attempts: claim ? 1 : 0,
        max_attempts: job.maxAttempts,
        run_after: codec.time(now),
        lease_owner: claim?.owner ?? null,
        lease_expires_at: claim ? codec.time(new Date(now.getTime() + claim.leaseMs)) : null,
        payload: codec.json(job.payload),
        request_id: job.requestId ?? null,
        created_at: codec.time(now),
        updated_at: codec.time(now),
      })
      .onConflict(['source', 'source_recording_id'])
      .ignore();
    const row = await knex('jobs').where({ source: job.source, source_recording_id: job.sourceRecordingId }).first();
    if (!row) throw new AppError('E_DATABASE', 'job vanished right after it was written');
    return { job: this.fromRow(row), created: row.id === id };
  }

  async get(id: string): Promise<Job | null> {
    const row = await this.db.knex('jobs').where({ id }).first();
    return row ? this.fromRow(row) : null;
  }

  async findBySource(source: string, sourceRecordingId: string): Promise<Job | null> {
    const row = await this.db.knex('jobs').where({ source, source_recording_id: sourceRecordingId }).first();
    return row ? this.fromRow(row) : null;
  }

  /**
   * Claims one job that is due: queued with run_after passed, or running with its lease expired
   * (its worker died). PostgreSQL skips rows other transactions have locked, so concurrent
   * claimers never wait on or take the same row; SQLite has one writer at a time, and the
   * conditional update makes a lost race a no-op.
   */
  async claimNext(owner: string, leaseMs: number, now: Date, kinds: readonly JobKind[] = ['fetch']): Promise<Job | null> {
    const { codec } = this.db;
    const nowValue = codec.time(now);
    const leaseUntil = codec.time(new Date(now.getTime() + leaseMs));
    const due = (q: Knex.QueryBuilder): Knex.QueryBuilder =>
      q
        .whereIn('kind', kinds as JobKind[])
        .andWhere((w) =>
          w.where((a) => a.where('status', 'queued').andWhere('run_after', '<=', nowValue)).orWhere((b) => b.where('status', 'running').andWhere('lease_expires_at', '<', nowValue)),
        );

    for (let tries = 0; tries < 5; tries += 1) {
      const claimed = await this.db.transaction(async (trx) => {
        const candidateQuery = due(trx('jobs').select('id', 'status', 'lease_expires_at')).orderBy('run_after').limit(1);
        if (this.db.dialect === 'pg') candidateQuery.forUpdate().skipLocked();
        const candidate = await candidateQuery.first();
        if (!candidate) return { none: true as const };
        const updated = await due(trx('jobs').where({ id: candidate.id }))
          .update({
            status: 'running',
            lease_owner: owner,
            lease_expires_at: leaseUntil,
            attempts: trx.raw('attempts + 1'),
            updated_at: nowValue,
          });
        if (updated !== 1) return { none: false as const, job: null };
        const row = await trx('jobs').where({ id: candidate.id }).first();
        return { none: false as const, job: this.fromRow(row) };
      });
      if (claimed.none) return null;
      if (claimed.job) return claimed.job;
    }
    return null;
  }

  /**
   * Takes over, for a redelivery that brings the audio with it, a job that failed (whatever its
   * kind: a failed download can be rescued by an upload), or an upload whose worker died.
   */
  async reclaimForUpload(id: string, owner: string, leaseMs: number, now: Date, payload: Record<string, unknown>): Promise<Job | null> {
    const { codec } = this.db;
    const nowValue = codec.time(now);
    const updated = await this.db
      .knex('jobs')
      .where({ id })
      .andWhere((w) =>
        w.where('status', 'failed').orWhere((r) => r.where({ kind: 'upload', status: 'running' }).andWhere('lease_expires_at', '<', nowValue)),
      )
      .update({
        kind: 'upload',
        status: 'running',
        lease_owner: owner,
        lease_expires_at: codec.time(new Date(now.getTime() + leaseMs)),
        attempts: this.db.knex.raw('attempts + 1'),
        payload: codec.json(payload),
        last_error_code: null,
        last_error: null,
        finished_at: null,
        updated_at: nowValue,
      });
    return updated === 1 ? this.get(id) : null;
  }

  /** Extends the lease; false when another worker owns the job now. */
  async renewLease(id: string, owner: string, leaseMs: number, now: Date): Promise<boolean> {
    const { codec } = this.db;
    const updated = await this.db
      .knex('jobs')
      .where({ id, lease_owner: owner, status: 'running' })
      .update({ lease_expires_at: codec.time(new Date(now.getTime() + leaseMs)), updated_at: codec.time(now) });
    return updated === 1;
  }

  /** Records the object this attempt is about to write, so a crash leaves a key to clean up. */
  async setPendingObject(id: string, owner: string, objectKey: string | null, now: Date): Promise<void> {
    const updated = await this.db
      .knex('jobs')
      .where({ id, lease_owner: owner, status: 'running' })
      .update({ pending_object_key: objectKey, updated_at: this.db.codec.time(now) });
    if (updated !== 1) throw new AppError('E_JOB_LEASE_LOST', `job ${id} is no longer held by this worker`);
  }

  /**
   * Marks the job succeeded inside the caller's transaction (the one that indexes the recording),
   * clearing the payload: the recording row now holds the call's details, and the queue should
   * not keep a second copy of personal data.
   */
  async succeed(trx: Knex.Transaction, id: string, owner: string, now: Date): Promise<void> {
    const { codec } = this.db;
    const updated = await trx('jobs')
      .where({ id, lease_owner: owner, status: 'running' })
      .update({
        status: 'succeeded',
        lease_owner: null,
        lease_expires_at: null,
        pending_object_key: null,
        payload: codec.json({}),
        last_error_code: null,
        last_error: null,
        finished_at: codec.time(now),
        updated_at: codec.time(now),
      });
    if (updated !== 1) throw new AppError('E_JOB_LEASE_LOST', `job ${id} is no longer held by this worker`);
  }

  /** After a failed attempt: back to the queue for `retryAt`, or parked as failed when null. */
  async fail(id: string, owner: string, error: { code: string; message: string }, retryAt: Date | null, now: Date): Promise<boolean> {
    const { codec } = this.db;
    const updated = await this.db
      .knex('jobs')
      .where({ id, lease_owner: owner, status: 'running' })
      .update({
        status: retryAt ? 'queued' : 'failed',
        run_after: codec.time(retryAt ?? now),
        lease_owner: null,
        lease_expires_at: null,
        last_error_code: error.code,
        last_error: error.message.slice(0, 2000),
        finished_at: retryAt ? null : codec.time(now),
        updated_at: codec.time(now),
      });
    return updated === 1;
  }

  /** Puts failed jobs back in the queue with a fresh set of attempts (`jobs retry`). */
  async retry(ids: readonly string[] | 'all-failed', now: Date): Promise<number> {
    const { codec, knex } = this.db;
    const query = knex('jobs').where({ status: 'failed', kind: 'fetch' });
    if (ids !== 'all-failed') query.whereIn('id', ids as string[]);
    return query.update({ status: 'queued', attempts: 0, run_after: codec.time(now), finished_at: null, updated_at: codec.time(now) });
  }

  async list(filter: { statuses?: readonly JobStatus[]; limit: number }): Promise<Job[]> {
    const query = this.db.knex('jobs').orderBy('created_at', 'desc').limit(filter.limit);
    if (filter.statuses?.length) query.whereIn('status', filter.statuses as JobStatus[]);
    return (await query).map((row: Record<string, unknown>) => this.fromRow(row));
  }

  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = (await this.db.knex('jobs').select('status').count({ n: '*' }).groupBy('status')) as Array<{ status: string; n: number | string }>;
    const counts: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const row of rows) counts[row.status as JobStatus] = Number(row.n);
    return counts;
  }

  /** Uploads whose worker died mid-write: their audio is gone with the request, so they cannot be re-run here. */
  async expiredUploads(now: Date): Promise<Job[]> {
    const rows = await this.db
      .knex('jobs')
      .where({ kind: 'upload', status: 'running' })
      .andWhere('lease_expires_at', '<', this.db.codec.time(now));
    return rows.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  private fromRow(row: Record<string, unknown>): Job {
    const { codec } = this.db;
    return {
      id: row.id as string,
      kind: row.kind as JobKind,
      source: row.source as string,
      sourceRecordingId: row.source_recording_id as string,
      recordingId: row.recording_id as string,
      status: row.status as JobStatus,
      attempts: Number(row.attempts),
      maxAttempts: Number(row.max_attempts),
      runAfter: codec.readTime(row.run_after)!,
      leaseOwner: (row.lease_owner as string | null) ?? null,
      leaseExpiresAt: codec.readTime(row.lease_expires_at),
      pendingObjectKey: (row.pending_object_key as string | null) ?? null,
      payload: codec.readJson<Record<string, unknown>>(row.payload) ?? {},
      lastErrorCode: (row.last_error_code as string | null) ?? null,
      lastError: (row.last_error as string | null) ?? null,
      requestId: (row.request_id as string | null) ?? null,
      createdAt: codec.readTime(row.created_at)!,
      updatedAt: codec.readTime(row.updated_at)!,
      finishedAt: codec.readTime(row.finished_at),
    };
  }
}
