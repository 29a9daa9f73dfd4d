import type { Clock } from '../clock';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';
import type { JobLedger } from './ledger';

/**
 * Holds a job's lease while `work` runs: renews it at a third of its length, and aborts the
 * work (through the signal) the moment another worker turns out to own the job, so a stalled
 * worker stops instead of racing the one that took over.
 */
export async function withLease<T>(
  jobs: Pick<JobLedger, 'renewLease'>,
  job: { readonly id: string },
  owner: string,
  options: { readonly leaseMs: number; readonly clock: Clock; readonly logger: Logger },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = jobs
      .renewLease(job.id, owner, options.leaseMs, options.clock.now())
      .then((held) => {
        if (!held) controller.abort(new AppError('E_JOB_LEASE_LOST', `job ${job.id} was taken over by another worker`));
      })
      .catch((error: unknown) => {
        // A database hiccup: keep working; the lease may still be valid, and the final commit checks it.
        options.logger.warn('lease renewal failed', { event: 'queue.lease.renew_failed', jobId: job.id, error });
      });
  }, Math.max(50, Math.floor(options.leaseMs / 3)));
  timer.unref();
  try {
    return await work(controller.signal);
  } finally {
    clearInterval(timer);
    await renewing;
  }
}
