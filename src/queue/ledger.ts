import type { Database } from '../db/database';
import type { NewRecording, RecordingsRepository } from '../db/recordings';
import type { Claim, Job, JobFailure, JobStore, NewJob } from './job-store';

/**
 * Everything an ingest worker records in the database, as a handful of whole operations.
 * In one process the ledger is the database itself; in an ingest thread it is a proxy to the
 * HTTP thread's database (ledger-rpc.ts), so that one process writes to SQLite through one
 * connection: SQLite has a single writer, and several connections would make webhook
 * acknowledgements wait on each other's locks.
 */
export interface JobLedger {
  claimNext(claim: Claim, now: Date): Promise<Job | null>;
  /** False when another worker owns the job now. */
  renewLease(id: string, owner: string, leaseMs: number, now: Date): Promise<boolean>;
  /** `failure.uncounted`: the attempt does not count towards the job's limit (our own outage). */
  fail(id: string, owner: string, failure: JobFailure, retryAt: Date | null, now: Date): Promise<boolean>;
  /**
   * The job's success, its recording's index row and any follow-up job (deletion at source),
   * committed together. @throws E_JOB_LEASE_LOST
   */
  complete(id: string, owner: string, recording: NewRecording, now: Date, followUp?: NewJob): Promise<void>;
  /** A job that indexes nothing (deletion at source) has succeeded. @throws E_JOB_LEASE_LOST */
  succeed(id: string, owner: string, now: Date): Promise<void>;
  /** The abandoned object is gone from storage: forget it, so a later claim never loses track of another. */
  clearAbandoned(id: string, owner: string, objectKey: string): Promise<void>;
  expiredUploads(now: Date): Promise<Job[]>;
  reclaimForUpload(id: string, claim: Claim, now: Date, payload: Record<string, unknown>): Promise<Job | null>;
}

export class DatabaseLedger implements JobLedger {
  constructor(
    private readonly db: Database,
    private readonly jobs: JobStore,
    private readonly recordings: RecordingsRepository,
  ) {}

  // Worker bookkeeping yields to webhook acknowledgements (Database.scheduled).

  claimNext(claim: Claim, now: Date): Promise<Job | null> {
    return this.db.scheduled('background', () => this.jobs.claimNext(claim, now));
  }

  renewLease(id: string, owner: string, leaseMs: number, now: Date): Promise<boolean> {
    return this.db.scheduled('background', () => this.jobs.renewLease(id, owner, leaseMs, now));
  }

  fail(id: string, owner: string, failure: JobFailure, retryAt: Date | null, now: Date): Promise<boolean> {
    return this.db.scheduled('background', () => this.jobs.fail(id, owner, failure, retryAt, now));
  }

  complete(id: string, owner: string, recording: NewRecording, now: Date, followUp?: NewJob): Promise<void> {
    return this.db.scheduled('background', () =>
      this.db.transaction(async (trx) => {
        await this.jobs.succeed(trx, id, owner, now);
        await this.recordings.insert(trx, recording, now);
        if (followUp) await this.jobs.insertInTransaction(trx, followUp, now);
      }),
    );
  }

  succeed(id: string, owner: string, now: Date): Promise<void> {
    return this.db.scheduled('background', () => this.db.transaction((trx) => this.jobs.succeed(trx, id, owner, now)));
  }

  clearAbandoned(id: string, owner: string, objectKey: string): Promise<void> {
    return this.db.scheduled('background', () => this.jobs.clearAbandoned(id, owner, objectKey));
  }

  expiredUploads(now: Date): Promise<Job[]> {
    return this.db.scheduled('background', () => this.jobs.expiredUploads(now));
  }

  reclaimForUpload(id: string, claim: Claim, now: Date, payload: Record<string, unknown>): Promise<Job | null> {
    return this.db.scheduled('background', () => this.jobs.reclaimForUpload(id, claim, now, payload));
  }
}
