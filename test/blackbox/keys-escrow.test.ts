import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { DEFAULT_ITERATIONS } from '../../src/crypto/pkcs12';
import { runCli } from '../helpers/child';
import { storeRecordings } from '../helpers/recordings';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';

/**
 * Key escrow end to end: `keys export --pkcs12` on the running installation, then a fresh data
 * folder (a replacement server with the database and the storage restored, but no keys) that
 * can read nothing until `keys import` restores the escrowed key, and can read everything after.
 */

const PASSPHRASE = 'escrow passphrase for the practice safe';

describe.each(['local', 'rsa'] as const)('keys export / import (%s master key)', (kind) => {
  let t: TestApp;
  let fresh: { dir: string; cleanup: () => void };
  let escrow: string;
  let passphraseFile: string;

  beforeAll(async () => {
    fresh = tempDir('callvault-fresh');
    let env: Record<string, string> = {};
    if (kind === 'rsa') {
      // RSA keys are never generated on start: make the pair first, as an operator would.
      const keysDir = path.join(fresh.dir, 'rsa-keys');
      const generated = await runCli(['keys', 'generate', '--kind', 'rsa', '--bits', '2048'], { CALLVAULT_KEYS_DIR: keysDir, CALLVAULT_KEK: 'rsa' });
      expect(generated.code).toBe(0);
      env = { CALLVAULT_KEK: 'rsa', CALLVAULT_KEYS_DIR: keysDir };
    }
    t = await startTestApp({ workers: false, env });
    escrow = path.join(fresh.dir, 'escrow.p12');
    passphraseFile = path.join(fresh.dir, 'passphrase');
    fs.writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await t?.close();
    fresh?.cleanup();
  });

  it('a restore on a fresh data folder decrypts the existing recordings; a wrong passphrase is refused', async () => {
    const recordings = await storeRecordings(t.app, 3);

    const exported = await runCli(['keys', 'export', '--pkcs12', escrow, '--passphrase-file', passphraseFile], t.env);
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain(t.app.keyring.currentKeyId);
    expect(fs.statSync(escrow).mode & 0o777).toBe(0o600);
    // The production work factor: the MAC (the cheapest passphrase check) is iterated as often as PBKDF2.
    const pfx = forge.asn1.fromDer(fs.readFileSync(escrow).toString('binary'));
    const macData = (pfx.value as forge.asn1.Asn1[])[2]!;
    expect(forge.asn1.derToInteger((macData.value as forge.asn1.Asn1[])[2]!.value as string)).toBe(DEFAULT_ITERATIONS);
    expect(DEFAULT_ITERATIONS).toBeGreaterThanOrEqual(600_000);
    // Never overwritten by accident.
    expect((await runCli(['keys', 'export', '--pkcs12', escrow, '--passphrase-file', passphraseFile], t.env)).code).toBe(2);

    // The replacement server: same database and storage, its own (empty) data and key folders.
    const serverB = path.join(fresh.dir, 'server-b');
    const envB: Record<string, string> = {
      ...t.env,
      CALLVAULT_DATA_DIR: serverB,
      CALLVAULT_KEYS_DIR: path.join(serverB, 'keys'),
      CALLVAULT_LOCAL_STORAGE_DIR: t.config.storage.localDir,
      CALLVAULT_KEYS_AUTO_GENERATE: 'false',
    };
    const before = await runCli(['verify', recordings[0]!.id], envB);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/E_KEY_FILE: no (RSA )?(master )?key in/);

    const wrong = await runCli(['keys', 'import', escrow], envB, 'not the passphrase at all\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/E_ESCROW_PASSPHRASE: wrong passphrase/);
    expect(fs.existsSync(path.join(serverB, 'keys')) ? fs.readdirSync(path.join(serverB, 'keys')) : []).toEqual([]);

    const check = await runCli(['keys', 'import', escrow, '--dry-run', '--passphrase-file', passphraseFile], envB);
    expect(check.stdout).toMatch(/opens with this passphrase and holds 1 key/);
    expect(fs.existsSync(path.join(serverB, 'keys')) ? fs.readdirSync(path.join(serverB, 'keys')) : []).toEqual([]);

    // Passphrase on standard input (not a terminal).
    const restored = await runCli(['keys', 'import', escrow], envB, `${PASSPHRASE}\n`);
    expect(restored.code).toBe(0);
    const keyId = t.app.keyring.currentKeyId;
    expect(restored.stdout).toContain(`restored ${keyId}`);
    expect(restored.stdout).toContain(`${keyId} is now the current key`);
    const secretFile = path.join(serverB, 'keys', kind === 'local' ? `${keyId}.key.json` : `${keyId}.private.pem`);
    expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);

    const after = await runCli(['verify', '--all'], envB);
    expect(after.stdout).toMatch(/checked 3 recording\(s\).*3 ok/);
    expect(after.code).toBe(0);
  });
});
