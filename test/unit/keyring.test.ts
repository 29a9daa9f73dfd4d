import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ManualClock } from '../../src/clock';
import { generateLocalKey, generateRsaKey, loadKeyring, setCurrentKey } from '../../src/crypto/key-files';
import { Keyring, LocalMasterKey } from '../../src/crypto/keyring';
import { createLogger, LogCapture } from '../../src/log/logger';
import { ObjectStore } from '../../src/storage/object-store';
import { RecordingVault } from '../../src/vault/recording-vault';
import { LocalAdapter } from '../../storage-adapters/local';
import { tempDir } from '../helpers/temp';

const clock = new ManualClock('2026-11-21T10:00:00Z');

describe('local master keys', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('callvault-keys')));
  afterEach(() => cleanup());

  it('first start generates a key file (0600), makes it current, and says where it is and to back it up', () => {
    const logs = new LogCapture();
    const keyring = loadKeyring({ dir, kind: 'local', autoGenerate: true, clock, logger: createLogger({ sink: logs }) });
    const file = path.join(dir, `${keyring.currentKeyId}.key.json`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'current'), 'utf8').trim()).toBe(keyring.currentKeyId);
    const line = logs.entries().find((entry) => entry.event === 'keys.generated')!;
    expect(line.keyFolder).toBe(dir);
    expect(String(line.message)).toMatch(/back up/);
    // The key itself is never logged.
    const secret = JSON.parse(fs.readFileSync(file, 'utf8')).key as string;
    expect(logs.text()).not.toContain(secret);
    // The next start loads the same key instead of making another.
    expect(loadKeyring({ dir, kind: 'local', autoGenerate: true, clock, logger: createLogger({ sink: logs }) }).currentKeyId).toBe(keyring.currentKeyId);
  });

  it('refuses a key file others can read', () => {
    const key = generateLocalKey(dir, clock);
    fs.chmodSync(path.join(dir, `${key.id}.key.json`), 0o644);
    expect(() => loadKeyring({ dir, kind: 'local', autoGenerate: true, clock, logger: createLogger({ sink: new LogCapture() }) })).toThrow(
      expect.objectContaining({ code: 'E_KEY_FILE', message: expect.stringMatching(/chmod 600/) }),
    );
  });

  it('without auto-generation and without keys, start fails with what to run', () => {
    expect(() => loadKeyring({ dir, kind: 'local', autoGenerate: false, clock, logger: createLogger({ sink: new LogCapture() }) })).toThrow(
      expect.objectContaining({ code: 'E_KEY_FILE', message: expect.stringMatching(/keys generate/) }),
    );
  });

  it('wraps and unwraps; another key, a tampered wrap or a wrap relabelled as another key id fail', () => {
    const a = new LocalMasterKey('lk_20260101_aaaaaaaa', crypto.randomBytes(32));
    const b = new LocalMasterKey('lk_20260101_bbbbbbbb', crypto.randomBytes(32));
    const dek = crypto.randomBytes(32);
    const wrapped = a.wrap(dek);
    expect(a.unwrap(wrapped).equals(dek)).toBe(true);
    expect(() => b.unwrap(wrapped)).toThrow(expect.objectContaining({ code: 'E_KEY_UNWRAP' }));
    const tampered = Buffer.from(wrapped);
    tampered[20]! ^= 1;
    expect(() => a.unwrap(tampered)).toThrow(expect.objectContaining({ code: 'E_KEY_UNWRAP' }));
    const sameSecretOtherId = new LocalMasterKey('lk_20260101_cccccccc', (a as unknown as { secret: Buffer }).secret);
    expect(() => sameSecretOtherId.unwrap(wrapped)).toThrow(expect.objectContaining({ code: 'E_KEY_UNWRAP' }));
  });

  it('keeps old keys for unwrapping after a new one becomes current', () => {
    const old = generateLocalKey(dir, clock);
    setCurrentKey(dir, old.id);
    const first = loadKeyring({ dir, kind: 'local', autoGenerate: false, clock, logger: createLogger({ sink: new LogCapture() }) });
    const dek = crypto.randomBytes(32);
    const wrapped = first.wrap(dek);
    const fresh = generateLocalKey(dir, clock);
    setCurrentKey(dir, fresh.id);
    const second = loadKeyring({ dir, kind: 'local', autoGenerate: false, clock, logger: createLogger({ sink: new LogCapture() }) });
    expect(second.currentKeyId).toBe(fresh.id);
    expect(second.unwrap(wrapped.keyId, wrapped.wrappedKey).equals(dek)).toBe(true);
    expect(() => second.unwrap('lk_20260101_deadbeef', wrapped.wrappedKey)).toThrow(expect.objectContaining({ code: 'E_KEY_NOT_FOUND' }));
  });

  it('a running keyring follows the folder: a new key is found when named, a new current key on refresh; a half-copied folder keeps what it has', () => {
    const logs = new LogCapture();
    const keyring = loadKeyring({ dir, kind: 'local', autoGenerate: true, clock, logger: createLogger({ sink: logs }) });
    const first = keyring.currentKeyId;
    // Another process (keys rotate) adds a key and wraps a data key under it.
    const added = generateLocalKey(dir, clock);
    const dataKey = crypto.randomBytes(32);
    const wrapped = added.wrap(dataKey);
    expect(keyring.unwrap(added.id, wrapped).equals(dataKey)).toBe(true);
    expect(keyring.currentKeyId).toBe(first);

    // `current` names a key whose file has not arrived yet: logged, and the keyring carries on as it was.
    fs.writeFileSync(path.join(dir, 'current'), 'lk_20261121_00000000\n');
    keyring.refresh();
    expect(keyring.currentKeyId).toBe(first);
    expect(logs.entries().some((entry) => entry.event === 'keys.refresh_failed')).toBe(true);

    setCurrentKey(dir, added.id);
    keyring.refresh();
    expect(keyring.currentKeyId).toBe(added.id);
    expect(keyring.wrap(dataKey).keyId).toBe(added.id);
    expect(logs.entries().find((entry) => entry.event === 'keys.current_changed')).toMatchObject({ keyId: added.id, previousKeyId: first });
    // No key is dropped, and no secret reaches the logs.
    expect(keyring.get(first)).toBeDefined();
    expect(logs.text()).not.toContain(added.exportSecret().toString('base64'));
  });

  it('a recording written under the wrong master key cannot be read: wrong key is a typed error, never audio', async () => {
    const { dir: objects, cleanup: done } = tempDir('callvault-objects');
    try {
      const store = new ObjectStore(new LocalAdapter({ root: objects }));
      const key = new LocalMasterKey('lk_20260101_aaaaaaaa', crypto.randomBytes(32));
      const vault = new RecordingVault(store, new Keyring([key], key.id), 4096);
      const sealed = await vault.writeVerified('recordings/x.cv', Readable.from([crypto.randomBytes(10_000)]));
      const impostor = new LocalMasterKey('lk_20260101_aaaaaaaa', crypto.randomBytes(32));
      const wrongVault = new RecordingVault(store, new Keyring([impostor], impostor.id), 4096);
      await expect(wrongVault.open(sealed)).rejects.toMatchObject({ code: 'E_KEY_UNWRAP' });
      // A data key from another recording opens nothing either.
      const other = await vault.writeVerified('recordings/y.cv', Readable.from([crypto.randomBytes(5000)]));
      const crossed = { ...sealed, wrappedKey: other.wrappedKey };
      const stream = await vault.open(crossed);
      await expect(new Promise((resolve, reject) => stream.on('error', reject).on('end', resolve).resume())).rejects.toMatchObject({ code: 'E_CRYPTO_AUTH' });
    } finally {
      done();
    }
  });
});

describe('rsa master keys', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('callvault-rsa')));
  afterEach(() => cleanup());

  it('a node holding only the public key stores and verifies a recording but cannot read it back; with the private key it can', async () => {
    const full = path.join(dir, 'full');
    const ingestOnly = path.join(dir, 'ingest-only');
    const key = generateRsaKey(full, clock, 2048);
    setCurrentKey(full, key.id);
    fs.mkdirSync(ingestOnly, { mode: 0o700 });
    fs.copyFileSync(path.join(full, `${key.id}.public.pem`), path.join(ingestOnly, `${key.id}.public.pem`));
    fs.copyFileSync(path.join(full, 'current'), path.join(ingestOnly, 'current'));
    expect(fs.statSync(path.join(full, `${key.id}.private.pem`)).mode & 0o777).toBe(0o600);

    const logger = createLogger({ sink: new LogCapture() });
    const store = new ObjectStore(new LocalAdapter({ root: path.join(dir, 'objects') }));
    const publicOnly = loadKeyring({ dir: ingestOnly, kind: 'rsa', autoGenerate: false, clock, logger });
    expect(publicOnly.status()).toEqual([expect.objectContaining({ id: key.id, kind: 'rsa', canUnwrap: false, current: true })]);
    const audio = crypto.randomBytes(100_000);
    const sealed = await new RecordingVault(store, publicOnly, 8192).writeVerified('recordings/r.cv', Readable.from([audio]));
    await expect(new RecordingVault(store, publicOnly, 8192).open(sealed)).rejects.toMatchObject({ code: 'E_KEY_PRIVATE_MISSING' });

    const withPrivate = loadKeyring({ dir: full, kind: 'rsa', autoGenerate: false, clock, logger });
    const parts: Buffer[] = [];
    for await (const part of await new RecordingVault(store, withPrivate, 8192).open(sealed)) parts.push(part as Buffer);
    expect(Buffer.concat(parts).equals(audio)).toBe(true);
  });

  it('rsa mode without any key refuses to start and says how to make one', () => {
    expect(() => loadKeyring({ dir, kind: 'rsa', autoGenerate: true, clock, logger: createLogger({ sink: new LogCapture() }) })).toThrow(
      expect.objectContaining({ code: 'E_KEY_FILE', message: expect.stringMatching(/keys generate --kind rsa/) }),
    );
  });

  it('refuses a private key that does not belong to the public key beside it', () => {
    const a = generateRsaKey(dir, clock, 2048);
    const { dir: other, cleanup: done } = tempDir('callvault-rsa2');
    try {
      const b = generateRsaKey(other, clock, 2048);
      fs.copyFileSync(path.join(other, `${b.id}.private.pem`), path.join(dir, `${a.id}.private.pem`));
      expect(() => loadKeyring({ dir, kind: 'rsa', autoGenerate: false, clock, logger: createLogger({ sink: new LogCapture() }) })).toThrow(
        expect.objectContaining({ code: 'E_KEY_FILE', message: expect.stringMatching(/does not belong/) }),
      );
    } finally {
      done();
    }
  });
});
