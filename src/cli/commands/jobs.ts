import type { Command } from 'commander';
import { AppError } from '../../errors';
import type { JobStatus } from '../../queue/job-store';
import { CommandFailure, print, printJson, positiveInteger, withApp } from '../context';

const STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed'];

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('the ingest queue');

  jobs
    .command('list')
    .description('list ingest jobs, newest first (failed ones with their last error)')
    .option('--status <status>', `only jobs in this state (${STATUSES.join(', ')}); default: all but succeeded`)
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print as JSON')
    .action(async (options: { status?: string; limit: string; json?: boolean }) => {
      const statuses = options.status ? [options.status as JobStatus] : STATUSES.filter((s) => s !== 'succeeded');
      if (options.status && !STATUSES.includes(options.status as JobStatus)) throw new CommandFailure(`--status must be one of ${STATUSES.join(', ')}`, 2);
      const limit = positiveInteger(options.limit, '--limit');
      await withApp(async (app) => {
        const list = await app.jobs.list({ statuses, limit });
        const counts = await app.jobs.countByStatus();
        if (options.json) {
          printJson({ counts, jobs: list.map(({ payload: _payload, ...job }) => job) });
          return;
        }
        print(`queue: ${STATUSES.map((s) => `${counts[s]} ${s}`).join(', ')}`);
        for (const job of list) {
          print(`${job.id}  ${job.status.padEnd(9)} ${job.source.padEnd(8)} ${job.kind.padEnd(6)} attempts ${job.attempts}/${job.maxAttempts}  recording ${job.recordingId}  created ${job.createdAt.toISOString()}`);
          if (job.lastError) print(`    last error: ${job.lastErrorCode}: ${job.lastError}`);
          if (job.status === 'queued' && job.attempts > 0) print(`    next attempt: ${job.runAfter.toISOString()}`);
        }
        if (list.length === 0) print('(no jobs)');
      });
    });

  jobs
    .command('retry')
    .description('queue failed jobs again with a fresh set of attempts')
    .argument('[job-ids...]', 'the jobs to retry')
    .option('--all-failed', 'retry every failed job')
    .action(async (ids: string[], options: { allFailed?: boolean }) => {
      if (ids.length === 0 && !options.allFailed) throw new CommandFailure('name the job ids to retry, or pass --all-failed', 2);
      await withApp(async (app) => {
        for (const id of ids) {
          const job = await app.jobs.get(id);
          if (!job) throw new AppError('E_JOB_NOT_FOUND', `no job ${id}`);
          if (job.status !== 'failed') throw new CommandFailure(`job ${id} is ${job.status}, not failed`);
          if (job.kind === 'upload') throw new CommandFailure(`job ${id} was an upload: its audio came with the request and was not kept, so only the sender can deliver it again`);
        }
        const count = await app.jobs.retry(options.allFailed ? 'all-failed' : ids, app.clock.now());
        print(`queued ${count} job(s) again; a running "callvault serve" picks them up`);
      });
    });
}
