import fs from 'node:fs';
import { tokenHash } from '../../src/access/authentication';
import { ManualClock } from '../../src/clock';
import { addUser, call, json, login, passwordOf } from '../helpers/access';
import { describeEachBackend } from '../helpers/backends';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** Sign-in: lockout, refusals that all look alike, and secrets that never rest in plain text. */

const TABLES = ['users', 'sessions', 'audit_log', 'access_requests', 'releases'];

async function databaseText(t: TestApp): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) parts.push(JSON.stringify(await t.app.db.knex(table).select('*')));
  return parts.join('\n');
}

async function attempt(t: TestApp, username: string, password: string): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, ms: performance.now() - started };
}

describeEachBackend('sign-in', (backend) => {
  const clock = new ManualClock('2026-03-01T08:00:00Z');
  let t: TestApp;

  beforeAll(async () => {
    // A real scrypt cost (2^13, r=8, p=3: tens of milliseconds) so that timing differences would show.
    t = await startTestApp({ backend, clock, workers: false, env: { CALLVAULT_PASSWORD_HASH_COST: '13', CALLVAULT_LOGIN_MAX_FAILURES: '3', CALLVAULT_LOGIN_LOCKOUT_SECONDS: '600' } });
    await addUser(t.app, 'alice', 'manager');
    await addUser(t.app, 'bob', 'ig_lead');
    await addUser(t.app, 'carol', 'dpo');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('locks an account after N consecutive failures, even to the right password, until the lockout ends', async () => {
    for (let i = 0; i < 3; i += 1) expect((await attempt(t, 'alice', 'wrong password!')).status).toBe(401);
    const locked = await attempt(t, 'alice', passwordOf('alice'));
    expect(locked).toMatchObject({ status: 401, body: { code: 'E_AUTH_FAILED' } });
    expect((await t.app.access.users.list()).find((user) => user.username === 'alice')?.lockedUntil?.toISOString()).toBe('2026-03-01T08:10:00.000Z');
    clock.advance(599_000);
    expect((await attempt(t, 'alice', passwordOf('alice'))).status).toBe(401);
    clock.advance(2_000);
    expect((await attempt(t, 'alice', passwordOf('alice'))).status).toBe(200);
    const trail = (await t.app.access.audit.list({ actor: 'alice', limit: 20 })).items.map((entry) => [entry.action, entry.details.reason ?? null]);
    expect(trail.reverse()).toEqual([
      ['auth.login_failed', 'wrong password'],
      ['auth.login_failed', 'wrong password'],
      ['auth.login_failed', 'wrong password'],
      ['auth.locked', null],
      ['auth.login_failed', 'locked'],
      ['auth.login_failed', 'locked'],
      ['auth.login', null],
    ]);
  });

  it('a success clears the count: failures must be consecutive to lock', async () => {
    for (let round = 0; round < 3; round += 1) {
      expect((await attempt(t, 'bob', 'wrong password!')).status).toBe(401);
      expect((await attempt(t, 'bob', 'wrong password!')).status).toBe(401);
      expect((await attempt(t, 'bob', passwordOf('bob'))).status).toBe(200);
    }
  });

  it('unknown names, wrong passwords, disabled and locked accounts are refused alike, and take as long as each other', async () => {
    await addUser(t.app, 'dave', 'staff');
    await t.app.access.users.disable('dave', 'test');
    const cases = { unknown: ['nobody-here', 'whatever password'], wrong: ['carol', 'wrong password!!'], disabled: ['dave', passwordOf('dave')] } as const;
    const times: Record<string, number[]> = { unknown: [], wrong: [], disabled: [] };
    for (let i = 0; i < 5; i += 1) {
      for (const [name, [username, password]] of Object.entries(cases)) {
        const result = await attempt(t, username, password);
        expect(result.status).toBe(401);
        expect(result.body).toEqual({ code: 'E_AUTH_FAILED', message: 'wrong username or password, or the account is locked for a while after repeated failures' });
        times[name]!.push(result.ms);
      }
      clock.advance(3600_000); // carol's two failures must not lock her
    }
    // The fastest of five: other suites running beside this one only ever add time, so the minimum is
    // the attempt's own cost. Each includes a full scrypt computation; an unknown name costs the same.
    const fastest = (values: number[]): number => Math.min(...values);
    const known = fastest(times.wrong!);
    expect(fastest(times.unknown!)).toBeGreaterThan(known * 0.5);
    expect(fastest(times.unknown!)).toBeLessThan(known * 2);
    expect(fastest(times.disabled!)).toBeGreaterThan(known * 0.5);
  });

  it('a name typed at sign-in that is no user is not written anywhere (it may be a password typed in the wrong box)', async () => {
    const typed = 'Tr0ub4dor&3-typed-as-a-name';
    expect((await attempt(t, typed, 'x')).status).toBe(401);
    await t.app.access.audit.idle();
    expect(await databaseText(t)).not.toContain(typed);
    expect(t.logs.text()).not.toContain(typed);
  });

  it('passwords and tokens never appear in the logs or the database in plain text; only their hashes are stored', async () => {
    const token = await login(t.url, 'carol');
    expect(token).toMatch(/^cvt_[A-Za-z0-9_-]{43}$/);
    expect((await call(t.url, 'GET', '/audit', { token })).status).toBe(200);
    await call(t.url, 'POST', '/auth/logout', { token });
    await t.app.access.audit.idle();
    const text = await databaseText(t);
    const logs = t.logs.text();
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      expect(text).not.toContain(passwordOf(user));
      expect(logs).not.toContain(passwordOf(user));
    }
    expect(text).not.toContain(token);
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.slice(4, 30));
    expect(text).toContain(tokenHash(token));
    const hashes = (await t.app.db.knex('users').select('password_hash')) as Array<{ password_hash: string }>;
    for (const { password_hash: hash } of hashes) expect(hash).toMatch(/^\$scrypt\$ln=13,r=8,p=3\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    if (backend === 'sqlite') {
      const file = t.databaseUrl.slice('sqlite:'.length);
      for (const candidate of [file, `${file}-wal`]) {
        if (!fs.existsSync(candidate)) continue;
        const bytes = fs.readFileSync(candidate);
        expect(bytes.includes(Buffer.from(token))).toBe(false);
        expect(bytes.includes(Buffer.from(passwordOf('carol')))).toBe(false);
      }
    }
  });

  it('a new password ends every session of that user and the old password stops working', async () => {
    const token = await login(t.url, 'bob');
    await t.app.access.users.setPassword('bob', 'a brand new password 2026', 'test');
    expect((await call(t.url, 'GET', '/access-requests', { token })).status).toBe(401);
    expect((await attempt(t, 'bob', passwordOf('bob'))).status).toBe(401);
    expect((await attempt(t, 'bob', 'a brand new password 2026')).status).toBe(200);
    await expect(t.app.access.users.setPassword('bob', 'short', 'test')).rejects.toMatchObject({ code: 'E_PASSWORD_POLICY' });
    await expect(t.app.access.users.add({ username: 'bob', role: 'staff', password: passwordOf('bob') }, 'test')).rejects.toMatchObject({ code: 'E_USER_EXISTS' });
    await expect(t.app.access.users.add({ username: 'eve', role: 'superuser', password: passwordOf('eve') }, 'test')).rejects.toMatchObject({ code: 'E_VALIDATION' });
  });

  it('a malformed sign-in body is refused like bad credentials', async () => {
    for (const body of ['{}', '{"username": 5, "password": []}', '[]']) {
      const response = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(response.status).toBe(401);
      expect((await json(response)).code).toBe('E_AUTH_FAILED');
    }
    const notJson = await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' });
    expect(notJson.status).toBe(400);
    expect((await json(notJson)).code).toBe('E_BAD_REQUEST');
  });
});
