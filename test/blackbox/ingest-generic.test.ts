import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describeEachBackend } from '../helpers/backends';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { countRows, objectKeys, readAudio, waitForJob, waitForRecording } from '../helpers/inspect';
import { genericEvent, genericSignature, multipartBody, postGeneric, postGenericMultipart } from '../helpers/senders';
import { eventually, GENERIC_SECRET, startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

describeEachBackend('generic webhook (JSON with recordingUrl)', (backend) => {
  let t: TestApp;
  let pbx: FakeServer;
  const wav = makeWav({ seconds: 3 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    pbx = await startFakeServer();
    t = await startTestApp({ backend, env: { CALLVAULT_JOB_MAX_ATTEMPTS: '4', CALLVAULT_MAX_WEBHOOK_BYTES: '4096', CALLVAULT_MAX_AUDIO_BYTES: '1MB' } });
  });
  afterAll(async () => {
    await t?.close();
    await pbx?.close();
  });
  beforeEach(() => {
    pbx.handler = (_req, res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length }).end(wav);
  });

  it('stores a valid event: 202 at once, then encrypted, verified and indexed with the right metadata', async () => {
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/1.wav` });
    const response = await postGeneric(t.url, event);
    expect(response.status).toBe(202);
    const ack = (await response.json()) as { recordingId: string; duplicate: boolean; status: string };
    expect(ack).toMatchObject({ duplicate: false, status: 'queued' });

    const recording = await waitForRecording(t.app, 'generic', event.recordingId as string);
    expect(recording.id).toBe(ack.recordingId);
    expect(recording).toMatchObject({
      status: 'stored',
      direction: 'inbound',
      fromNumber: '+447700900123',
      fromDisplay: '07700 900123',
      toNumber: '+441632960001',
      extension: '201',
      line: 'main',
      team: 'care-coordination',
      category: 'general',
      consent: 'recorded',
      durationSec: 341,
      format: 'wav',
      plaintextSize: wav.length,
      sha256: wavSha,
      staff: ['jsmith'],
      parties: [{ name: 'Jane Patient', role: 'caller' }],
    });
    expect(recording.startedAt?.toISOString()).toBe('2026-11-20T09:14:03.000Z');
    // general = 36 months from the start of the call
    expect(recording.retainUntil.toISOString()).toBe('2029-11-20T09:14:03.000Z');
    expect(recording.storageKey).toMatch(/^recordings\/[0-9a-f]{2}\/[0-9a-f-]{36}\.cv$/);
    expect(recording.storageKey).not.toContain('7700');

    const audio = await readAudio(t.app, recording);
    expect(audio.sha256).toBe(wavSha);

    const byNumber = await t.app.recordings.search({ number: '+447700900123', limit: 10 });
    expect(byNumber.items.map((r) => r.id)).toContain(recording.id);
    const byParty = await t.app.recordings.search({ party: 'jane pat', limit: 10 });
    expect(byParty.items.map((r) => r.id)).toContain(recording.id);

    const job = await waitForJob(t.app, 'generic', event.recordingId as string, ['succeeded']);
    // The queue keeps no copy of the call's personal data once it is indexed.
    expect(job.payload).toEqual({});
    expect(job.pendingObjectKey).toBeNull();
  });

  it('writes one log line per stage with the recording id, and never secrets, signatures or full numbers', async () => {
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/logs.wav`, from: '+447700900999' });
    const signature = genericSignature(JSON.stringify(event));
    const response = await postGeneric(t.url, event, { signature });
    const { recordingId } = (await response.json()) as { recordingId: string };
    await waitForRecording(t.app, 'generic', event.recordingId as string);
    const stages = t.logs
      .entries()
      .filter((line) => line.recordingId === recordingId)
      .map((line) => line.event);
    expect(stages).toEqual(expect.arrayContaining(['ingest.queued', 'ingest.claimed', 'ingest.fetched', 'ingest.stored', 'ingest.verified', 'ingest.indexed']));
    const text = t.logs.text();
    expect(text).not.toContain(GENERIC_SECRET);
    expect(text).not.toContain(signature.split('v1=')[1]!);
    expect(text).not.toContain('+447700900999');
    expect(text).not.toContain('07700 900123');
    expect(text).not.toContain('Jane Patient');
  });

  describe('refuses unauthentic requests and stores nothing', () => {
    const cases: Array<[string, (body: string) => { signature?: string | null; body?: string }, string]> = [
      ['a missing signature', () => ({ signature: null }), 'E_SIGNATURE_MISSING'],
      ['a malformed signature header', () => ({ signature: 'sha256=abc' }), 'E_SIGNATURE_INVALID'],
      ['a signature made with another secret', (body) => ({ signature: genericSignature(body, undefined, 'wrong-secret') }), 'E_SIGNATURE_INVALID'],
      ['a body changed after signing', (body) => ({ signature: genericSignature(body), body: body.replace('"main"', '"bypass"') }), 'E_SIGNATURE_INVALID'],
      ['a replay older than 5 minutes', (body) => ({ signature: genericSignature(body, Math.floor(Date.now() / 1000) - 301) }), 'E_SIGNATURE_EXPIRED'],
      ['a timestamp too far in the future', (body) => ({ signature: genericSignature(body, Math.floor(Date.now() / 1000) + 400) }), 'E_SIGNATURE_EXPIRED'],
    ];
    it.each(cases)('%s', async (_name, make, code) => {
      const event = genericEvent({ recordingUrl: `${pbx.url}/rec/x.wav` });
      const body = JSON.stringify(event);
      const options = make(body);
      const before = { jobs: await countRows(t.app, 'jobs'), requests: pbx.requests.length };
      const response = await postGeneric(t.url, event, { signature: options.signature, body: options.body ?? body });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ code });
      expect(await countRows(t.app, 'jobs')).toBe(before.jobs);
      expect(await t.app.jobs.findBySource('generic', event.recordingId as string)).toBeNull();
      expect(pbx.requests.length).toBe(before.requests);
    });
  });

  describe('refuses bad input with a 4xx {code, message} and keeps serving', () => {
    const signedRaw = (body: string) => ({ body, signature: genericSignature(body) });
    const cases: Array<[string, () => { body: string; contentType?: string }, number, string, RegExp | undefined]> = [
      ['malformed JSON', () => ({ body: '{"eventId": "e1", ' }), 400, 'E_BAD_REQUEST', undefined],
      ['a missing required field', () => ({ body: JSON.stringify({ ...genericEvent(), recordingId: undefined, recordingUrl: 'http://127.0.0.1/x' }) }), 400, 'E_VALIDATION', /recordingId/],
      ['a wrong type', () => ({ body: JSON.stringify(genericEvent({ durationSec: 'long', recordingUrl: 'http://127.0.0.1/x' })) }), 400, 'E_VALIDATION', /durationSec/],
      ['an unknown enum value', () => ({ body: JSON.stringify(genericEvent({ direction: 'sideways', recordingUrl: 'http://127.0.0.1/x' })) }), 400, 'E_VALIDATION', /direction/],
      ['an unknown field (a typo)', () => ({ body: JSON.stringify(genericEvent({ categroy: 'admin', recordingUrl: 'http://127.0.0.1/x' })) }), 400, 'E_VALIDATION', /categroy/],
      ['a bad timestamp', () => ({ body: JSON.stringify(genericEvent({ startedAt: 'yesterday', recordingUrl: 'http://127.0.0.1/x' })) }), 400, 'E_VALIDATION', /startedAt/],
      ['no recordingUrl for a recorded call', () => ({ body: JSON.stringify(genericEvent()) }), 400, 'E_AUDIO_MISSING', /recordingUrl/],
      ['a file: URL', () => ({ body: JSON.stringify(genericEvent({ recordingUrl: 'file:///etc/passwd' })) }), 400, 'E_VALIDATION', /recordingUrl/],
      ['an unknown retention category', () => ({ body: JSON.stringify(genericEvent({ category: 'forever', recordingUrl: 'http://127.0.0.1/x' })) }), 422, 'E_UNKNOWN_CATEGORY', /forever/],
      ['a NUL character in a name', () => ({ body: JSON.stringify(genericEvent({ recordingUrl: 'http://127.0.0.1/x', parties: [{ name: 'Jane\u0000Patient' }] })) }), 400, 'E_BAD_REQUEST', /parties\.0\.name: contains a NUL character/],
      ['a category named after an Object property', () => ({ body: JSON.stringify(genericEvent({ category: 'constructor', recordingUrl: 'http://127.0.0.1/x' })) }), 422, 'E_UNKNOWN_CATEGORY', /constructor/],
      ['a category of __proto__', () => ({ body: JSON.stringify(genericEvent({ category: '__proto__', recordingUrl: 'http://127.0.0.1/x' })) }), 422, 'E_UNKNOWN_CATEGORY', /__proto__/],
      ['a body over the configured limit', () => ({ body: JSON.stringify(genericEvent({ recordingUrl: 'http://127.0.0.1/x', team: 'x'.repeat(100), staff: Array.from({ length: 50 }, () => 'y'.repeat(100)) })) }), 413, 'E_PAYLOAD_TOO_LARGE', undefined],
      ['a content type that is neither JSON nor multipart', () => ({ body: 'eventId=1', contentType: 'application/x-www-form-urlencoded' }), 415, 'E_UNSUPPORTED_MEDIA_TYPE', undefined],
    ];
    it.each(cases)('%s', async (_name, make, status, code, message) => {
      const { body, contentType } = make();
      const jobsBefore = await countRows(t.app, 'jobs');
      const response = await postGeneric(t.url, null, { ...signedRaw(body), contentType });
      expect(response.status).toBe(status);
      const error = (await response.json()) as { code: string; message: string };
      expect(error.code).toBe(code);
      expect(typeof error.message).toBe('string');
      if (message) expect(error.message).toMatch(message);
      expect(await countRows(t.app, 'jobs')).toBe(jobsBefore);
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    });
  });

  it('the same event 50 times at once: one job, one recording, one object', async () => {
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/dup.wav` });
    const objectsBefore = (await objectKeys(t.app)).length;
    const responses = await Promise.all(Array.from({ length: 50 }, () => postGeneric(t.url, event)));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(202));
    const acks = (await Promise.all(responses.map((r) => r.json()))) as Array<{ recordingId: string; duplicate: boolean }>;
    expect(new Set(acks.map((a) => a.recordingId)).size).toBe(1);
    expect(acks.filter((a) => !a.duplicate)).toHaveLength(1);
    await waitForRecording(t.app, 'generic', event.recordingId as string);
    await waitForJob(t.app, 'generic', event.recordingId as string, ['succeeded']);
    // Delivered again after it was stored: still one.
    expect(((await (await postGeneric(t.url, event)).json()) as { duplicate: boolean; status: string })).toMatchObject({ duplicate: true, status: 'stored' });
    const rows = await t.app.db.knex('recordings').where({ source: 'generic', source_recording_id: event.recordingId as string });
    expect(rows).toHaveLength(1);
    expect((await objectKeys(t.app)).length).toBe(objectsBefore + 1);
    expect(pbx.requests.filter((r) => r.url === '/rec/dup.wav')).toHaveLength(1);
  });

  it('a provider answering 500 twice then 200: stored after the retries', async () => {
    let calls = 0;
    pbx.handler = (_req, res) => {
      calls += 1;
      if (calls <= 2) res.writeHead(500).end('busy');
      else res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
    };
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/flaky.wav` });
    expect((await postGeneric(t.url, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'generic', event.recordingId as string);
    expect(recording.sha256).toBe(wavSha);
    const job = await waitForJob(t.app, 'generic', event.recordingId as string, ['succeeded']);
    expect(job.attempts).toBe(3);
    expect(calls).toBe(3);
  });

  describe('downloads that go wrong end as a failed job with the reason, and nothing stored', () => {
    const cases: Array<[string, (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void, string]> = [
      ['an HTML page instead of audio', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'), 'E_FETCH_CONTENT_TYPE'],
      ['bytes that are not audio, whatever the content type says', (_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end('{"error":"no such recording"}'), 'E_AUDIO_UNSUPPORTED'],
      ['a recording the PBX no longer has', (_req, res) => res.writeHead(404).end(), 'E_FETCH_NOT_FOUND'],
      [
        'a download that ends early (every time)',
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(wav.length) });
          res.write(wav.subarray(0, 1000));
          setTimeout(() => res.destroy(), 20);
        },
        'E_FETCH_TRUNCATED',
      ],
      ['a download larger than the limit', (_req, res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(3 * 1024 * 1024) }).end(), 'E_AUDIO_TOO_LARGE'],
    ];
    it.each(cases)('%s', async (_name, handler, code) => {
      pbx.handler = handler;
      const objectsBefore = await objectKeys(t.app);
      const event = genericEvent({ recordingUrl: `${pbx.url}/rec/bad.wav` });
      expect((await postGeneric(t.url, event)).status).toBe(202);
      const job = await waitForJob(t.app, 'generic', event.recordingId as string, ['failed']);
      expect(job.lastErrorCode).toBe(code);
      // The attempt's object key stays on the job for the record, but nothing is stored under it.
      if (job.pendingObjectKey) expect(await t.app.store.head(job.pendingObjectKey)).toBeNull();
      expect(await t.app.recordings.findBySource('generic', event.recordingId as string)).toBeNull();
      expect(await objectKeys(t.app)).toEqual(objectsBefore);
    });
  });

  it.each([
    ['1970 (a clock never set)', '1970-01-01T00:00:05Z', 'before-2000'],
    ['2099 (a clock far ahead)', '2099-03-01T10:00:00Z', 'future'],
  ])('a start time of %s: retention runs from the ingest time, flagged and logged; the source value is kept', async (_name, startedAt, reason) => {
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/clock.wav`, startedAt, endedAt: startedAt, category: 'admin' });
    const before = Date.now();
    expect((await postGeneric(t.url, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'generic', event.recordingId as string);
    expect(recording.startedAt?.toISOString()).toBe(new Date(startedAt).toISOString());
    expect(recording.metadata).toMatchObject({ callTimeAdjusted: reason });
    // admin = 28 days, counted from when the recording arrived
    const days = (recording.retainUntil.getTime() - before) / 86_400_000;
    expect(days).toBeGreaterThan(27.99);
    expect(days).toBeLessThan(28.01);
    expect(recording.callTime.getTime()).toBeGreaterThanOrEqual(before - 1000);
    const warning = t.logs.entries().find((line) => line.event === 'ingest.call_time_adjusted' && line.recordingId === recording.id);
    expect(warning).toMatchObject({ level: 'warn', reason });
  });

  it('a download from a host that is not allowed is never attempted', async () => {
    const event = genericEvent({ recordingUrl: 'http://recordings.example.net/r.wav' });
    expect((await postGeneric(t.url, event)).status).toBe(202);
    const job = await waitForJob(t.app, 'generic', event.recordingId as string, ['failed']);
    expect(job.lastErrorCode).toBe('E_FETCH_HOST_NOT_ALLOWED');
    expect(job.attempts).toBe(1);
  });

  it('consent declined: a metadata-only entry says the call was not retained; nothing is fetched or stored', async () => {
    const objectsBefore = await objectKeys(t.app);
    const requestsBefore = pbx.requests.length;
    const event = genericEvent({ consent: 'declined', recordingUrl: `${pbx.url}/rec/declined.wav` });
    expect((await postGeneric(t.url, event)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'generic', event.recordingId as string);
    expect(recording).toMatchObject({ status: 'not_retained', consent: 'declined', storageKey: null, wrappedKey: null, sha256: null });
    expect(recording.statusReason).toMatch(/consent declined/);
    expect(pbx.requests.length).toBe(requestsBefore);
    expect(await objectKeys(t.app)).toEqual(objectsBefore);
  });
});

describeEachBackend('generic webhook (multipart with the audio)', (backend) => {
  let t: TestApp;
  const wav = makeWav({ seconds: 2, frequency: 300 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    t = await startTestApp({ backend, env: { CALLVAULT_MAX_AUDIO_BYTES: '200000' } });
  });
  afterAll(async () => t?.close());

  const spoolFiles = () => {
    const dir = path.join(t.dataDir, 'spool');
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };

  it('answers 202 only once the recording is stored, verified and indexed', async () => {
    const event = genericEvent();
    const response = await postGenericMultipart(t.url, event, wav);
    expect(response.status).toBe(202);
    const ack = (await response.json()) as { recordingId: string; status: string };
    expect(ack.status).toBe('stored');
    const recording = await t.app.recordings.get(ack.recordingId);
    expect(recording).toMatchObject({ status: 'stored', sha256: wavSha, fromNumber: '+447700900123' });
    expect((await readAudio(t.app, recording!)).sha256).toBe(wavSha);
    expect(spoolFiles()).toEqual([]);
  });

  it('accepts the audio part before the event part', async () => {
    const event = genericEvent();
    const response = await postGenericMultipart(t.url, event, wav, { audioFirst: true });
    expect(response.status).toBe(202);
    expect(((await response.json()) as { status: string }).status).toBe('stored');
  });

  it('a redelivery of a stored upload is a duplicate, and stores nothing more', async () => {
    const event = genericEvent();
    await postGenericMultipart(t.url, event, wav);
    const before = await objectKeys(t.app);
    const again = await postGenericMultipart(t.url, event, wav);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ duplicate: true, status: 'stored' });
    expect(await objectKeys(t.app)).toEqual(before);
  });

  it('a bad signature stores nothing and leaves no temporary file', async () => {
    const before = await objectKeys(t.app);
    const event = genericEvent();
    const tampered = await postGenericMultipart(t.url, event, wav, {
      tamper: (body) => {
        const copy = Buffer.from(body);
        copy[copy.length - 200]! ^= 1;
        return copy;
      },
    });
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toMatchObject({ code: 'E_SIGNATURE_INVALID' });
    const unsigned = await postGenericMultipart(t.url, event, wav, { signature: null });
    expect(unsigned.status).toBe(401);
    expect(await objectKeys(t.app)).toEqual(before);
    expect(await t.app.jobs.findBySource('generic', event.recordingId as string)).toBeNull();
    expect(spoolFiles()).toEqual([]);
  });

  it('consent declined: the audio part is dropped unread; no object, no temporary file', async () => {
    const before = await objectKeys(t.app);
    const event = genericEvent({ consent: 'declined' });
    const response = await postGenericMultipart(t.url, event, wav);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ status: 'not_retained' });
    expect(await objectKeys(t.app)).toEqual(before);
    expect(spoolFiles()).toEqual([]);
  });

  it.each([
    ['no audio part', () => ({ event: genericEvent(), audio: null }), 400, 'E_AUDIO_MISSING'],
    ['audio over the size limit', () => ({ event: genericEvent(), audio: makeWav({ seconds: 20 }) }), 413, 'E_AUDIO_TOO_LARGE'],
    ['a file that is not audio', () => ({ event: genericEvent(), audio: Buffer.from('%PDF-1.4 not a recording at all') }), 415, 'E_AUDIO_UNSUPPORTED'],
    ['an event part that is not JSON', () => ({ event: '{{', audio: wav }), 400, 'E_BAD_REQUEST'],
  ] as Array<[string, () => { event: unknown; audio: Buffer | null }, number, string]>)('%s: refused, nothing stored', async (_name, make, status, code) => {
    const before = await objectKeys(t.app);
    const { event, audio } = make();
    const response = await postGenericMultipart(t.url, event, audio);
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ code });
    expect(await objectKeys(t.app)).toEqual(before);
    expect(spoolFiles()).toEqual([]);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});

describe('generic webhook (multipart): uploads in flight are bounded and cleaned up', () => {
  let t: TestApp;
  const wav = makeWav({ seconds: 2, frequency: 440 });

  beforeAll(async () => {
    t = await startTestApp({ env: { CALLVAULT_MAX_CONCURRENT_UPLOADS: '1', CALLVAULT_MAX_SPOOL_BYTES: String(wav.length * 2) } });
  });
  afterAll(async () => t?.close());

  const spoolDir = () => path.join(t.dataDir, 'spool');
  const spoolFiles = () => (fs.existsSync(spoolDir()) ? fs.readdirSync(spoolDir()) : []);
  /** File descriptors of this process that point into the spool folder. */
  const openSpoolFds = () =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(spoolDir());
      } catch {
        return false;
      }
    });

  /** Sends the headers and the first `sentBytes` of a signed multipart upload, then holds the connection open. */
  function startUpload(event: unknown, audio: Buffer, sentBytes: number): { request: http.ClientRequest; rest: Buffer; response: Promise<http.IncomingMessage> } {
    const { body, contentType } = multipartBody([
      { name: 'event', value: JSON.stringify(event) },
      { name: 'audio', value: audio, filename: 'call.wav', type: 'audio/wav' },
    ]);
    const request = http.request(`${t.url}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-length': body.length, 'x-callvault-signature': genericSignature(body) },
    });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      request.on('response', resolve);
      request.on('error', reject);
    });
    request.write(body.subarray(0, sentBytes));
    return { request, rest: body.subarray(sentBytes), response };
  }

  it('a sender that disconnects mid-upload leaves no spool file and no open file behind, and nothing is stored', async () => {
    const before = await objectKeys(t.app);
    const event = genericEvent();
    const upload = startUpload(event, wav, Math.floor(wav.length / 2));
    upload.response.catch(() => undefined);
    await eventually(async () => spoolFiles().length === 1, 5000, 'the upload to reach the spool');
    upload.request.destroy();
    await eventually(async () => spoolFiles().length === 0 && openSpoolFds().length === 0, 5000, 'the spool to be cleaned up');
    expect(await objectKeys(t.app)).toEqual(before);
    expect(await t.app.jobs.findBySource('generic', event.recordingId as string)).toBeNull();
    // The slot it held is free again.
    const next = await postGenericMultipart(t.url, genericEvent(), wav);
    expect(next.status).toBe(202);
  });

  it('past the number of uploads at once, the sender is told 503 E_BUSY (retryable) and the first upload still completes', async () => {
    const event = genericEvent();
    const first = startUpload(event, wav, Math.floor(wav.length / 2));
    await eventually(async () => spoolFiles().length === 1, 5000, 'the first upload to be in progress');
    const second = await postGenericMultipart(t.url, genericEvent(), wav);
    expect(second.status).toBe(503);
    expect(await second.json()).toMatchObject({ code: 'E_BUSY' });
    expect(second.headers.get('retry-after')).toBe('5');
    first.request.end(first.rest);
    const response = await first.response;
    expect(response.statusCode).toBe(202);
    response.resume();
    expect(await t.app.recordings.findBySource('generic', event.recordingId as string)).toMatchObject({ status: 'stored' });
    expect(spoolFiles()).toEqual([]);
  });

  it('an upload larger than the spool budget is refused with 503 E_BUSY and its spool file removed', async () => {
    const big = makeWav({ seconds: 5, frequency: 440 });
    const response = await postGenericMultipart(t.url, genericEvent(), big);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: 'E_BUSY' });
    await eventually(async () => spoolFiles().length === 0 && openSpoolFds().length === 0, 5000, 'the spool to be cleaned up');
    expect((await postGenericMultipart(t.url, genericEvent(), wav)).status).toBe(202);
  });
});
