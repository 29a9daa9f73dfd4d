import fs from 'node:fs';
import path from 'node:path';
import type { Recording } from '../../src/db/recordings';
import { describeEachBackend } from '../helpers/backends';
import { runCli } from '../helpers/child';
import { readAudio } from '../helpers/inspect';
import { storeRecordings } from '../helpers/recordings';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * `callvault keys rotate` against a real index: interrupted (a run limited to one batch, then a
 * process killed inside a batch's transaction) and resumed, every recording stays decryptable
 * and ends under the new key; the old key is reported as needed until nothing refers to it.
 */

interface KeyStatusJson {
  current: string;
  keys: Array<{ id: string; current: boolean; recordings: number; neededByRecordings: boolean }>;
  rotationPending: number;
}

describeEachBackend('keys rotate', (backend) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp({ backend, workers: false });
  });
  afterEach(async () => t?.close());

  const status = async (): Promise<KeyStatusJson> => {
    const result = await runCli(['keys', 'status', '--json'], t.env);
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as KeyStatusJson;
  };
  const countUnder = (s: KeyStatusJson, id: string): number => s.keys.find((key) => key.id === id)?.recordings ?? 0;
  const verifyAll = async (): Promise<void> => {
    const result = await runCli(['verify', '--all'], t.env);
    expect(result.stdout).toMatch(/no problems found/);
    expect(result.code).toBe(0);
  };

  it('interrupted twice (stopped after one batch, then killed mid-batch) and resumed: every recording decrypts throughout', async () => {
    const recordings: Recording[] = await storeRecordings(t.app, 5);
    const oldKey = t.app.keyring.currentKeyId;
    expect(recordings.every((recording) => recording.keyId === oldKey)).toBe(true);

    // 1. A run limited to one batch of two.
    const first = await runCli(['keys', 'rotate', '--batch-size', '2', '--max-batches', '1'], t.env);
    expect(first.stdout).toMatch(/generated local master key (lk_\w+); it is now current/);
    expect(first.stdout).toMatch(/stopped after 1 batch\(es\) as asked: 3 recording\(s\) still under older keys/);
    expect(first.code).toBe(0);
    const newKey = /generated local master key (lk_\w+)/.exec(first.stdout)![1]!;
    let s = await status();
    expect(s.current).toBe(newKey);
    expect(countUnder(s, newKey)).toBe(2);
    expect(countUnder(s, oldKey)).toBe(3);
    expect(s.rotationPending).toBe(3);
    expect(s.keys.find((key) => key.id === oldKey)!.neededByRecordings).toBe(true);
    expect((await runCli(['keys', 'status'], t.env)).stdout).toMatch(new RegExp(`${oldKey}.*3 recordings.*still needed`));
    await verifyAll();

    // 2. Killed inside the second batch's transaction, after its updates, before its commit.
    const killed = await runCli(['keys', 'rotate', '--batch-size', '1'], { ...t.env, CALLVAULT_FAILPOINT: 'keys.rotate.before-commit' });
    expect(killed.code).toBeNull();
    expect(killed.stdout).toMatch(new RegExp(`resuming the rotation to ${newKey} .*: 3 recording\\(s\\) still to re-wrap`));
    s = await status();
    // The first batch (one recording) committed; the killed one rolled back whole.
    expect(countUnder(s, newKey)).toBe(3);
    expect(countUnder(s, oldKey)).toBe(2);
    await verifyAll();

    // 3. Run again: it carries on under the same new key and finishes.
    const resumed = await runCli(['keys', 'rotate', '--batch-size', '2'], t.env);
    expect(resumed.stdout).toMatch(/resuming the rotation .*: 2 recording/);
    expect(resumed.stdout).toMatch(new RegExp(`every recording is now under ${newKey}`));
    expect(resumed.code).toBe(0);
    s = await status();
    expect(countUnder(s, newKey)).toBe(5);
    expect(countUnder(s, oldKey)).toBe(0);
    expect(s.rotationPending).toBe(0);
    expect((await runCli(['keys', 'status'], t.env)).stdout).toMatch(new RegExp(`${oldKey}.* 0 recordings.*no longer needed`));
    await verifyAll();

    // The audio objects were not rewritten: same keys, same ciphertext sizes.
    const after = await Promise.all(recordings.map((recording) => t.app.recordings.get(recording.id)));
    expect(after.map((recording) => [recording!.storageKey, recording!.ciphertextSize])).toEqual(recordings.map((recording) => [recording.storageKey, recording.ciphertextSize]));
    expect(after.every((recording) => recording!.keyId === newKey && !recording!.wrappedKey!.equals(recordings.find((r) => r.id === recording!.id)!.wrappedKey!))).toBe(true);

    // 4. A complete rotation starts a fresh key next time.
    const next = await runCli(['keys', 'rotate'], t.env);
    const newest = /generated local master key (lk_\w+)/.exec(next.stdout)![1]!;
    expect(newest).not.toBe(newKey);
    expect(countUnder(await status(), newest)).toBe(5);
    await verifyAll();
  });

  it('a recording whose master key is missing is reported, the others are rotated, the run exits 1, and the next run retries it under the same key', async () => {
    const [lost] = await storeRecordings(t.app, 3);
    await t.app.db.knex('recordings').where({ id: lost!.id }).update({ key_id: 'lk_20200101_deadbeef' });
    const result = await runCli(['keys', 'rotate'], t.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/re-wrapped 2 recording/);
    expect(result.stdout).toMatch(new RegExp(`FAILED ${lost!.id} \\(under lk_20200101_deadbeef\\): E_KEY_NOT_FOUND`));
    expect(result.stdout).toMatch(/1 recording\(s\) are still under older keys/);
    const again = await runCli(['keys', 'rotate'], t.env);
    expect(again.stdout).toMatch(/resuming the rotation/);
    expect(again.stdout).not.toMatch(/generated \w+ master key/);
    expect(again.code).toBe(1);
  });

  it('--current re-wraps under a key made current by "keys generate" (the multi-node order) without generating another', async () => {
    await storeRecordings(t.app, 2);
    const generated = await runCli(['keys', 'generate'], t.env);
    const key = /generated local master key (lk_\w+)/.exec(generated.stdout)![1]!;
    expect(generated.stdout).toMatch(/stay under their old keys until you run "callvault keys rotate --current"/);
    const result = await runCli(['keys', 'rotate', '--current'], t.env);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/generated \w+ master key/);
    expect(result.stdout).toMatch(new RegExp(`every recording is now under ${key}`));
  });

  it('a running service follows a rotation run beside it: re-wrapped recordings stay readable at once, and new ones go under the new key', async () => {
    const [before] = await storeRecordings(t.app, 2);
    const oldKey = t.app.keyring.currentKeyId;
    const result = await runCli(['keys', 'rotate'], t.env);
    expect(result.code).toBe(0);
    const newKey = /generated local master key (lk_\w+)/.exec(result.stdout)![1]!;
    // The service never loaded the new key; reading a recording now under it must not need a restart.
    const rewrapped = (await t.app.recordings.get(before!.id))!;
    expect(rewrapped.keyId).toBe(newKey);
    expect((await readAudio(t.app, rewrapped)).sha256).toBe(before!.sha256);
    // The periodic look at the key folder (once a minute) makes it current for new recordings.
    t.app.keyring.refresh();
    expect(t.app.keyring.currentKeyId).toBe(newKey);
    const [after] = await storeRecordings(t.app, 1);
    expect(after!.keyId).toBe(newKey);
    expect(t.app.keyring.get(oldKey)).toBeDefined();
  });

  it('--escrow writes a PKCS#12 copy of the new key (mode 0600) before re-wrapping, and it opens with the passphrase', async () => {
    await storeRecordings(t.app, 1);
    const escrow = path.join(t.dataDir, 'rotation-escrow.p12');
    const passphraseFile = path.join(t.dataDir, 'escrow-passphrase');
    fs.writeFileSync(passphraseFile, 'a passphrase for the practice safe\n', { mode: 0o600 });
    const result = await runCli(['keys', 'rotate', '--escrow', escrow, '--passphrase-file', passphraseFile], t.env);
    expect(result.code).toBe(0);
    const newKey = /generated local master key (lk_\w+)/.exec(result.stdout)![1]!;
    expect(result.stdout).toMatch(new RegExp(`escrow copy of ${newKey} written to`));
    expect(result.stderr).not.toMatch(/exists only in/);
    expect(fs.statSync(escrow).mode & 0o777).toBe(0o600);
    // Both the rotation and the escrow copy are in the audit trail, with who ran them.
    const rotated = (await t.app.access.audit.list({ action: 'key.rotated', limit: 5 })).items[0];
    expect(rotated).toMatchObject({ actor: expect.stringMatching(/^cli:/), details: { to: newKey, rewrapped: 1, escrowed: true } });
    const check = await runCli(['keys', 'import', escrow, '--dry-run', '--passphrase-file', passphraseFile], t.env);
    expect(check.stdout).toMatch(/opens with this passphrase and holds 1 key/);
    expect(check.stdout).toContain(newKey);
    // Never over an existing file, and nothing generated when refused.
    const again = await runCli(['keys', 'rotate', '--escrow', escrow, '--passphrase-file', passphraseFile], t.env);
    expect(again.code).toBe(2);
    expect((await runCli(['keys', 'status', '--json'], t.env)).stdout).toContain(`"current": "${newKey}"`);
  });

  it('without --escrow, the run warns that the new key exists only in the key folder', async () => {
    const result = await runCli(['keys', 'rotate'], t.env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: the new key lk_\w+ exists only in/);
  });
});
