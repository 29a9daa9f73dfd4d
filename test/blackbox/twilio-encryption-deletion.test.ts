import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { StorageAdapter } from '../../storage-adapters/types';
import { describeEachBackend } from '../helpers/backends';
import { startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio';
import { objectKeys, readAudio, waitForJob, waitForRecording } from '../helpers/inspect';
import { postTwilio, twilioCallback } from '../helpers/senders';
import { eventually, startTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/**
 * Encrypts a recording exactly as Twilio's Voice Recording Encryption does: a random 256-bit
 * content key, AES-256-GCM over the WAV with the 16-byte tag appended, the key wrapped with
 * RSA-OAEP (SHA-256, MGF1-SHA-256) under the practice's public key.
 */
function twilioEncrypt(wav: Buffer, publicKey: crypto.KeyObject, publicKeySid: string): { body: Buffer; details: string } {
  const cek = crypto.randomBytes(32);
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', cek, iv);
  const body = Buffer.concat([cipher.update(wav), cipher.final(), cipher.getAuthTag()]);
  const encryptedCek = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  return { body, details: JSON.stringify({ type: 'rsa-aes', public_key_sid: publicKeySid, encrypted_cek: encryptedCek.toString('base64'), iv: iv.toString('base64') }) };
}

describeEachBackend('Twilio Voice Recording Encryption and deletion at source', (backend) => {
  let fake: FakeTwilio;
  let t: TestApp;
  let keys: { dir: string; cleanup: () => void };
  const publicKeySid = `CR${crypto.randomBytes(16).toString('hex')}`;
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const wav = makeWav({ seconds: 2, frequency: 700 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');

  beforeAll(async () => {
    fake = await startFakeTwilio();
    keys = tempDir('callvault-twilio-keys');
    fs.writeFileSync(path.join(keys.dir, `${publicKeySid}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    t = await startTestApp({
      backend,
      env: { CALLVAULT_TWILIO_API_BASE: fake.url, CALLVAULT_TWILIO_ENCRYPTION_KEYS_DIR: keys.dir, CALLVAULT_TWILIO_DELETE_AT_SOURCE: 'true', CALLVAULT_JOB_MAX_ATTEMPTS: '4' },
    });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
    keys?.cleanup();
  });
  beforeEach(() => {
    fake.mediaOverride = null;
  });

  function encryptedCallback(sid = publicKeySid, mutate?: (body: Buffer) => Buffer): Record<string, string> {
    const callback = twilioCallback();
    callback.RecordingUrl = fake.recordingUrl(callback.RecordingSid!);
    const { body, details } = twilioEncrypt(wav, publicKey, sid);
    fake.recordings.set(callback.RecordingSid!, mutate ? mutate(body) : body);
    fake.calls.set(callback.CallSid!, { from: '+447700900123', to: '+441632960001', direction: 'inbound' });
    callback.EncryptionDetails = details;
    return callback;
  }

  it('an encrypted recording is decrypted while streaming into our own container, then deleted at Twilio once', async () => {
    const callback = encryptedCallback();
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    expect(recording).toMatchObject({ status: 'stored', sha256: wavSha, plaintextSize: wav.length, format: 'wav' });
    expect(recording.metadata).toMatchObject({ twilioEncryptionKey: publicKeySid });
    expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
    await eventually(async () => fake.deleted.includes(callback.RecordingSid!));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.deleted.filter((sid) => sid === callback.RecordingSid)).toHaveLength(1);
    const job = await t.app.jobs.findBySource('twilio', callback.RecordingSid!, 'source-delete');
    expect(job).toMatchObject({ status: 'succeeded', kind: 'delete', recordingId: recording.id });
  });

  it('an unknown public key fails clearly, downloads nothing, and deletes nothing', async () => {
    const otherSid = `CR${crypto.randomBytes(16).toString('hex')}`;
    const callback = encryptedCallback(otherSid);
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const job = await waitForJob(t.app, 'twilio', callback.RecordingSid!, ['failed']);
    expect(job.lastErrorCode).toBe('E_PROVIDER_KEY_UNKNOWN');
    expect(job.lastError).toContain(otherSid);
    expect(fake.server.requests.some((r) => r.url.endsWith(`${callback.RecordingSid}.wav`))).toBe(false);
    expect(fake.deleted).not.toContain(callback.RecordingSid);
  });

  it('a tampered encrypted download fails authentication: nothing stored, nothing deleted', async () => {
    const before = await objectKeys(t.app);
    const callback = encryptedCallback(publicKeySid, (body) => {
      const copy = Buffer.from(body);
      copy[100]! ^= 0x01;
      return copy;
    });
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const job = await eventually(async () => {
      const current = await t.app.jobs.findBySource('twilio', callback.RecordingSid!);
      return current?.lastErrorCode ? current : undefined;
    }, 20_000, 'the download to fail');
    expect(job.lastErrorCode).toBe('E_CRYPTO_AUTH');
    expect(job.status).not.toBe('succeeded');
    expect(await t.app.recordings.findBySource('twilio', callback.RecordingSid!)).toBeNull();
    expect(await objectKeys(t.app)).toEqual(before);
    expect(fake.deleted).not.toContain(callback.RecordingSid);
  });

  it('a failed deletion is retried and visible, and the stored recording is untouched', async () => {
    fake.deleteFailures = 2;
    const callback = encryptedCallback();
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const recording = await waitForRecording(t.app, 'twilio', callback.RecordingSid!);
    const failing = await eventually(async () => {
      const job = await t.app.jobs.findBySource('twilio', callback.RecordingSid!, 'source-delete');
      return job && job.attempts >= 1 && job.lastErrorCode ? job : undefined;
    });
    expect(failing.lastErrorCode).toBe('E_FETCH_HTTP_STATUS');
    await eventually(async () => (await t.app.jobs.findBySource('twilio', callback.RecordingSid!, 'source-delete'))?.status === 'succeeded');
    expect(fake.deleted.filter((sid) => sid === callback.RecordingSid)).toHaveLength(1);
    expect((await readAudio(t.app, recording)).sha256).toBe(wavSha);
  });
});

/** Reads come back with one byte flipped: what storage returns is not what was written. */
function corruptingReads(adapter: StorageAdapter): StorageAdapter {
  return {
    name: adapter.name,
    put: (key, body, options) => adapter.put(key, body, options),
    head: (key) => adapter.head(key),
    delete: (key) => adapter.delete(key),
    deleteMany: (keys) => adapter.deleteMany(keys),
    list: (prefix) => adapter.list(prefix),
    close: () => adapter.close(),
    async get(key, range) {
      const original = await adapter.get(key, range);
      let flipped = false;
      return Readable.from(
        (async function* () {
          for await (const chunk of original as AsyncIterable<Buffer>) {
            const copy = Buffer.from(chunk);
            if (!flipped && copy.length > 100) {
              copy[copy.length - 50]! ^= 0xff;
              flipped = true;
            }
            yield copy;
          }
        })(),
      );
    },
  };
}

describe('deletion at source never happens when verification fails', () => {
  let fake: FakeTwilio;
  let t: TestApp;

  beforeAll(async () => {
    fake = await startFakeTwilio();
    t = await startTestApp({ env: { CALLVAULT_TWILIO_API_BASE: fake.url, CALLVAULT_TWILIO_DELETE_AT_SOURCE: 'true', CALLVAULT_JOB_MAX_ATTEMPTS: '2' }, wrapAdapter: corruptingReads });
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('storage that returns other bytes than it was given: the job fails, no recording, no DELETE at Twilio', async () => {
    const callback = twilioCallback();
    callback.RecordingUrl = fake.recordingUrl(callback.RecordingSid!);
    fake.recordings.set(callback.RecordingSid!, makeWav({ seconds: 3 }));
    expect((await postTwilio(t.url, callback)).status).toBe(202);
    const job = await waitForJob(t.app, 'twilio', callback.RecordingSid!, ['failed']);
    expect(['E_CRYPTO_AUTH', 'E_INTEGRITY']).toContain(job.lastErrorCode);
    expect(await t.app.recordings.findBySource('twilio', callback.RecordingSid!)).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.deleted).toEqual([]);
    expect(fake.server.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
    expect(await t.app.jobs.findBySource('twilio', callback.RecordingSid!, 'source-delete')).toBeNull();
  });

});
