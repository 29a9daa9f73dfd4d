import type { Clock } from '../clock';
import { newOwnerId } from '../process-owner';
import { isOurSideFailure, toAppError, type AppError } from '../errors';
import type { Logger } from '../log/logger';
import type { Job } from './job-store';
import type { JobLedger } from './ledger';
import { withLease } from './lease';

/**
 * N workers in this process, each claiming due jobs from the database, running them under a
 * lease, and on failure either rescheduling with exponential back-off (capped, with jitter so
 * that jobs failing together do not retry together) or parking the job as failed when the error
 * cannot be cured by waiting or the attempts are used up. Idle workers poll (to see jobs other
 * instances queued, and retries coming due) and wake at once when this process queues one.
 * Failures of our own storage or database do not use up attempts (see isOurSideFailure).
 */

export interface WorkerPoolOptions {
  /** Where leases are renewed and failures recorded. */
  readonly jobs: Pick<JobLedger, 'renewLease' | 'fail'>;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Takes the next due job for this worker, or null when there is none. */
  readonly claim: (owner: string) => Promise<Job | null>;
  /** Runs one attempt; resolves when the job committed as succeeded. */
  readonly run: (job: Job, owner: string, signal: AbortSignal) => Promise<void>;
  /** Called after a failed attempt, once the job row says what happens next. */
  readonly onFailure?: (job: Job, error: AppError, retryAt: Date | null) => void;
  /** Housekeeping run every so often by one worker (e.g. reaping interrupted uploads). */
  readonly housekeeping?: () => Promise<unknown>;
}

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = 0.8 + random() * 0.4;
  return Math.min(maxMs, Math.round(exponential * jitter));
}

export class WorkerPool {
  private running = false;
  /** Consecutive attempts lost to our own storage or database in this process. */
  private outageStreak = 0;
  private readonly loops: Promise<void>[] = [];
  private wakers: Array<() => void> = [];
  private readonly inFlight = new Set<AbortController>();
  private readonly instance = newOwnerId();
  private lastHousekeeping = 0;

  constructor(private readonly options: WorkerPoolOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    for (let index = 0; index < this.options.concurrency; index += 1) {
      this.loops.push(this.loop(`${this.instance}-w${index}`));
    }
  }

  /** Wakes idle workers: a job was just queued in this process. */
  nudge(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /** Stops claiming; waits up to graceMs for running jobs, then aborts them (they will be retried). */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.nudge();
    const timer = setTimeout(() => {
      for (const controller of this.inFlight) controller.abort(new Error('shutting down'));
    }, graceMs);
    await Promise.all(this.loops);
    clearTimeout(timer);
    this.loops.length = 0;
  }

  private async loop(owner: string): Promise<void> {
    const { logger } = this.options;
    while (this.running) {
      let job: Job | null = null;
      try {
        await this.maybeHousekeeping();
        job = await this.options.claim(owner);
      } catch (error) {
        logger.error('could not claim a job', { event: 'queue.claim_failed', error: toAppError(error).message });
      }
      if (!job) {
        await this.idle();
        continue;
      }
      await this.runOne(job, owner);
    }
  }

  private async runOne(job: Job, owner: string): Promise<void> {
    const { jobs, clock, logger } = this.options;
    const shutdown = new AbortController();
    this.inFlight.add(shutdown);
    try {
      await withLease(jobs, job, owner, { leaseMs: this.options.leaseMs, clock, logger }, async (leaseSignal) => {
        const signal = AbortSignal.any([leaseSignal, shutdown.signal]);
        await this.options.run(job, owner, signal);
      });
      this.outageStreak = 0;
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.code === 'E_JOB_LEASE_LOST') {
        logger.warn('job taken over by another worker; this attempt is dropped', { event: 'queue.lease_lost', jobId: job.id, recordingId: job.recordingId });
        return;
      }
      const ourSide = isOurSideFailure(error);
      // An outage of our own is the process's, not the job's: its back-off grows with the outage.
      if (ourSide) this.outageStreak += 1;
      const retry = ourSide || (error.retryable && job.attempts < job.maxAttempts);
      const backoffAttempt = ourSide ? this.outageStreak : job.attempts;
      const retryAt = retry ? new Date(clock.now().getTime() + backoffDelay(backoffAttempt, this.options.backoffBaseMs, this.options.backoffMaxMs)) : null;
      try {
        const recorded = await jobs.fail(job.id, owner, { code: error.code, message: error.message, uncounted: ourSide }, retryAt, clock.now());
        if (recorded) this.options.onFailure?.(job, error, retryAt);
      } catch (dbError) {
        // The lease will expire and another worker will take the job: nothing is lost.
        logger.error('could not record a job failure', { event: 'queue.fail_not_recorded', jobId: job.id, error: toAppError(dbError).message });
      }
    } finally {
      this.inFlight.delete(shutdown);
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollMs);
      timer.unref();
      const wakers = this.wakers;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      wakers.push(done);
    });
  }

  private async maybeHousekeeping(): Promise<void> {
    if (!this.options.housekeeping) return;
    const now = Date.now();
    if (now - this.lastHousekeeping < Math.max(this.options.leaseMs, 5_000)) return;
    this.lastHousekeeping = now;
    await this.options.housekeeping();
  }
}
