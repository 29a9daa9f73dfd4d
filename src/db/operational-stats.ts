import type { DatabaseSnapshot } from '../metrics/metrics';
import type { JobStore } from '../queue/job-store';
import type { Database } from './database';
import type { RecordingsRepository } from './recordings';

/** The figures /metrics reads from the index at scrape time: a few grouped counts, indexed. */
export async function readOperationalStats(db: Database, jobs: JobStore, recordings: RecordingsRepository, now: Date): Promise<DatabaseSnapshot> {
  const { codec, knex } = db;
  const [jobCounts, recordingCounts, queued, due] = await Promise.all([
    jobs.countByStatus(),
    recordings.countByStatus(),
    knex('jobs').where({ status: 'queued' }).count({ n: '*' }),
    knex('jobs').where({ status: 'queued' }).andWhere('run_after', '<=', codec.time(now)).count({ n: '*' }).min({ oldest: 'run_after' }),
  ]);
  const dueRow = (due as Array<{ n: unknown; oldest: unknown }>)[0];
  const oldest = codec.readTime(dueRow?.oldest ?? null);
  return {
    jobs: jobCounts,
    recordings: recordingCounts,
    queue: {
      queued: Number((queued as Array<{ n: unknown }>)[0]?.n ?? 0),
      due: Number(dueRow?.n ?? 0),
      oldestDueSeconds: oldest ? Math.max(0, (now.getTime() - oldest.getTime()) / 1000) : 0,
    },
  };
}
