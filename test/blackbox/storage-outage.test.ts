import crypto from 'node:crypto';
import { describeEachBackend } from '../helpers/backends';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { objectKeys, readAudio, waitForJob, waitForRecording } from '../helpers/inspect';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { genericEvent, postGeneric, postGenericMultipart } from '../helpers/senders';
import { eventually, startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

describeEachBackend('storage outage (s3rver stopped, then back)', (backend) => {
  let s3: S3Server;
  let t: TestApp;
  let pbx: FakeServer;
  const wav = makeWav({ seconds: 2 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    s3 = await startS3Server();
    pbx = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav));
    // Few attempts: an outage of our own storage must not use them up.
    t = await startTestApp({ backend, s3, env: { CALLVAULT_JOB_MAX_ATTEMPTS: '2' } });
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
    await pbx?.close();
  });

  it('webhooks keep being accepted, readyz says storage is down, and every recording is stored once storage returns', async () => {
    await s3.stop();
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    const readiness = await ready.json();
    expect(readiness).toMatchObject({ database: { ok: true }, storage: { ok: false, problem: 'E_STORAGE_UNAVAILABLE' } });
    // The open route names the code only; where storage is (endpoint, bucket) goes to the log.
    expect(JSON.stringify(readiness)).not.toContain(s3.bucket);
    expect(JSON.stringify(readiness)).not.toContain(new URL(s3.endpoint).port);
    expect(t.logs.entries().some((line) => line.event === 'health.not_ready' && line.component === 'storage')).toBe(true);

    const events = Array.from({ length: 5 }, (_, i) => genericEvent({ recordingUrl: `${pbx.url}/rec/${i}.wav` }));
    for (const event of events) expect((await postGeneric(t.url, event)).status).toBe(202);

    // Several attempts fail while storage is away; the jobs stay queued, and those attempts are
    // not counted: once storage is back each job still has all of its attempts for the provider.
    const first = events[0]!.recordingId as string;
    const retriesOf = async (): Promise<number> => {
      const job = await t.app.jobs.findBySource('generic', first);
      return t.logs.entries().filter((line) => line.event === 'ingest.retry' && line.jobId === job?.id && line.code === 'E_STORAGE_UNAVAILABLE').length;
    };
    await eventually(async () => (await retriesOf()) >= 3, 20_000, 'several failed attempts');
    const during = await t.app.jobs.findBySource('generic', first);
    expect(during?.status).not.toBe('failed');
    expect(during?.lastErrorCode).toBe('E_STORAGE_UNAVAILABLE');
    expect(during!.attempts).toBeLessThanOrEqual(1);

    // A multipart upload during the outage is refused with 503, so the sender keeps it and retries.
    const upload = await postGenericMultipart(t.url, genericEvent(), wav);
    expect(upload.status).toBe(503);
    expect(await upload.json()).toMatchObject({ code: 'E_STORAGE_UNAVAILABLE' });

    await s3.start();
    for (const event of events) {
      const recording = await waitForRecording(t.app, 'generic', event.recordingId as string, 30_000);
      expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
      await waitForJob(t.app, 'generic', event.recordingId as string, ['succeeded']);
    }
    expect((await objectKeys(t.app)).length).toBe(events.length);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});
