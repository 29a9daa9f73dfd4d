import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { exportKeys, readEscrow, restoreKeys } from '../../src/crypto/key-escrow';
import { readKeyFolder } from '../../src/crypto/key-files';
import { LocalMasterKey, RsaMasterKey } from '../../src/crypto/keyring';
import { tempDir } from '../helpers/temp';

/**
 * The PKCS#12 escrow format. Most cases use a low iteration count to stay fast; one checks the
 * production default. Readers other than ours (node-forge's own PKCS#12 reader, the openssl and
 * keytool programs when installed) must read what we write.
 */

const PASSPHRASE = 'correct horse battery staple';
const FAST = { iterations: 1000 };

function localKey(): LocalMasterKey {
  return new LocalMasterKey(`lk_20261121_${crypto.randomBytes(4).toString('hex')}`, crypto.randomBytes(32), new Date('2026-11-21T00:00:00Z'));
}

function rsaKey(): RsaMasterKey {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return new RsaMasterKey(`rk_20261121_${crypto.randomBytes(4).toString('hex')}`, publicKey, privateKey, new Date('2026-11-21T00:00:00Z'));
}

const hasProgram = (name: string): boolean => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

describe('PKCS#12 key escrow', () => {
  const local = localKey();
  const rsa = rsaKey();
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('callvault-escrow')));
  afterEach(() => cleanup());

  it('round-trips a local key and an RSA key, ids and all', () => {
    const file = exportKeys([local, rsa], PASSPHRASE, FAST);
    const [a, b] = readEscrow(file, PASSPHRASE);
    expect(a).toBeInstanceOf(LocalMasterKey);
    expect(a!.id).toBe(local.id);
    expect((a as LocalMasterKey).exportSecret().equals(local.exportSecret())).toBe(true);
    expect(b).toBeInstanceOf(RsaMasterKey);
    expect(b!.id).toBe(rsa.id);
    // The restored RSA key unwraps what the original wrapped.
    const dataKey = crypto.randomBytes(32);
    expect(b!.unwrap(rsa.wrap(dataKey)).equals(dataKey)).toBe(true);
    expect(a!.unwrap(local.wrap(dataKey)).equals(dataKey)).toBe(true);
  });

  it('refuses a wrong passphrase and a tampered file with E_ESCROW_PASSPHRASE, and a file that is not PKCS#12 with E_ESCROW_FORMAT', () => {
    const file = exportKeys([local], PASSPHRASE, FAST);
    expect(() => readEscrow(file, 'correct horse battery stapler')).toThrow(expect.objectContaining({ code: 'E_ESCROW_PASSPHRASE', message: expect.stringMatching(/wrong passphrase/) }));
    const tampered = Buffer.from(file);
    tampered[Math.floor(tampered.length / 2)]! ^= 0x01;
    expect(() => readEscrow(tampered, PASSPHRASE)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^E_ESCROW_(PASSPHRASE|FORMAT)$/) }));
    expect(() => readEscrow(Buffer.from('-----BEGIN PRIVATE KEY-----\nnot a p12\n'), PASSPHRASE)).toThrow(expect.objectContaining({ code: 'E_ESCROW_FORMAT' }));
    expect(() => readEscrow(file.subarray(0, file.length - 10), PASSPHRASE)).toThrow(expect.objectContaining({ code: 'E_ESCROW_FORMAT' }));
  });

  it('refuses a short passphrase and a public-only RSA key', () => {
    expect(() => exportKeys([local], 'short', FAST)).toThrow(expect.objectContaining({ code: 'E_VALIDATION' }));
    const publicOnly = new RsaMasterKey(rsa.id, rsa.exportPublicKey(), null);
    expect(() => exportKeys([publicOnly], PASSPHRASE, FAST)).toThrow(expect.objectContaining({ code: 'E_KEY_PRIVATE_MISSING' }));
  });

  it('accepts a passphrase outside ASCII', () => {
    const passphrase = 'größere Schlüssel für Ärzte ✓';
    const [back] = readEscrow(exportKeys([local], passphrase, FAST), passphrase);
    expect((back as LocalMasterKey).exportSecret().equals(local.exportSecret())).toBe(true);
    expect(() => readEscrow(exportKeys([local], passphrase, FAST), 'grossere Schlussel fur Arzte ✓')).toThrow(expect.objectContaining({ code: 'E_ESCROW_PASSPHRASE' }));
  });

  it('node-forge\'s own PKCS#12 reader opens the RSA export (an implementation other than ours)', () => {
    const file = exportKeys([rsa], PASSPHRASE, FAST);
    const pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(file.toString('binary')), PASSPHRASE);
    const bags = pfx.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!]!;
    expect(bags).toHaveLength(1);
    expect(bags[0]!.attributes.friendlyName).toEqual([rsa.id]);
    const pem = forge.pki.privateKeyToPem(bags[0]!.key!);
    expect(crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' }).equals(rsa.exportPublicKey().export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  (hasProgram('openssl') ? it : it.skip)('openssl pkcs12 reads the RSA private key and lists the secret bag', () => {
    const file = path.join(dir, 'escrow.p12');
    fs.writeFileSync(file, exportKeys([local, rsa], PASSPHRASE, FAST));
    const out = spawnSync('openssl', ['pkcs12', '-info', '-in', file, '-nocerts', '-nodes', '-passin', `pass:${PASSPHRASE}`], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    const pem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(out.stdout)![0];
    expect(crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' }).equals(rsa.exportPublicKey().export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(`${out.stdout}${out.stderr}`).toMatch(/Secret bag/);
    expect(out.stdout).toContain(local.id);
    const wrong = spawnSync('openssl', ['pkcs12', '-in', file, '-nocerts', '-nodes', '-passin', 'pass:wrong'], { encoding: 'utf8' });
    expect(wrong.status).not.toBe(0);
  });

  (hasProgram('keytool') ? it : it.skip)('Java keytool sees the local key as a SecretKeyEntry, and we read a secret key keytool made', () => {
    const file = path.join(dir, 'escrow.p12');
    fs.writeFileSync(file, exportKeys([local], PASSPHRASE, FAST));
    const list = spawnSync('keytool', ['-list', '-v', '-storetype', 'pkcs12', '-keystore', file, '-storepass', PASSPHRASE], { encoding: 'utf8' });
    expect(list.stdout).toContain(`Alias name: ${local.id}`);
    expect(list.stdout).toMatch(/Entry type: SecretKeyEntry/);
    const made = path.join(dir, 'java.p12');
    const generated = spawnSync('keytool', ['-genseckey', '-alias', 'lk_20261122_0000abcd', '-keyalg', 'AES', '-keysize', '256', '-storetype', 'pkcs12', '-keystore', made, '-storepass', PASSPHRASE], { encoding: 'utf8' });
    expect(generated.status).toBe(0);
    const [key] = readEscrow(fs.readFileSync(made), PASSPHRASE);
    expect(key).toMatchObject({ id: 'lk_20261122_0000abcd', kind: 'local' });
  }, 30_000);

  it('restores into a key folder with mode 0600, makes the first key current in an empty folder, and refuses a different key with the same id', () => {
    const keys = readEscrow(exportKeys([local, rsa], PASSPHRASE, FAST), PASSPHRASE);
    const result = restoreKeys(dir, keys);
    expect(result).toEqual({ restored: [local.id, rsa.id], present: [], current: local.id });
    expect(fs.statSync(path.join(dir, `${local.id}.key.json`)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, `${rsa.id}.private.pem`)).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'current'), 'utf8').trim()).toBe(local.id);
    expect(readKeyFolder(dir).map((key) => key.id).sort()).toEqual([local.id, rsa.id].sort());
    // Again: nothing to do, and the current key stays.
    expect(restoreKeys(dir, keys)).toEqual({ restored: [], present: [local.id, rsa.id], current: null });
    const impostor = new LocalMasterKey(local.id, crypto.randomBytes(32));
    expect(() => restoreKeys(dir, [impostor])).toThrow(expect.objectContaining({ code: 'E_KEY_FILE', message: expect.stringMatching(/different key/) }));
  });
});
