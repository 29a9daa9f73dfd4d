import crypto from 'node:crypto';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { postTelnyx, startFakeTelnyx, type FakeTelnyx } from '../helpers/fake-telnyx';
import { objectKeys, waitForJob } from '../helpers/inspect';
import { genericEvent, postGeneric } from '../helpers/senders';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

/**
 * Audio URLs come from webhooks; a forged or careless one must not make callvault fetch from
 * this machine, its network or the cloud metadata service. Each attempt ends as a failed job
 * with the reason, and the target sees no request.
 */
describe('SSRF: audio is fetched only from allowed hosts and addresses', () => {
  let pbx: FakeServer;
  let closed: TestApp;
  let lan: TestApp;

  beforeAll(async () => {
    pbx = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(makeWav({ seconds: 1 })));
    closed = await startTestApp({ env: { CALLVAULT_FETCH_ALLOW_HOSTS: '' } });
    lan = await startTestApp({ env: { CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await closed?.close();
    await lan?.close();
    await pbx?.close();
  });
  beforeEach(() => {
    pbx.requests.length = 0;
    pbx.handler = (_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(makeWav({ seconds: 1 }));
  });

  it.each([
    ['127.0.0.1 when it is not listed', () => `${pbx.url}/rec.wav`],
    ['localhost when it is not listed', () => `${pbx.url.replace('127.0.0.1', 'localhost')}/rec.wav`],
    ['the metadata service', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['a hostname not on the list', () => 'https://recordings.attacker.example/r.wav'],
  ])('%s: failed job, nothing fetched', async (_name, url) => {
    const event = genericEvent({ recordingUrl: url() });
    expect((await postGeneric(closed.url, event)).status).toBe(202);
    const job = await waitForJob(closed.app, 'generic', event.recordingId as string, ['failed']);
    expect(job.lastErrorCode).toBe('E_FETCH_HOST_NOT_ALLOWED');
    expect(job.attempts).toBe(1);
    expect(pbx.requests).toHaveLength(0);
    expect(await objectKeys(closed.app)).toEqual([]);
  });

  it('a file: URL is refused at the webhook', async () => {
    const response = await postGeneric(closed.url, genericEvent({ recordingUrl: 'file:///etc/passwd' }));
    expect(response.status).toBe(400);
  });

  it('a listed PBX redirecting to a private address: failed job, the redirect not followed', async () => {
    const landing = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav' }).end(makeWav({ seconds: 1 })));
    try {
      for (const target of ['http://10.20.30.40/rec.wav', `${landing.url.replace('127.0.0.1', 'localhost')}/rec.wav`]) {
        pbx.handler = (_req, res) => res.writeHead(302, { location: target }).end();
        const event = genericEvent({ recordingUrl: `${pbx.url}/redirect` });
        expect((await postGeneric(lan.url, event)).status).toBe(202);
        const job = await waitForJob(lan.app, 'generic', event.recordingId as string, ['failed']);
        expect(job.lastErrorCode).toBe('E_FETCH_HOST_NOT_ALLOWED');
      }
      expect(landing.requests).toHaveLength(0);
    } finally {
      await landing.close();
    }
  });
});

describe('SSRF: a provider host that resolves to this machine is refused unless listed', () => {
  let fake: FakeTelnyx;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeTelnyx();
    const viaName = fake.url.replace('127.0.0.1', 'localhost');
    // localhost is Telnyx's API host here, so it is an allowed host, but not one the operator listed.
    t = await startTestApp({ env: { CALLVAULT_FETCH_ALLOW_HOSTS: '', CALLVAULT_TELNYX_PUBLIC_KEY: fake.publicKeyBase64, CALLVAULT_TELNYX_API_BASE: viaName } });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('the download is refused by address, and the server sees no request', async () => {
    const id = crypto.randomUUID();
    fake.recordings.set(id, makeWav({ seconds: 1 }));
    const event = fake.savedEvent(id, { recording_urls: { wav: `${fake.url.replace('127.0.0.1', 'localhost')}/telephony-recorder-prod/${id}.wav` } });
    expect((await postTelnyx(t.url, fake, event)).status).toBe(202);
    const job = await waitForJob(t.app, 'telnyx', id, ['failed']);
    expect(job.lastErrorCode).toBe('E_FETCH_ADDRESS_BLOCKED');
    expect(fake.server.requests.filter((r) => r.url.includes(id))).toHaveLength(0);
  });
});
