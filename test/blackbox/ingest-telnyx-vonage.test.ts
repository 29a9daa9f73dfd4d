import crypto from 'node:crypto';
import { makeMp3 } from '../helpers/audio';
import { describeEachBackend } from '../helpers/backends';
import { TELNYX_API_KEY, postTelnyx, startFakeTelnyx, type FakeTelnyx } from '../helpers/fake-telnyx';
import { VONAGE_APPLICATION_ID, VONAGE_SIGNATURE_SECRET, hs256Jwt, postVonage, startFakeVonage, vonageWebhookToken, type FakeVonage } from '../helpers/fake-vonage';
import { countRows, objectKeys, readAudio, waitForJob, waitForRecording } from '../helpers/inspect';
import { eventually, startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

describeEachBackend('Telnyx call.recording.saved', (backend) => {
  let fake: FakeTelnyx;
  let t: TestApp;
  const wav = makeWav({ seconds: 2, frequency: 600 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    fake = await startFakeTelnyx();
    t = await startTestApp({
      backend,
      env: {
        CALLVAULT_TELNYX_PUBLIC_KEY: fake.publicKeyBase64,
        CALLVAULT_TELNYX_API_KEY: TELNYX_API_KEY,
        CALLVAULT_TELNYX_API_BASE: fake.url,
        CALLVAULT_TELNYX_DELETE_AT_SOURCE: 'true',
        CALLVAULT_JOB_MAX_ATTEMPTS: '4',
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  function saved(overrides: Record<string, unknown> = {}): { id: string; event: Record<string, unknown> } {
    const id = crypto.randomUUID();
    fake.recordings.set(id, wav);
    return { id, event: fake.savedEvent(id, overrides) };
  }

  it('stores the WAV with the call details, then deletes it at Telnyx exactly once', async () => {
    const { id, event } = saved();
    const response = await postTelnyx(t.url, fake, event, { query: 'line=main&category=clinical' });
    expect(response.status).toBe(202);
    const recording = await waitForRecording(t.app, 'telnyx', id);
    expect(recording).toMatchObject({ status: 'stored', line: 'main', category: 'clinical', durationSec: 341, sha256: wavSha, format: 'wav' });
    expect(recording.startedAt?.toISOString()).toBe('2026-11-20T09:14:03.000Z');
    expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
    // WAV preferred over MP3.
    expect(fake.server.requests.filter((r) => r.url.includes(id)).map((r) => r.url.split('?')[0])).toContain(`/telephony-recorder-prod/${id}.wav`);
    await waitForJob(t.app, 'telnyx', id, ['succeeded']);
    const deletion = await eventually(async () => {
      const job = await t.app.jobs.findBySource('telnyx', id, 'source-delete');
      return job?.status === 'succeeded' ? job : undefined;
    });
    expect(deletion.recordingId).toBe(recording.id);
    expect(fake.deleted.filter((d) => d === id)).toHaveLength(1);
    // Deleting at the source changes nothing here.
    expect((await t.app.recordings.get(recording.id))?.status).toBe('stored');
    // A redelivery of the webhook neither stores nor deletes again.
    expect((await postTelnyx(t.url, fake, event)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.deleted.filter((d) => d === id)).toHaveLength(1);
  });

  it('a deletion that fails is retried and visible, and never touches the stored recording', async () => {
    fake.deleteFailures = 2;
    const { id, event } = saved();
    expect((await postTelnyx(t.url, fake, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'telnyx', id);
    const deletion = await eventually(async () => {
      const job = await t.app.jobs.findBySource('telnyx', id, 'source-delete');
      return job?.status === 'succeeded' ? job : undefined;
    });
    expect(deletion.attempts).toBe(3);
    expect(fake.deleted.filter((d) => d === id)).toHaveLength(1);
    expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
  });

  it('an expired link: a fresh one is asked for through the API, once', async () => {
    const { id, event } = saved();
    fake.expired.add(id);
    expect((await postTelnyx(t.url, fake, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'telnyx', id);
    expect(recording.sha256).toBe(wavSha);
    expect(fake.server.requests.some((r) => r.method === 'GET' && r.url === `/v2/recordings/${id}`)).toBe(true);
  });

  it('call.recording.error is recorded as a call without audio; a later saved event for that recording is still stored', async () => {
    const { id, event: savedLater } = saved();
    const event = fake.savedEvent(id, { recording_urls: {}, reason: 'recording could not be saved' }) as { data: { id: string; event_type: string } };
    event.data.event_type = 'call.recording.error';
    event.data.id = crypto.randomUUID();
    expect((await postTelnyx(t.url, fake, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'telnyx', `error-${id}`);
    expect(recording.status).toBe('unavailable');
    expect(recording.statusReason).toMatch(/recording error: recording could not be saved/);

    // Telnyx saves the recording after all: it is not mistaken for a redelivery of the error.
    const response = await postTelnyx(t.url, fake, savedLater);
    expect(await response.json()).toMatchObject({ duplicate: false });
    expect(await waitForRecording(t.app, 'telnyx', id)).toMatchObject({ status: 'stored', sha256: wavSha });
  });

  it('other event types are acknowledged and ignored', async () => {
    const event = fake.savedEvent(crypto.randomUUID()) as { data: { event_type: string } };
    event.data.event_type = 'call.hangup';
    const response = await postTelnyx(t.url, fake, event);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ status: 'ignored' });
  });

  describe('refuses unauthentic webhooks and stores nothing', () => {
    it.each([
      ['a wrong signature', (event: unknown) => ({ signature: fake.sign(JSON.stringify({ ...(event as object), x: 1 })).signature }), 'E_SIGNATURE_INVALID'],
      ['a signature of another key', () => ({ signature: crypto.sign(null, Buffer.from('x'), crypto.generateKeyPairSync('ed25519').privateKey).toString('base64') }), 'E_SIGNATURE_INVALID'],
      ['a stale timestamp', () => ({ timestamp: Math.floor(Date.now() / 1000) - 400 }), 'E_SIGNATURE_EXPIRED'],
      ['a body changed after signing', (event: unknown) => ({ body: JSON.stringify(event).replace('single', 'dual') }), 'E_SIGNATURE_INVALID'],
      ['a missing signature header', () => ({ signature: null }), 'E_SIGNATURE_MISSING'],
    ] as Array<[string, (event: unknown) => Record<string, unknown>, string]>)('%s', async (_name, make, code) => {
      const { id, event } = saved();
      const jobsBefore = await countRows(t.app, 'jobs');
      const response = await postTelnyx(t.url, fake, event, make(event));
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code });
      expect(await countRows(t.app, 'jobs')).toBe(jobsBefore);
      expect(fake.server.requests.some((r) => r.url.includes(id))).toBe(false);
    });
  });

  it('malformed events get a 400 naming the field', async () => {
    const { event } = saved({ recording_urls: {} });
    const response = await postTelnyx(t.url, fake, event);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/recording_urls/);

    // An id longer than the index keeps is refused by name, not a database error later.
    const long = saved();
    (long.event.data as { payload: Record<string, unknown> }).payload.recording_id = 'r'.repeat(300);
    const tooLong = await postTelnyx(t.url, fake, long.event);
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { message: string }).message).toMatch(/recording_id/);

    const nul = saved({ from: '+447700900123\u0000' });
    const withNul = await postTelnyx(t.url, fake, nul.event);
    expect(withNul.status).toBe(400);
    expect(await withNul.json()).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringMatching(/data\.payload\.from: contains a NUL character/) });
    expect(await t.app.jobs.findBySource('telnyx', nul.id)).toBeNull();
  });
});

describe('Telnyx without an API key: an expired link is a clear failure, not endless retries', () => {
  let fake: FakeTelnyx;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeTelnyx();
    t = await startTestApp({ env: { CALLVAULT_TELNYX_PUBLIC_KEY: fake.publicKeyBase64, CALLVAULT_TELNYX_API_BASE: fake.url, CALLVAULT_JOB_MAX_ATTEMPTS: '8' } });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('fails at the first attempt with E_FETCH_LINK_EXPIRED', async () => {
    const id = crypto.randomUUID();
    fake.recordings.set(id, makeWav({ seconds: 1 }));
    fake.expired.add(id);
    expect((await postTelnyx(t.url, fake, fake.savedEvent(id))).status).toBe(202);
    const job = await waitForJob(t.app, 'telnyx', id, ['failed']);
    expect(job).toMatchObject({ lastErrorCode: 'E_FETCH_LINK_EXPIRED', attempts: 1 });
    expect(job.lastError).toMatch(/10 minutes/);
    expect(await objectKeys(t.app)).toEqual([]);
  });
});

describeEachBackend('Vonage record event', (backend) => {
  let fake: FakeVonage;
  let t: TestApp;
  const mp3 = makeMp3(2);
  const mp3Sha = crypto.createHash('sha256').update(mp3).digest('hex');

  beforeAll(async () => {
    fake = await startFakeVonage();
    t = await startTestApp({
      backend,
      env: {
        CALLVAULT_VONAGE_SIGNATURE_SECRET: VONAGE_SIGNATURE_SECRET,
        CALLVAULT_VONAGE_APPLICATION_ID: VONAGE_APPLICATION_ID,
        CALLVAULT_VONAGE_PRIVATE_KEY: fake.privateKeyPem,
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  function recordEvent(): { uuid: string; event: Record<string, unknown> } {
    const uuid = crypto.randomUUID();
    fake.files.set(uuid, mp3);
    return { uuid, event: fake.recordEvent(uuid) };
  }

  it('stores the recording, fetched with an RS256 application JWT', async () => {
    const { uuid, event } = recordEvent();
    const response = await postVonage(t.url, event, { query: 'team=care-coordination' });
    expect(response.status).toBe(202);
    const recording = await waitForRecording(t.app, 'vonage', uuid);
    expect(recording).toMatchObject({ status: 'stored', format: 'mp3', contentType: 'audio/mpeg', sha256: mp3Sha, team: 'care-coordination', durationSec: 341, callId: event.conversation_uuid });
    expect((await readAudio(t.app, recording)).sha256).toBe(mp3Sha);
    expect(fake.unauthorised).toBe(0);
  });

  describe('refuses unauthentic webhooks and stores nothing', () => {
    it.each([
      ['a JWT signed with another secret', (body: string) => ({ token: vonageWebhookToken(body, { secret: 'not-the-secret' }) }), 'E_SIGNATURE_INVALID'],
      ['a stale iat', (body: string) => ({ token: vonageWebhookToken(body, { iat: Math.floor(Date.now() / 1000) - 3600 }) }), 'E_SIGNATURE_EXPIRED'],
      ['a body changed after signing', (body: string) => ({ token: vonageWebhookToken(body), body: body.replace('09:14:03', '09:15:03') }), 'E_SIGNATURE_INVALID'],
      ['a missing Authorization header', () => ({ token: null }), 'E_SIGNATURE_MISSING'],
      ['an unsigned token (alg none)', (body: string) => ({ token: `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iat: Math.floor(Date.now() / 1000), payload_hash: crypto.createHash('sha256').update(body).digest('hex') })).toString('base64url')}.` }), 'E_SIGNATURE_INVALID'],
      ['an HS512 token', (body: string) => ({ token: hs256Jwt({ iat: Math.floor(Date.now() / 1000), payload_hash: crypto.createHash('sha256').update(body).digest('hex') }, VONAGE_SIGNATURE_SECRET, { alg: 'HS512', typ: 'JWT' }) }), 'E_SIGNATURE_INVALID'],
    ] as Array<[string, (body: string) => { token?: string | null; body?: string }, string]>)('%s', async (_name, make, code) => {
      const { uuid, event } = recordEvent();
      const body = JSON.stringify(event);
      const options = make(body);
      const jobsBefore = await countRows(t.app, 'jobs');
      const response = await postVonage(t.url, event, options);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code });
      expect(await countRows(t.app, 'jobs')).toBe(jobsBefore);
      expect(fake.server.requests.some((r) => r.url.includes(uuid))).toBe(false);
    });
  });

  it('a record event without recording_uuid: 400 naming it', async () => {
    const { event } = recordEvent();
    delete event.recording_uuid;
    const response = await postVonage(t.url, event);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/recording_uuid/);
  });
});
