import fs from 'node:fs';
import path from 'node:path';
import { ACCESS_ENV, call, grant, json, login, RELEASE } from '../helpers/access';
import { runCli } from '../helpers/child';
import { ffprobe, parseCsv, sha256 } from '../helpers/media';
import { ingestRecording } from '../helpers/recordings';
import { startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

/**
 * The operator's commands, as real processes against the database a running service uses:
 * users (the first admin), export as a named user under the same grant and audit rules,
 * the release register as CSV.
 */

describe('access from the command line', () => {
  let t: TestApp;
  const PASSWORDS = { admin: 'first admin password 1', manager1: 'manager one password 1', iglead1: 'ig lead one password 1' };

  beforeAll(async () => {
    t = await startTestApp({ workers: false, env: ACCESS_ENV });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('users add makes the first admin with the password from standard input, never echoing it; bad input exits non-zero', async () => {
    const added = await runCli(['users', 'add', 'admin', '--role', 'admin'], t.env, `${PASSWORDS.admin}\n`);
    expect(added).toMatchObject({ code: 0, stdout: 'added admin (admin)\n' });
    expect(added.stdout + added.stderr).not.toContain(PASSWORDS.admin);
    expect((await runCli(['users', 'add', 'manager1', '--role', 'manager'], t.env, PASSWORDS.manager1)).code).toBe(0);
    expect((await runCli(['users', 'add', 'iglead1', '--role', 'ig_lead'], t.env, PASSWORDS.iglead1)).code).toBe(0);
    expect((await runCli(['users', 'add', 'staff1', '--role', 'staff', '--extension', '201'], t.env, 'staff one password 1')).code).toBe(0);

    const again = await runCli(['users', 'add', 'admin', '--role', 'admin'], t.env, PASSWORDS.admin);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/E_USER_EXISTS/);
    expect((await runCli(['users', 'add', 'x1', '--role', 'root'], t.env, PASSWORDS.admin)).code).toBe(2);
    const short = await runCli(['users', 'add', 'x2', '--role', 'staff'], t.env, 'short');
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/E_PASSWORD_POLICY/);
    expect((await runCli(['users', 'add', 'x3', '--role', 'staff'], t.env, '')).code).toBe(2);

    const list = await runCli(['users', 'list', '--json'], t.env);
    expect((JSON.parse(list.stdout) as Array<{ username: string; role: string; extension: string | null }>).map((u) => [u.username, u.role, u.extension])).toEqual([
      ['admin', 'admin', null],
      ['iglead1', 'ig_lead', null],
      ['manager1', 'manager', null],
      ['staff1', 'staff', '201'],
    ]);
    expect(await login(t.url, 'admin', PASSWORDS.admin)).toMatch(/^cvt_/);
  });

  it('users passwd and users disable take effect at once for a running service', async () => {
    const token = await login(t.url, 'staff1', 'staff one password 1');
    expect((await runCli(['users', 'passwd', 'staff1'], t.env, 'staff one new password')).code).toBe(0);
    expect((await call(t.url, 'GET', '/access-requests', { token })).status).toBe(401);
    const fresh = await login(t.url, 'staff1', 'staff one new password');
    const disabled = await runCli(['users', 'disable', 'staff1'], t.env);
    expect(disabled).toMatchObject({ code: 0, stdout: 'disabled staff1; 1 session(s) ended\n' });
    expect((await call(t.url, 'GET', '/access-requests', { token: fresh })).status).toBe(401);
    expect((await runCli(['users', 'disable', 'nobody'], t.env)).code).toBe(1);
    const list = await runCli(['users', 'list'], t.env);
    expect(list.stdout).toMatch(/staff1\s+staff\s+201\s+disabled/);
  });

  it('export writes a copy as a named user under their grant, registered with the SHA-256 of the file; without a grant, a password or a free path, nothing is written', async () => {
    const recording = await ingestRecording(t.app, {}, makeWav({ seconds: 4 }));
    const out = path.join(t.dataDir, 'copy.mp3');
    const args = ['export', recording.id, '--format', 'mp3', '--reason', 'complaint 2026/14 reply', '--out', out, '--user', 'manager1'];

    const noGrant = await runCli(args, t.env, PASSWORDS.manager1);
    expect(noGrant.code).toBe(1);
    expect(noGrant.stderr).toMatch(/E_GRANT_REQUIRED/);
    expect(fs.existsSync(out)).toBe(false);

    const manager = await login(t.url, 'manager1', PASSWORDS.manager1);
    const iglead = await login(t.url, 'iglead1', PASSWORDS.iglead1);
    const grantId = await grant(t.url, manager, iglead, [recording.id], RELEASE);

    const wrongPassword = await runCli(args, t.env, 'not my password at all');
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/E_AUTH_FAILED/);
    expect(fs.existsSync(out)).toBe(false);

    const exported = await runCli([...args, '--json'], t.env, PASSWORDS.manager1);
    expect(exported.code).toBe(0);
    const release = JSON.parse(exported.stdout) as { sha256: string; bytes: number; channel: string; accessRequestId: string; recordedBy: string; complete: boolean };
    const bytes = fs.readFileSync(out);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(release).toMatchObject({ sha256: sha256(bytes), bytes: bytes.length, channel: 'cli', accessRequestId: grantId, recordedBy: 'manager1', complete: true });
    expect(Math.abs(ffprobe(bytes, 'mp3').duration - 4)).toBeLessThanOrEqual(0.1);

    const exists = await runCli(args, t.env, PASSWORDS.manager1);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/--force/);
    expect(fs.readFileSync(out).equals(bytes)).toBe(true);

    const trail = (await t.app.access.audit.list({ actor: 'manager1', limit: 50 })).items;
    expect(trail.find((entry) => entry.action === 'recording.export')).toMatchObject({ recordingId: recording.id, details: { channel: 'cli', reason: 'complaint 2026/14 reply' } });
    expect(trail.find((entry) => entry.action === 'auth.login_failed')).toMatchObject({ details: { channel: 'cli', reason: 'wrong password' } });
  });

  it('releases export writes the register as CSV for a named reader, and refuses roles that may not read it', async () => {
    const csv = await runCli(['releases', 'export', '--csv', '--user', 'iglead1', '--reason', 'quarterly register audit'], t.env, PASSWORDS.iglead1);
    expect(csv.code).toBe(0);
    const rows = parseCsv(csv.stdout);
    expect(rows[0]![0]).toBe('released_at');
    expect(rows.filter((row) => row[13] === 'cli')).toHaveLength(1);
    const api = await call(t.url, 'GET', '/releases.csv', { token: await login(t.url, 'iglead1', PASSWORDS.iglead1) });
    expect(parseCsv(await api.text())).toEqual(rows);

    const admin = await runCli(['releases', 'export', '--user', 'admin', '--reason', 'quarterly register audit'], t.env, PASSWORDS.admin);
    expect(admin.code).toBe(1);
    expect(admin.stderr).toMatch(/E_FORBIDDEN/);
    const shortReason = await runCli(['releases', 'export', '--user', 'iglead1', '--reason', 'x'], t.env, PASSWORDS.iglead1);
    expect(shortReason.code).toBe(2);
    expect(shortReason.stderr).toMatch(/--reason: required, at least 5 characters/);
    expect((await json(await call(t.url, 'GET', '/releases', { token: await login(t.url, 'iglead1', PASSWORDS.iglead1) }))).items).toHaveLength(1);
  });

  it('keys generate is recorded in the audit trail as the operator\'s change', async () => {
    const generated = await runCli(['keys', 'generate', '--no-make-current'], t.env);
    expect(generated.code).toBe(0);
    const keyId = /generated local master key (\S+)/.exec(generated.stdout)![1];
    const entry = (await t.app.access.audit.list({ action: 'key.generated', limit: 5 })).items[0];
    expect(entry).toMatchObject({ actor: expect.stringMatching(/^cli:.+@.+$/), details: { keyId, kind: 'local', current: false } });
    expect((await t.app.access.audit.verify()).ok).toBe(true);
  });
});
