import crypto from 'node:crypto';
import type { NewJob } from '../../src/queue/job-store';
import { describeEachBackend } from '../helpers/backends';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Deliveries arriving together are written in one statement (group commit). A row the database
 * refuses must fail only its own delivery: the others in the same burst are still queued.
 */
describeEachBackend('queue: a burst with one delivery the database refuses', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ backend, workers: false });
  });
  afterAll(async () => t?.close());

  const job = (sourceRecordingId: string): NewJob => ({ kind: 'fetch', source: 'generic', sourceRecordingId, payload: { n: sourceRecordingId }, maxAttempts: 3 });

  it('the others are queued and answered; only the refused one fails', async () => {
    const ids = Array.from({ length: 12 }, () => `burst-${crypto.randomUUID()}`);
    const now = t.app.clock.now();
    // Not a delivery any webhook would pass on: a required column left empty, refused by the database itself.
    const refused = { ...job(`bad-${crypto.randomUUID()}`), maxAttempts: null as unknown as number };
    const outcomes = await Promise.allSettled([...ids.slice(0, 6).map((id) => t.app.jobs.enqueue(job(id), now)), t.app.jobs.enqueue(refused, now), ...ids.slice(6).map((id) => t.app.jobs.enqueue(job(id), now))]);

    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(1);
    expect(outcomes[6]!.status).toBe('rejected');
    for (const id of ids) expect((await t.app.jobs.findBySource('generic', id))?.status).toBe('queued');
    expect(await t.app.jobs.findBySource('generic', refused.sourceRecordingId)).toBeNull();
  });
});
