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

/** fetch: the worker downloads the audio; upload: it came with the request; delete: remove it at the provider. */
export type JobKind = 'fetch' | 'upload' | 'delete';
/** ingest: store a recording (one per source and recording id); source-delete: remove it at the provider afterwards. */
export type JobPurpose = 'ingest' | 'source-delete';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Job {
  readonly id: string;
  readonly kind: JobKind;
  readonly purpose: JobPurpose;
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly recordingId: string;
  readonly status: JobStatus;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly runAfter: Date;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: Date | null;
  /** The object key this attempt writes to (set at claim, so a crash leaves it on record). */
  readonly pendingObjectKey: string | null;
  /** An object an interrupted earlier attempt may have left; delete before starting. */
  readonly abandonedObjectKey: string | null;
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
  /** Default ingest. */
  readonly purpose?: JobPurpose;
  /** The recording the job is about; a new id for a new recording when absent. */
  readonly recordingId?: string;
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly payload: Record<string, unknown>;
  readonly maxAttempts: number;
  readonly requestId?: string | null;
}

export interface JobFailure {
  readonly code: string;
  readonly message: string;
  /** The attempt does not count towards the limit (a failure of callvault's own storage or database). */
  readonly uncounted?: boolean;
}

export interface EnqueueResult {
  readonly job: Job;
  /** False when a job for this (source, recording id) already existed: a duplicate delivery. */
  readonly created: boolean;
}

/** Rows per group-commit statement: large enough to absorb a burst, far below SQLite's limits on bound values. */
const ENQUEUE_BATCH = 60;

/** Taking a job: who holds it, for how long, and the fresh object key this attempt will write. */
export interface Claim {
  readonly owner: string;
  readonly leaseMs: number;
  readonly objectKey: string;
}

interface PendingEnqueue {
  readonly job: NewJob;
  readonly now: Date;
  readonly claim: Claim | undefined;
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

export class JobStore {
  constructor(private readonly db: Database) {}

  /**
   * Inserts the job unless one exists for (source, recording id); either way returns the row
   * that is in the database once this commits. `claim` creates it already running under this
   * owner's lease (uploads, whose audio is in the request).
   *
   * Webhooks arrive in bursts, and each insert alone would cost a commit (an fsync with SQLite's
   * FULL durability). Concurrent calls are therefore gathered and written in one transaction
   * (group commit): every caller still returns only after its row is committed, but a burst of
   * 500 events costs a handful of fsyncs, not 500.
   */
  enqueue(job: NewJob, now: Date, claim?: Claim): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, now, claim, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flushEnqueues());
      }
    });
  }

  private readonly waiting: PendingEnqueue[] = [];
  private flushing = false;

  private async flushEnqueues(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, ENQUEUE_BATCH);
      try {
        const results = await this.db.scheduled('urgent', () => this.insertBatch(batch));
        batch.forEach((entry, index) => entry.resolve(results[index]!));
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        else await this.insertOneByOne(batch);
      }
    }
    this.flushing = false;
  }

  /**
   * The batch statement failed as a whole: one delivery the database refused must not cost the
   * others theirs, so each is tried alone and only the ones that fail alone are refused.
   */
  private async insertOneByOne(batch: readonly PendingEnqueue[]): Promise<void> {
    for (const entry of batch) {
      try {
        const [result] = await this.db.scheduled('urgent', () => this.insertBatch([entry]));
        entry.resolve(result!);
      } catch (error) {
        entry.reject(error);
      }
    }
  }

  /**
   * One statement inserts the whole batch (atomic on its own) and returns the rows it created;
   * only rows that already existed (duplicate deliveries) need a second query. Fewer round
   * trips matter: with SQLite every statement of every caller goes through one connection.
   */
  private async insertBatch(batch: readonly PendingEnqueue[]): Promise<EnqueueResult[]> {
    const { knex } = this.db;
    const rows = batch.map(({ job, now, claim }) => this.row(job, now, claim));
    const keyOf = (row: Record<string, unknown>): string => `${String(row.source)}\u0000${String(row.source_recording_id)}\u0000${String(row.purpose)}`;
    // Within one statement the first row for a key wins and later ones are ignored, like rows already there.
    const inserted = (await knex('jobs').insert(rows).onConflict(['source', 'source_recording_id', 'purpose']).ignore().returning('*')) as Array<Record<string, unknown>>;
    const current = new Map(inserted.map((row) => [keyOf(row), row]));
    const missing = [...new Map(rows.filter((row) => !current.has(keyOf(row))).map((row) => [keyOf(row), [row.source, row.source_recording_id, row.purpose]])).values()];
    if (missing.length > 0) {
      for (const row of (await knex('jobs').whereIn(['source', 'source_recording_id', 'purpose'], missing)) as Array<Record<string, unknown>>) current.set(keyOf(row), row);
    }
    return rows.map((row) => {
      const found = current.get(keyOf(row));
      if (!found) throw new AppError('E_DATABASE', 'job vanished right after it was written');
      return { job: this.fromRow(found), created: found.id === row.id };
    });
  }

  /** Adds a job inside the caller's transaction unless one exists (a follow-up, e.g. deletion at source). */
  async insertInTransaction(trx: Knex.Transaction, job: NewJob, now: Date): Promise<void> {
    await trx('jobs').insert(this.row(job, now, undefined)).onConflict(['source', 'source_recording_id', 'purpose']).ignore();
  }

  private row(job: NewJob, now: Date, claim: Claim | undefined): Record<string, unknown> & { id: string; source: string; source_recording_id: string; purpose: JobPurpose } {
    const { codec } = this.db;
    return {
      id: crypto.randomUUID(),
      kind: job.kind,
      purpose: job.purpose ?? 'ingest',
      source: job.source,
      source_recording_id: job.sourceRecordingId,
      recording_id: job.recordingId ?? crypto.randomUUID(),
      status: claim ? 'running' : 'queued',
      attempts: claim ? 1 : 0,
      max_attempts: job.maxAttempts,
      run_after: codec.time(now),
      lease_owner: claim?.owner ?? null,
      lease_expires_at: claim ? codec.time(new Date(now.getTime() + claim.leaseMs)) : null,
      pending_object_key: claim?.objectKey ?? null,
      payload: codec.json(job.payload),
      request_id: job.requestId ?? null,
      created_at: codec.time(now),
      updated_at: codec.time(now),
    };
  }

  async get(id: string): Promise<Job | null> {
    const row = await this.db.knex('jobs').where({ id }).first();
    return row ? this.fromRow(row) : null;
  }

  async findBySource(source: string, sourceRecordingId: string, purpose: JobPurpose = 'ingest'): Promise<Job | null> {
    const row = await this.db.knex('jobs').where({ source, source_recording_id: sourceRecordingId, purpose }).first();
    return row ? this.fromRow(row) : null;
  }

  /**
   * Claims one job that is due: queued with run_after passed, or running with its lease expired
   * (its worker died). PostgreSQL skips rows other transactions have locked, so concurrent
   * claimers never wait on or take the same row; SQLite has one writer at a time, and the
   * conditional update makes a lost race a no-op.
   */
  async claimNext(claim: Claim, now: Date, kinds: readonly JobKind[] = ['fetch', 'delete']): Promise<Job | null> {
    const { codec, knex } = this.db;
    const nowValue = codec.time(now);
    const due = (q: Knex.QueryBuilder): Knex.QueryBuilder =>
      q
        .whereIn('kind', kinds as JobKind[])
        .andWhere((w) =>
          w.where((a) => a.where('status', 'queued').andWhere('run_after', '<=', nowValue)).orWhere((b) => b.where('status', 'running').andWhere('lease_expires_at', '<', nowValue)),
        );
    const candidate = due(knex('jobs').select('id')).orderBy('run_after').limit(1);
    if (this.db.dialect === 'pg') candidate.forUpdate().skipLocked();
    // One statement: pick, re-check and take the job atomically, moving any key a crashed
    // attempt left into abandoned_object_key (the right-hand sides see the old values). An
    // attempt writes its own object only once the abandoned one is deleted and cleared, so an
    // abandoned key still set means the last attempt never wrote: keep it, not that attempt's.
    const rows = (await due(knex('jobs').where('id', candidate))
      .update({
        status: 'running',
        lease_owner: claim.owner,
        lease_expires_at: codec.time(new Date(now.getTime() + claim.leaseMs)),
        attempts: knex.raw('attempts + 1'),
        abandoned_object_key: knex.raw('coalesce(abandoned_object_key, pending_object_key)'),
        pending_object_key: claim.objectKey,
        updated_at: nowValue,
      })
      .returning('*')) as Array<Record<string, unknown>>;
    return rows[0] ? this.fromRow(rows[0]) : null;
  }

  /**
   * Takes over, for a redelivery that brings the audio with it, a job that failed (whatever its
   * kind: a failed download can be rescued by an upload), or an upload whose worker died.
   */
  async reclaimForUpload(id: string, claim: Claim, now: Date, payload: Record<string, unknown>): Promise<Job | null> {
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
        lease_owner: claim.owner,
        lease_expires_at: codec.time(new Date(now.getTime() + claim.leaseMs)),
        attempts: this.db.knex.raw('attempts + 1'),
        abandoned_object_key: this.db.knex.raw('coalesce(abandoned_object_key, pending_object_key)'),
        pending_object_key: claim.objectKey,
        payload: codec.json(payload),
        last_error_code: null,
        last_error: null,
        finished_at: null,
        updated_at: nowValue,
      });
    return updated === 1 ? this.get(id) : null;
  }

  async clearAbandoned(id: string, owner: string, objectKey: string): Promise<void> {
    const updated = await this.db.knex('jobs').where({ id, lease_owner: owner, status: 'running', abandoned_object_key: objectKey }).update({ abandoned_object_key: null });
    if (updated !== 1) throw new AppError('E_JOB_LEASE_LOST', `job ${id} is no longer held by this worker`);
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
        abandoned_object_key: null,
        payload: codec.json({}),
        last_error_code: null,
        last_error: null,
        finished_at: codec.time(now),
        updated_at: codec.time(now),
      });
    if (updated !== 1) throw new AppError('E_JOB_LEASE_LOST', `job ${id} is no longer held by this worker`);
  }

  /** After a failed attempt: back to the queue for `retryAt`, or parked as failed when null. */
  async fail(id: string, owner: string, error: JobFailure, retryAt: Date | null, now: Date): Promise<boolean> {
    const { codec, knex } = this.db;
    const updated = await knex('jobs')
      .where({ id, lease_owner: owner, status: 'running' })
      .update({
        // The claim counted the attempt; an outage of our own gives it back.
        ...(error.uncounted ? { attempts: knex.raw('CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END') } : {}),
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
    const query = knex('jobs').where({ status: 'failed' }).whereIn('kind', ['fetch', 'delete']);
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
      purpose: ((row.purpose as string | undefined) ?? 'ingest') as JobPurpose,
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
      abandonedObjectKey: (row.abandoned_object_key as string | null) ?? null,
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
