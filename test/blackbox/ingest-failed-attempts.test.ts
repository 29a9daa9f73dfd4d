import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { createIngestWorker } from '../../src/app';
import { AppError } from '../../src/errors';
import type { IngestPipeline } from '../../src/ingest/pipeline';
import type { JobLedger } from '../../src/queue/ledger';
import type { ObjectStore } from '../../src/storage/object-store';
import { describeEachBackend } from '../helpers/backends';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { objectKeys, readAudio } from '../helpers/inspect';
import { genericEvent, postGeneric } from '../helpers/senders';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

/**
 * The index write is the step whose outcome can be unknown: the database may commit and the
 * answer be lost. The audio must never be deleted while an index row may point at it, and an
 * attempt that certainly rolled back must leave no object behind once the job has run again.
 */
describeEachBackend('failed ingest attempts: a database failure while indexing, storage failing during cleanup', (backend) => {
  let t: TestApp;
  let pbx: FakeServer;
  const wav = makeWav({ seconds: 2, frequency: 520 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    pbx = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav));
    t = await startTestApp({ backend, workers: false });
  });
  afterAll(async () => {
    await t?.close();
    await pbx?.close();
  });

  /** A pipeline whose ledger fails `complete` the given way (and whose storage deletes fail, if asked). */
  function pipelineWith(complete: (real: JobLedger['complete'], ...args: Parameters<JobLedger['complete']>) => Promise<void>, options: { deletesFail?: boolean } = {}): IngestPipeline {
    const real = t.app.ledger;
    const ledger = Object.create(real) as JobLedger;
    ledger.complete = (...args) => complete(real.complete.bind(real), ...args);
    const store = Object.create(t.app.store) as ObjectStore;
    if (options.deletesFail) store.delete = () => Promise.reject(new AppError('E_STORAGE_UNAVAILABLE', 'storage is away'));
    return createIngestWorker({ config: t.config, store, keyring: t.app.keyring, clock: t.app.clock, logger: t.app.logger, ledger }).pipeline;
  }
  const passThrough = (real: JobLedger['complete'], ...args: Parameters<JobLedger['complete']>): Promise<void> => real(...args);

  async function queueOne(): Promise<string> {
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec.wav` });
    expect((await postGeneric(t.url, event)).status).toBe(202);
    return event.recordingId as string;
  }

  it('committed but the answer lost: the recording stays indexed and its audio readable', async () => {
    const sourceId = await queueOne();
    const pipeline = pipelineWith(async (real, ...args) => {
      await real(...args);
      throw new AppError('E_DATABASE', 'connection lost after the commit');
    });
    const job = (await pipeline.claimNext('test-owner'))!;
    expect(job.sourceRecordingId).toBe(sourceId);
    await expect(pipeline.run(job, 'test-owner', new AbortController().signal)).rejects.toMatchObject({ code: 'E_DATABASE' });

    const recording = await t.app.recordings.findBySource('generic', sourceId);
    expect(recording).toMatchObject({ status: 'stored', sha256: wavSha });
    expect((await readAudio(t.app, recording!)).sha256).toBe(wavSha);
    expect((await t.app.jobs.findBySource('generic', sourceId))?.status).toBe('succeeded');
  });

  it('rolled back: the next attempt removes the first object and stores the recording once', async () => {
    const sourceId = await queueOne();
    const before = await objectKeys(t.app);
    const failing = pipelineWith(async () => {
      throw new AppError('E_DATABASE', 'database unreachable');
    });
    const first = (await failing.claimNext('owner-1'))!;
    await expect(failing.run(first, 'owner-1', new AbortController().signal)).rejects.toMatchObject({ code: 'E_DATABASE' });
    // The outcome looked unknown, so the object written by that attempt is still there...
    expect((await objectKeys(t.app)).length).toBe(before.length + 1);
    await t.app.ledger.fail(first.id, 'owner-1', { code: 'E_DATABASE', message: 'database unreachable' }, new Date(0), t.app.clock.now());

    // ...until the job is claimed again: that attempt removes it, then stores the audio under its own key.
    const healthy = pipelineWith((real, ...args) => real(...args));
    const second = (await healthy.claimNext('owner-2'))!;
    expect(second.id).toBe(first.id);
    await healthy.run(second, 'owner-2', new AbortController().signal);
    const recording = await t.app.recordings.findBySource('generic', sourceId);
    expect(recording).toMatchObject({ status: 'stored', sha256: wavSha });
    const after = await objectKeys(t.app);
    expect(after.length).toBe(before.length + 1);
    expect(after).toContain(recording!.storageKey);
  });

  it('lease lost (the write certainly rolled back): the object is removed at once', async () => {
    const sourceId = await queueOne();
    const before = await objectKeys(t.app);
    const pipeline = pipelineWith(async () => {
      throw new AppError('E_JOB_LEASE_LOST', 'job is no longer held by this worker');
    });
    const job = (await pipeline.claimNext('owner-3'))!;
    await expect(pipeline.run(job, 'owner-3', new AbortController().signal)).rejects.toMatchObject({ code: 'E_JOB_LEASE_LOST' });
    expect(await objectKeys(t.app)).toEqual(before);
    expect(await t.app.recordings.findBySource('generic', sourceId)).toBeNull();
  });

  it('an abandoned object whose cleanup failed is not forgotten by the attempt after', async () => {
    const sourceId = await queueOne();
    const before = await objectKeys(t.app);
    // Attempt 1 wrote part of its object, then its process stopped (the job keeps the key).
    const crashed = pipelineWith(passThrough);
    const first = (await crashed.claimNext('owner-a'))!;
    const firstKey = first.pendingObjectKey!;
    await t.app.store.put(firstKey, Readable.from([Buffer.alloc(1000, 7)]));
    await t.app.ledger.fail(first.id, 'owner-a', { code: 'E_INTERNAL', message: 'process stopped' }, new Date(0), t.app.clock.now());

    // Attempt 2 cannot delete it (storage failing) and so writes nothing of its own.
    const failing = pipelineWith(passThrough, { deletesFail: true });
    const second = (await failing.claimNext('owner-b'))!;
    expect(second.abandonedObjectKey).toBe(firstKey);
    await expect(failing.run(second, 'owner-b', new AbortController().signal)).rejects.toMatchObject({ code: 'E_STORAGE_UNAVAILABLE' });
    await t.app.ledger.fail(second.id, 'owner-b', { code: 'E_STORAGE_UNAVAILABLE', message: 'storage is away', uncounted: true }, new Date(0), t.app.clock.now());

    // Attempt 3 still knows attempt 1's object, removes it, and stores the recording once.
    const healthy = pipelineWith(passThrough);
    const third = (await healthy.claimNext('owner-c'))!;
    expect(third.abandonedObjectKey).toBe(firstKey);
    await healthy.run(third, 'owner-c', new AbortController().signal);
    expect(await t.app.store.head(firstKey)).toBeNull();
    const recording = await t.app.recordings.findBySource('generic', sourceId);
    expect(await objectKeys(t.app)).toEqual([...before, recording!.storageKey].sort());
  });
});
