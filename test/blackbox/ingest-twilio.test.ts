import crypto from 'node:crypto';
import { describeEachBackend } from '../helpers/backends';
import { startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio';
import { countRows, objectKeys, readAudio, waitForJob, waitForRecording } from '../helpers/inspect';
import { postTwilio, twilioCallback, twilioSign } from '../helpers/senders';
import { TWILIO_AUTH_TOKEN, startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';
// The official helper, as a cross-check of the signature our test client makes.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const twilio = require('twilio') as { validateRequest(token: string, signature: string, url: string, params: Record<string, string>): boolean };

describeEachBackend('Twilio RecordingStatusCallback', (backend) => {
  let t: TestApp;
  let fake: FakeTwilio;
  const wav = makeWav({ seconds: 2, frequency: 500 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    fake = await startFakeTwilio();
    t = await startTestApp({ backend, env: { CALLVAULT_TWILIO_API_BASE: fake.url, CALLVAULT_JOB_MAX_ATTEMPTS: '3' } });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });
  beforeEach(() => {
    fake.mediaOverride = null;
  });

  function completedCallback(overrides: Record<string, string> = {}): Record<string, string> {
    const callback = twilioCallback(overrides);
    callback.RecordingUrl = fake.recordingUrl(callback.RecordingSid!);
    fake.recordings.set(callback.RecordingSid!, wav);
    fake.calls.set(callback.CallSid!, { from: '+447700900123', to: '+441632960001', direction: 'inbound' });
    return callback;
  }

  it('our test signature agrees with the official twilio helper', () => {
    const callback = completedCallback();
    const url = `${t.url}/webhooks/twilio?line=bypass`;
    expect(twilio.validateRequest(TWILIO_AUTH_TOKEN, twilioSign(url, callback), url, callback)).toBe(true);
  });

  it('a completed recording: call details from the Calls API, audio as WAV with basic auth, query parameters as metadata', async () => {
    const callback = completedCallback();
    const response = await postTwilio(t.url, callback, { query: 'line=bypass&team=care-coordination&category=admin' });
    expect(response.status).toBe(202);
    const recording = await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    expect(recording).toMatchObject({
      status: 'stored',
      callId: callback.CallSid,
      direction: 'inbound',
      fromNumber: '+447700900123',
      toNumber: '+441632960001',
      line: 'bypass',
      team: 'care-coordination',
      category: 'admin',
      durationSec: 12,
      sha256: wavSha,
      format: 'wav',
    });
    expect(recording.startedAt?.toISOString()).toBe('2026-11-20T09:14:03.000Z');
    // admin: 28 days from the start of the recording
    expect(recording.retainUntil.toISOString()).toBe('2026-12-18T09:14:03.000Z');
    expect(recording.metadata).toMatchObject({ accountSid: callback.AccountSid, recordingSid: callback.RecordingSid, channels: 1 });
    expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
    const mediaRequests = fake.server.requests.filter((r) => r.url.includes(callback.RecordingSid!));
    expect(mediaRequests.map((r) => r.url)).toEqual([`/2010-04-01/Accounts/${callback.AccountSid}/Recordings/${callback.RecordingSid}.wav`]);
    expect(fake.server.requests.some((r) => r.url.endsWith(`/Calls/${callback.CallSid}.json`))).toBe(true);
  });

  describe('refuses unauthentic callbacks and stores nothing', () => {
    it.each([
      ['a missing signature', (cb: Record<string, string>) => ({ params: cb, signature: null as string | null }), 'E_SIGNATURE_MISSING'],
      ['a signature with the wrong auth token', (cb: Record<string, string>) => ({ params: cb, signature: twilioSign('x', cb, 'wrong-token') }), 'E_SIGNATURE_INVALID'],
      [
        'a parameter changed after signing',
        (cb: Record<string, string>) => ({ params: { ...cb, RecordingUrl: 'https://evil.example/r' }, signature: null as string | null, signFor: cb }),
        'E_SIGNATURE_INVALID',
      ],
      ['a signature for another URL', (cb: Record<string, string>) => ({ params: cb, signature: twilioSign('https://elsewhere.example/webhooks/twilio', cb) }), 'E_SIGNATURE_INVALID'],
    ] as Array<[string, (cb: Record<string, string>) => { params: Record<string, string>; signature: string | null; signFor?: Record<string, string> }, string]>)(
      '%s',
      async (_name, make, code) => {
        const callback = completedCallback();
        const { params, signature, signFor } = make(callback);
        const sig = signFor ? twilioSign(`${t.url}/webhooks/twilio`, signFor) : signature;
        const jobsBefore = await countRows(t.app, 'jobs');
        const response = await postTwilio(t.url, params, { signature: sig });
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({ code });
        expect(await countRows(t.app, 'jobs')).toBe(jobsBefore);
      },
    );

    it('a query parameter added after signing (category=admin) is refused', async () => {
      const callback = completedCallback();
      const signature = twilioSign(`${t.url}/webhooks/twilio`, callback);
      const response = await postTwilio(t.url, callback, { query: 'category=admin', signature });
      expect(response.status).toBe(401);
    });
  });

  it.each([
    ['absent', { RecordingStatus: 'absent' }, /absent/],
    ['failed', { RecordingStatus: 'failed', ErrorCode: '13617' }, /failed \(Twilio error 13617\)/],
  ])('RecordingStatus %s: recorded as unavailable, no audio fetched', async (_name, overrides, reason) => {
    const callback = completedCallback(overrides as Record<string, string>);
    const objectsBefore = await objectKeys(t.app);
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    expect(recording.status).toBe('unavailable');
    expect(recording.statusReason).toMatch(reason);
    expect(fake.server.requests.some((r) => r.url.includes(`${callback.RecordingSid}.wav`))).toBe(false);
    expect(await objectKeys(t.app)).toEqual(objectsBefore);
  });

  it('RecordingStatus in-progress is acknowledged and ignored', async () => {
    const callback = completedCallback({ RecordingStatus: 'in-progress' });
    const response = await postTwilio(t.url, callback);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ status: 'ignored' });
    expect(await t.app.jobs.findBySource('twilio', callback.RecordingSid!)).toBeNull();
  });

  it.each([
    ['an unknown RecordingStatus', { RecordingStatus: 'done' }, 'E_VALIDATION', /RecordingStatus/],
    ['a malformed RecordingSid', { RecordingSid: 'RE123' }, 'E_VALIDATION', /RecordingSid/],
    ['another account', { AccountSid: `AC${'2'.repeat(32)}` }, 'E_VALIDATION', /AccountSid/],
    ['no RecordingUrl on completed', { RecordingUrl: '' }, 'E_VALIDATION', /RecordingUrl/],
  ])('%s: 400 with the field named', async (_name, overrides, code, message) => {
    const callback = { ...completedCallback(), ...(overrides as Record<string, string>) };
    const response = await postTwilio(t.url, callback);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe(code);
    expect(body.message).toMatch(message);
  });

  it('an unknown category in the callback URL: 422, nothing queued', async () => {
    const callback = completedCallback();
    const response = await postTwilio(t.url, callback, { query: 'category=forever' });
    expect(response.status).toBe(422);
    expect(await t.app.jobs.findBySource('twilio', callback.RecordingSid!)).toBeNull();
  });

  it('a call the Calls API no longer knows: the recording is still stored, without numbers', async () => {
    const callback = completedCallback();
    fake.calls.delete(callback.CallSid!);
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    expect(recording).toMatchObject({ status: 'stored', fromNumber: null, toNumber: null });
    expect(recording.metadata).toMatchObject({ callDetails: 'unavailable' });
  });

  it('Twilio refusing our credentials parks the job as failed at once (waiting will not fix it)', async () => {
    const callback = completedCallback();
    fake.mediaOverride = (_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"code":20003,"message":"Authenticate","status":401}');
      return true;
    };
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const job = await waitForJob(t.app, 'twilio', callback.RecordingSid!, ['failed']);
    expect(job).toMatchObject({ lastErrorCode: 'E_FETCH_HTTP_STATUS', attempts: 1 });
    expect(job.lastError).toMatch(/401/);
  });

  it('Twilio retrying the same callback: one recording', async () => {
    const callback = completedCallback();
    const responses = await Promise.all(Array.from({ length: 5 }, () => postTwilio(t.url, callback)));
    expect(responses.every((r) => r.status === 202)).toBe(true);
    await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    expect(await t.app.db.knex('recordings').where({ source: 'twilio', source_recording_id: callback.RecordingSid! })).toHaveLength(1);
  });
});

describe('Twilio behind a reverse proxy', () => {
  let fake: FakeTwilio;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeTwilio();
    t = await startTestApp({
      env: { CALLVAULT_TWILIO_API_BASE: fake.url, CALLVAULT_TRUST_PROXY: 'loopback', CALLVAULT_PUBLIC_URL: 'https://not-used.example' },
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('with CALLVAULT_TRUST_PROXY, the signature is checked against X-Forwarded-Proto/Host', async () => {
    const callback = twilioCallback();
    callback.RecordingUrl = fake.recordingUrl(callback.RecordingSid!);
    fake.recordings.set(callback.RecordingSid!, makeWav({ seconds: 1 }));
    const signature = twilioSign('https://calls.example.nhs.uk/webhooks/twilio', callback);
    const post = (host: string) =>
      fetch(`${t.url}/webhooks/twilio`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'x-forwarded-proto': 'https', 'x-forwarded-host': host },
        body: new URLSearchParams(callback).toString(),
      });
    expect((await post('elsewhere.example')).status).toBe(401);
    expect((await post('calls.example.nhs.uk')).status).toBe(202);
  });
});
