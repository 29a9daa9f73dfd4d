import fs from 'node:fs';
import fc from 'fast-check';
import { ManualClock } from '../../src/clock';
import type { Recording } from '../../src/db/recordings';
import { addPeriod, parsePeriod } from '../../src/retention/period';
import { describeEachBackend } from '../helpers/backends';
import { objectKeys } from '../helpers/inspect';
import { TEST_CALLER, ingestRecording } from '../helpers/recordings';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { startTestApp, type TestApp } from '../helpers/test-app';

const SECOND = 1000;
const DAY = 86_400_000;

/** Every text value in every table, for "nothing of that call remains" checks. */
async function databaseText(t: TestApp): Promise<string> {
  const tables = ['recordings', 'recording_staff', 'recording_parties', 'jobs', 'legal_holds', 'category_changes', 'destruction_log', 'sweeps'];
  const parts: string[] = [];
  for (const table of tables) parts.push(JSON.stringify(await t.app.db.knex(table).select('*')));
  return parts.join('\n');
}

for (const storage of ['local', 's3'] as const) {
  describeEachBackend(`retention with the ${storage} adapter`, (backend) => {
    let s3: S3Server | undefined;
    let t: TestApp;
    const clock = new ManualClock('2026-01-10T09:00:00Z');

    beforeAll(async () => {
      if (storage === 's3') s3 = await startS3Server();
      t = await startTestApp({ backend, s3, clock, workers: false, env: { CALLVAULT_RETENTION_BATCH_SIZE: '7' } });
    });
    afterAll(async () => {
      await t?.close();
      await s3?.close();
    });

    it.each([
      ['admin', '28d'],
      ['general', '36m'],
      ['clinical', '36m'],
    ])('%s (%s): kept one second before its date, destroyed one second after', async (category, period) => {
      const startedAt = new Date(clock.now().getTime() - 5 * DAY);
      const recording = await ingestRecording(t.app, { category, startedAt });
      const due = addPeriod(startedAt, parsePeriod(period)!);
      expect(recording.retainUntil.toISOString()).toBe(due.toISOString());

      clock.set(due.getTime() - SECOND);
      await t.app.retention.sweep();
      expect((await t.app.recordings.get(recording.id))?.status).toBe('stored');
      expect(await t.app.store.head(recording.storageKey!)).not.toBeNull();

      clock.set(due.getTime() + SECOND);
      const summary = await t.app.retention.sweep();
      expect(summary.failed).toEqual([]);
      const after = await t.app.recordings.get(recording.id);
      expect(after).toMatchObject({ status: 'destroyed', wrappedKey: null, keyId: null, storageKey: null, fromNumber: null, toNumber: null, fromDisplay: null, staff: [], parties: [] });
      expect(await t.app.store.head(recording.storageKey!)).toBeNull();
      const record = await t.app.db.knex('destruction_log').where({ recording_id: recording.id });
      expect(record).toHaveLength(1);
      expect(record[0]).toMatchObject({ category, rule: `${category}=${period}`, plaintext_sha256: recording.sha256 });
      clock.set('2026-01-10T09:00:00Z');
    });

    it('after destruction: no object, no data key, and no number or name of that call anywhere in the database', async () => {
      const recording = await ingestRecording(t.app, { category: 'admin', startedAt: new Date(clock.now().getTime() - 40 * DAY) });
      await t.app.retention.placeHold(recording.id, 'complaint 2026/14 from the caller', 'ig.lead');
      await t.app.retention.removeHold(recording.id, 'complaint closed', 'ig.lead');
      await t.app.retention.sweep();
      expect((await t.app.recordings.get(recording.id))?.status).toBe('destroyed');
      expect(await objectKeys(t.app)).not.toContain(recording.storageKey);
      const text = await databaseText(t);
      expect(text).not.toContain(TEST_CALLER.number);
      expect(text).not.toContain(TEST_CALLER.display);
      expect(text).not.toContain(TEST_CALLER.name);
      expect(text).not.toContain(TEST_CALLER.name.toLowerCase());
      if (backend === 'sqlite') {
        // Not even in the file's free pages or write-ahead log.
        const file = t.databaseUrl.slice('sqlite:'.length);
        for (const candidate of [file, `${file}-wal`]) {
          if (!fs.existsSync(candidate)) continue;
          const bytes = fs.readFileSync(candidate);
          expect(bytes.includes(Buffer.from(TEST_CALLER.number))).toBe(false);
          expect(bytes.includes(Buffer.from(TEST_CALLER.name.toLowerCase()))).toBe(false);
        }
      }
    });

    it('a held recording survives any number of sweeps; lifting the hold makes it go at the next one', async () => {
      const recording = await ingestRecording(t.app, { category: 'admin', startedAt: new Date(clock.now().getTime() - 100 * DAY) });
      await t.app.retention.placeHold(recording.id, 'police request 77/2026', 'dpo');
      await t.app.retention.placeHold(recording.id, 'disciplinary case', 'ig.lead');
      for (let i = 0; i < 3; i += 1) {
        const summary = await t.app.retention.sweep();
        expect(summary.held).toBeGreaterThanOrEqual(1);
        expect((await t.app.recordings.get(recording.id))?.status).toBe('stored');
      }
      clock.advance(3650 * DAY);
      await t.app.retention.sweep();
      expect((await t.app.recordings.get(recording.id))?.status).toBe('stored');
      const lifted = await t.app.retention.removeHold(recording.id, 'both cases closed', 'dpo');
      expect(lifted).toBe(2);
      const holds = await t.app.retention.holds(recording.id);
      expect(holds.map((h) => [h.reason, h.placedBy, h.removedBy, h.removalReason])).toEqual([
        ['police request 77/2026', 'dpo', 'dpo', 'both cases closed'],
        ['disciplinary case', 'ig.lead', 'dpo', 'both cases closed'],
      ]);
      await t.app.retention.sweep();
      expect((await t.app.recordings.get(recording.id))?.status).toBe('destroyed');
      await expect(t.app.retention.placeHold(recording.id, 'too late', 'dpo')).rejects.toMatchObject({ code: 'E_RECORDING_DESTROYED' });
      clock.set('2026-01-10T09:00:00Z');
    });

    it('a category change recomputes the date from the call start and is recorded', async () => {
      const startedAt = new Date(clock.now().getTime() - 60 * DAY);
      const recording = await ingestRecording(t.app, { category: 'general', startedAt });
      await expect(t.app.retention.changeCategory(recording.id, 'forever', 'typo', 'ig.lead')).rejects.toMatchObject({ code: 'E_UNKNOWN_CATEGORY' });
      const changed = await t.app.retention.changeCategory(recording.id, 'admin', 'appointment booking only', 'ig.lead');
      expect(changed.retainUntil.toISOString()).toBe(new Date(startedAt.getTime() + 28 * DAY).toISOString());
      const rows = await t.app.db.knex('category_changes').where({ recording_id: recording.id });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ from_category: 'general', to_category: 'admin', reason: 'appointment booking only', changed_by: 'ig.lead' });
      // Already past its new date: gone at the next sweep.
      await t.app.retention.sweep();
      expect((await t.app.recordings.get(recording.id))?.status).toBe('destroyed');
    });

    it('a failed delivery keeps its event for a retry until the longest retention period has passed since it failed, then loses it', async () => {
      const payload = { event: { from: TEST_CALLER.number, parties: [{ name: TEST_CALLER.name }] } };
      const failedAt = clock.now();
      const { job } = await t.app.jobs.enqueue(
        { kind: 'fetch', source: 'generic', sourceRecordingId: `failed-${failedAt.getTime()}`, payload, maxAttempts: 1 },
        failedAt,
        { owner: 'test-worker', leaseMs: 60_000, objectKey: t.app.store.newRecordingKey() },
      );
      expect(await t.app.jobs.fail(job.id, 'test-worker', { code: 'E_SOURCE_NOT_FOUND', message: 'the provider answered 404' }, null, failedAt)).toBe(true);

      // 36 months (the longest configured period) less a day: still there for IT support to retry.
      clock.set(addPeriod(failedAt, parsePeriod('36m')!).getTime() - DAY);
      await t.app.retention.sweep();
      expect((await t.app.jobs.get(job.id))?.payload).toEqual(payload);

      clock.set(addPeriod(failedAt, parsePeriod('36m')!).getTime() + DAY);
      await t.app.retention.sweep();
      const scrubbed = await t.app.jobs.get(job.id);
      expect(scrubbed).toMatchObject({ status: 'failed', payload: {}, lastErrorCode: 'E_SOURCE_NOT_FOUND' });
      expect(JSON.stringify(await t.app.db.knex('jobs').where({ id: job.id }))).not.toContain(TEST_CALLER.name);
    });

    it('a dry run lists what would go and changes nothing', async () => {
      const recording = await ingestRecording(t.app, { category: 'admin', startedAt: new Date(clock.now().getTime() - 30 * DAY) });
      const summary = await t.app.retention.sweep({ dryRun: true });
      expect(summary.wouldDestroy.map((r) => r.id)).toContain(recording.id);
      expect(summary.destroyed).toBe(0);
      expect((await t.app.recordings.get(recording.id))?.status).toBe('stored');
      expect(await t.app.store.head(recording.storageKey!)).not.toBeNull();
      await t.app.retention.sweep();
    });

    it('recordings without audio (consent declined) also lose their details on time', async () => {
      const recording = await ingestRecording(t.app, { category: 'admin', consent: 'declined', startedAt: new Date(clock.now().getTime() - 30 * DAY) });
      expect(recording.status).toBe('not_retained');
      await t.app.retention.sweep();
      expect(await t.app.recordings.get(recording.id)).toMatchObject({ status: 'destroyed', fromNumber: null, parties: [] });
      const [record] = await t.app.db.knex('destruction_log').where({ recording_id: recording.id });
      expect(t.app.db.codec.readBool(record.had_audio)).toBe(false);
    });

    if (storage === 's3') {
      it('storage unavailable: nothing is marked destroyed, the failure is reported, the next sweep finishes', async () => {
        const recordings: Recording[] = [];
        for (let i = 0; i < 3; i += 1) recordings.push(await ingestRecording(t.app, { category: 'admin', startedAt: new Date(clock.now().getTime() - 30 * DAY) }));
        await s3!.stop();
        const failing = await t.app.retention.sweep();
        expect(failing.failed.map((f) => f.recordingId).sort()).toEqual(recordings.map((r) => r.id).sort());
        for (const recording of recordings) {
          expect((await t.app.recordings.get(recording.id))?.status).not.toBe('destroyed');
          expect(await t.app.db.knex('destruction_log').where({ recording_id: recording.id })).toHaveLength(0);
        }
        await s3!.start();
        const finishing = await t.app.retention.sweep();
        expect(finishing.failed).toEqual([]);
        for (const recording of recordings) {
          expect((await t.app.recordings.get(recording.id))?.status).toBe('destroyed');
          expect(await t.app.store.head(recording.storageKey!)).toBeNull();
        }
      });
    }
  });
}

describe('retention property: no held or unexpired recording is ever destroyed; every expired unheld one goes at the next sweep', () => {
  let t: TestApp;
  const clock = new ManualClock('2026-01-01T00:00:00Z');
  const origin = clock.now().getTime();

  beforeAll(async () => {
    t = await startTestApp({ clock, workers: false, env: { CALLVAULT_RETENTION_PERIODS: 'admin=28d,general=36m,clinical=36m,short=7d', CALLVAULT_RETENTION_BATCH_SIZE: '3' } });
  });
  afterAll(async () => t?.close());

  type Step = { kind: 'hold'; index: number } | { kind: 'unhold'; index: number } | { kind: 'category'; index: number; category: string } | { kind: 'sweep'; advanceDays: number };

  it('holds for random recordings, categories, dates, holds, category changes and sweeps', async () => {
    const categories = ['admin', 'general', 'clinical', 'short'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ category: fc.constantFrom(...categories), ageDays: fc.integer({ min: 0, max: 1500 }) }), { minLength: 1, maxLength: 8 }),
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('hold' as const), index: fc.nat({ max: 7 }) }),
            fc.record({ kind: fc.constant('unhold' as const), index: fc.nat({ max: 7 }) }),
            fc.record({ kind: fc.constant('category' as const), index: fc.nat({ max: 7 }), category: fc.constantFrom(...categories) }),
            fc.record({ kind: fc.constant('sweep' as const), advanceDays: fc.integer({ min: 0, max: 400 }) }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        async (specs, steps: Step[]) => {
          clock.set(origin);
          const made: Recording[] = [];
          for (const spec of specs) made.push(await ingestRecording(t.app, { category: spec.category, startedAt: new Date(origin - spec.ageDays * DAY) }));
          const held = new Set<string>();
          for (const step of [...steps, { kind: 'sweep', advanceDays: 0 } as Step]) {
            if (step.kind === 'sweep') {
              clock.advance(step.advanceDays * DAY);
              const before = new Map<string, Recording>();
              for (const recording of made) before.set(recording.id, (await t.app.recordings.get(recording.id))!);
              await t.app.retention.sweep();
              const now = clock.now().getTime();
              for (const recording of made) {
                const previous = before.get(recording.id)!;
                const after = (await t.app.recordings.get(recording.id))!;
                if (previous.status === 'destroyed') continue;
                const expired = previous.retainUntil.getTime() <= now;
                if (held.has(recording.id) || !expired) expect(after.status).not.toBe('destroyed');
                else expect(after.status).toBe('destroyed');
              }
              continue;
            }
            const target = made[step.index % made.length]!;
            const current = (await t.app.recordings.get(target.id))!;
            if (current.status === 'destroyed') continue;
            if (step.kind === 'hold') {
              await t.app.retention.placeHold(target.id, 'property test hold', 'tester');
              held.add(target.id);
            } else if (step.kind === 'unhold' && held.has(target.id)) {
              await t.app.retention.removeHold(target.id, 'property test release', 'tester');
              held.delete(target.id);
            } else if (step.kind === 'category') {
              await t.app.retention.changeCategory(target.id, step.category, 'property test change', 'tester');
            }
          }
          // Destroyed exactly once each.
          const counts = await t.app.db.knex('destruction_log').whereIn('recording_id', made.map((r) => r.id)).select('recording_id').count({ n: '*' }).groupBy('recording_id');
          for (const row of counts) expect(Number(row.n)).toBe(1);
        },
      ),
      { numRuns: 25 },
    );
  });
});

