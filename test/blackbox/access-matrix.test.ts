import crypto from 'node:crypto';
import { ManualClock } from '../../src/clock';
import type { Recording } from '../../src/db/recordings';
import type { Role } from '../../src/access/roles';
import { ACCESS_ENV, addUser, call, grant, json, login, RELEASE } from '../helpers/access';
import { describeEachBackend } from '../helpers/backends';
import { ingestRecording } from '../helpers/recordings';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The authorisation matrix: every API route x every role x (own / other's), from one table.
 * "Own" is the recording the user holds a grant for (and, for staff, a call they took part in),
 * or the user's own access request or grant; "other" is someone else's. Then what the table
 * cannot show: no token, an expired or revoked token or grant, a missing reason, guessed ids.
 */

type Side = 'own' | 'other';
const ROLES: Role[] = ['admin', 'manager', 'ig_lead', 'dpo', 'staff'];
const USER: Record<Role, string> = { admin: 'admin1', manager: 'manager1', ig_lead: 'iglead1', dpo: 'dpo1', staff: 'staff1' };

interface Context {
  readonly t: TestApp;
  readonly own: Recording;
  readonly other: Recording;
  readonly tokens: Record<string, string>;
  /** Each user's grant (with a release purpose) covering the own recording; manager2's for "other". */
  readonly grants: Record<string, string>;
}

interface Row {
  readonly route: string;
  readonly method: string;
  /** The path for this actor and side (may create what it acts on: a fresh request to approve). */
  readonly path: (ctx: Context, side: Side, role: Role) => Promise<string> | string;
  readonly body?: (ctx: Context, side: Side, role: Role) => unknown;
  readonly expect: Record<Role, readonly [own: number, other: number]>;
  /** Search: whether the target recording is among the results. */
  readonly lists?: Record<Role, readonly [own: boolean, other: boolean]>;
}

const same = (status: number): readonly [number, number] => [status, status];
const target = (ctx: Context, side: Side): Recording => (side === 'own' ? ctx.own : ctx.other);

/** A pending request by the actor (own) or by manager2 (other), for the approve/reject/revoke rows. */
async function pendingRequest(ctx: Context, side: Side, role: Role, purpose?: string): Promise<string> {
  const requester = side === 'own' ? USER[role] : 'manager2';
  const response = await call(ctx.t.url, 'POST', '/access-requests', { token: ctx.tokens[requester], body: { reason: 'to review a complaint', recordingIds: [ctx.own.id], ...(purpose ? { ...RELEASE, purpose } : {}) } });
  if (response.status !== 201) throw new Error(`setup: ${response.status} ${await response.text()}`);
  return (await json<{ id: string }>(response)).id;
}

const MATRIX: Row[] = [
  {
    route: 'GET /recordings',
    method: 'GET',
    path: (ctx, side) => `/recordings?number=${encodeURIComponent(target(ctx, side).fromDisplay!)}`,
    expect: { admin: same(403), manager: same(200), ig_lead: same(200), dpo: same(403), staff: same(200) },
    lists: { admin: [false, false], manager: [true, true], ig_lead: [true, true], dpo: [false, false], staff: [true, false] },
  },
  { route: 'GET /recordings/:id', method: 'GET', path: (ctx, side) => `/recordings/${target(ctx, side).id}`, expect: { admin: same(403), manager: same(200), ig_lead: same(200), dpo: same(403), staff: [200, 404] } },
  {
    route: 'GET /recordings/:id/audio (original)',
    method: 'GET',
    path: (ctx, side) => `/recordings/${target(ctx, side).id}/audio?format=original`,
    expect: { admin: [200, 403], manager: [200, 403], ig_lead: [200, 403], dpo: [200, 403], staff: [200, 404] },
  },
  {
    route: 'GET /recordings/:id/audio (mp3)',
    method: 'GET',
    path: (ctx, side) => `/recordings/${target(ctx, side).id}/audio?format=mp3`,
    expect: { admin: [200, 403], manager: [200, 403], ig_lead: [200, 403], dpo: [200, 403], staff: [200, 404] },
  },
  {
    route: 'PATCH /recordings/:id',
    method: 'PATCH',
    path: (ctx, side) => `/recordings/${target(ctx, side).id}`,
    body: () => ({ category: 'clinical', reason: 'contains clinical advice' }),
    expect: { admin: same(403), manager: same(403), ig_lead: same(200), dpo: same(200), staff: same(403) },
  },
  { route: 'POST /recordings/:id/hold', method: 'POST', path: (ctx, side) => `/recordings/${target(ctx, side).id}/hold`, body: () => ({ reason: 'complaint 2026/14' }), expect: { admin: same(403), manager: same(403), ig_lead: same(201), dpo: same(201), staff: same(403) } },
  { route: 'DELETE /recordings/:id/hold', method: 'DELETE', path: (ctx, side) => `/recordings/${target(ctx, side).id}/hold`, body: () => ({ reason: 'complaint closed' }), expect: { admin: same(403), manager: same(403), ig_lead: same(200), dpo: same(200), staff: same(403) } },
  {
    route: 'POST /access-requests',
    method: 'POST',
    path: () => '/access-requests',
    body: (ctx, side) => ({ reason: 'to review the call', recordingIds: [target(ctx, side).id] }),
    expect: { admin: same(201), manager: same(201), ig_lead: same(201), dpo: same(201), staff: [201, 404] },
  },
  { route: 'GET /access-requests', method: 'GET', path: () => '/access-requests', expect: { admin: same(200), manager: same(200), ig_lead: same(200), dpo: same(200), staff: same(200) } },
  {
    route: 'GET /access-requests/:id',
    method: 'GET',
    path: (ctx, side, role) => `/access-requests/${ctx.grants[side === 'own' ? USER[role] : 'manager2']}`,
    expect: { admin: [200, 404], manager: [200, 404], ig_lead: same(200), dpo: same(200), staff: [200, 404] },
  },
  {
    route: 'POST /access-requests/:id/approve',
    method: 'POST',
    path: async (ctx, side, role) => `/access-requests/${await pendingRequest(ctx, side, role)}/approve`,
    body: () => ({}),
    expect: { admin: same(403), manager: same(403), ig_lead: [403, 200], dpo: same(403), staff: same(403) },
  },
  {
    route: 'POST /access-requests/:id/approve (police: dpo\'s second approval)',
    method: 'POST',
    path: async (ctx, side, role) => `/access-requests/${await pendingRequest(ctx, side, role, 'police')}/approve`,
    body: () => ({}),
    expect: { admin: same(403), manager: same(403), ig_lead: [403, 200], dpo: [403, 200], staff: same(403) },
  },
  {
    route: 'POST /access-requests/:id/reject',
    method: 'POST',
    path: async (ctx, side, role) => `/access-requests/${await pendingRequest(ctx, side, role)}/reject`,
    body: () => ({ reason: 'no valid reason given' }),
    expect: { admin: same(403), manager: same(403), ig_lead: [403, 200], dpo: same(403), staff: same(403) },
  },
  {
    route: 'POST /access-requests/:id/revoke',
    method: 'POST',
    path: async (ctx, side, role) => `/access-requests/${await pendingRequest(ctx, side, role)}/revoke`,
    body: () => ({ reason: 'no longer needed' }),
    expect: { admin: same(403), manager: same(403), ig_lead: same(200), dpo: same(200), staff: same(403) },
  },
  { route: 'GET /releases', method: 'GET', path: () => '/releases', expect: { admin: same(403), manager: same(200), ig_lead: same(200), dpo: same(200), staff: same(403) } },
  { route: 'GET /releases.csv', method: 'GET', path: () => '/releases.csv', expect: { admin: same(403), manager: same(200), ig_lead: same(200), dpo: same(200), staff: same(403) } },
  {
    route: 'POST /releases',
    method: 'POST',
    path: () => '/releases',
    body: (ctx, side, role) => ({ accessRequestId: ctx.grants[side === 'own' ? USER[role] : 'manager2'], format: 'transcript', sha256: 'ab'.repeat(32) }),
    expect: { admin: same(403), manager: [201, 404], ig_lead: same(201), dpo: same(201), staff: same(403) },
  },
  {
    route: 'POST /subject-access',
    method: 'POST',
    path: () => '/subject-access',
    body: (ctx, side) => ({ number: target(ctx, side).fromDisplay, requester: 'the caller', reason: 'subject access request SAR-9' }),
    expect: { admin: same(403), manager: same(403), ig_lead: same(200), dpo: same(200), staff: same(403) },
  },
  { route: 'GET /audit', method: 'GET', path: () => '/audit', expect: { admin: same(403), manager: same(403), ig_lead: same(403), dpo: same(200), staff: same(403) } },
  { route: 'GET /audit/verify', method: 'GET', path: () => '/audit/verify', expect: { admin: same(403), manager: same(403), ig_lead: same(403), dpo: same(200), staff: same(403) } },
];

describeEachBackend('authorisation matrix', (backend) => {
  const clock = new ManualClock('2026-02-01T09:00:00Z');
  let ctx: Context;

  beforeAll(async () => {
    const t = await startTestApp({ backend, clock, workers: false, env: ACCESS_ENV });
    for (const role of ROLES) await addUser(t.app, USER[role], role, role === 'staff' ? '7001' : undefined);
    await addUser(t.app, 'iglead2', 'ig_lead');
    await addUser(t.app, 'manager2', 'manager');
    await addUser(t.app, 'staff2', 'staff', '202');
    const own = await ingestRecording(t.app, { staff: ['staff1'], extension: '201', from: '07700 900111' });
    const other = await ingestRecording(t.app, { staff: ['jsmith'], extension: '202', from: '07700 900222' });
    const tokens: Record<string, string> = {};
    for (const user of [...Object.values(USER), 'iglead2', 'manager2', 'staff2']) tokens[user] = await login(t.url, user);
    const grants: Record<string, string> = {};
    for (const user of [...Object.values(USER), 'manager2']) {
      grants[user] = await grant(t.url, tokens[user]!, tokens[user === 'iglead1' ? 'iglead2' : 'iglead1']!, [own.id], RELEASE);
    }
    ctx = { t, own, other, tokens, grants };
  });
  afterAll(async () => {
    await ctx?.t.close();
  });

  // Role-major, so that each role places a hold before it removes it.
  for (const role of ROLES) {
    for (const row of MATRIX) {
      for (const side of ['own', 'other'] as const) {
        const expected = row.expect[role][side === 'own' ? 0 : 1];
        it(`${row.route} as ${role}, ${side}: ${expected}`, async () => {
          const path = await row.path(ctx, side, role);
          const response = await call(ctx.t.url, row.method, path, { token: ctx.tokens[USER[role]], body: row.body?.(ctx, side, role) });
          const text = Buffer.from(await response.arrayBuffer());
          expect({ status: response.status, body: response.status >= 400 ? text.toString() : '' }).toMatchObject({ status: expected });
          if (expected >= 400) expect(JSON.parse(text.toString())).toEqual({ code: expect.stringMatching(/^E_[A-Z_]+$/), message: expect.any(String) });
          if (row.lists && expected === 200) {
            const ids = (JSON.parse(text.toString()) as { items: Array<{ id: string }> }).items.map((item) => item.id);
            expect(ids.includes(target(ctx, side).id)).toBe(row.lists[role][side === 'own' ? 0 : 1]);
          }
        });
      }
    }
  }

  it('every route refuses a request without a token (401), with a token it does not know, or with a malformed header', async () => {
    for (const row of MATRIX) {
      const path = await row.path(ctx, 'own', 'manager');
      for (const token of [null, 'cvt_notatoken', 'garbage']) {
        const response = await call(ctx.t.url, row.method, path, { token, body: row.body?.(ctx, 'own', 'manager') });
        expect({ route: row.route, status: response.status }).toEqual({ route: row.route, status: 401 });
        expect((await json(response)).code).toBe('E_AUTH_REQUIRED');
      }
    }
  });

  it('no read returns recording data without a reason: every GET answers 400 E_REASON_REQUIRED, whatever the role may do', async () => {
    const reads = MATRIX.filter((row) => row.method === 'GET');
    expect(reads.length).toBeGreaterThanOrEqual(9);
    for (const row of reads) {
      for (const role of ROLES) {
        for (const reason of [null, '', 'x', '   ']) {
          const response = await call(ctx.t.url, 'GET', await row.path(ctx, 'own', role), { token: ctx.tokens[USER[role]], reason });
          expect({ route: row.route, role, status: response.status }).toEqual({ route: row.route, role, status: 400 });
          expect((await json(response)).code).toBe('E_REASON_REQUIRED');
        }
      }
    }
  });

  it('guessed ids (IDOR): a random or malformed id is 404 for every role; staff get 404 for a real call they did not take part in, even with a grant request', async () => {
    const ids = [crypto.randomUUID(), '1', '../etc/passwd', `${ctx.own.id.slice(0, -1)}0`];
    for (const role of ROLES) {
      for (const id of ids) {
        for (const suffix of ['', '/audio?format=original', '/audio?format=mp3']) {
          const response = await call(ctx.t.url, 'GET', `/recordings/${encodeURIComponent(id)}${suffix}`, { token: ctx.tokens[USER[role]] });
          expect([403, 404]).toContain(response.status);
          if (role !== 'admin' && role !== 'dpo') expect(response.status).toBe(404);
        }
      }
    }
    // A staff member cannot even ask for someone else's call, nor learn that it exists.
    const asked = await call(ctx.t.url, 'POST', '/access-requests', { token: ctx.tokens.staff1, body: { reason: 'curious about it', recordingIds: [ctx.other.id] } });
    expect(asked.status).toBe(404);
    const unknown = await call(ctx.t.url, 'POST', '/access-requests', { token: ctx.tokens.staff1, body: { reason: 'curious about it', recordingIds: [crypto.randomUUID()] } });
    expect(unknown.status).toBe(404);
    expect((await json<{ message: string }>(asked)).message.replace(ctx.other.id, 'ID')).toBe((await json<{ message: string }>(unknown)).message.replace(/[0-9a-f-]{36}/, 'ID'));
  });

  it('staff own the calls on their extension too, and never see others in a search', async () => {
    const onExtension = await ingestRecording(ctx.t.app, { staff: [], extension: '202', from: '07700 900333' });
    const response = await call(ctx.t.url, 'GET', '/recordings?limit=100', { token: ctx.tokens.staff2 });
    const ids = (await json<{ items: Array<{ id: string }> }>(response)).items.map((item) => item.id);
    expect(ids).toContain(onExtension.id);
    expect(ids).toContain(ctx.other.id); // extension 202 as well
    expect(ids).not.toContain(ctx.own.id);
    expect((await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}`, { token: ctx.tokens.staff2 })).status).toBe(404);
  });

  it('a grant is for its requester only, and only for the recordings it covers', async () => {
    // manager1's grant covers "own"; manager2 holds one too, but a third party's token does not ride on either.
    const response = await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio?format=original&grant=${ctx.grants.manager2}`, { token: ctx.tokens.staff2 });
    expect(response.status).toBe(404);
    const mp3 = await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio?format=mp3&grant=${ctx.grants.manager2}`, { token: ctx.tokens.manager1 });
    expect(mp3.status).toBe(403);
    expect((await json(mp3)).code).toBe('E_GRANT_REQUIRED');
  });

  it('a revoked grant stops playback at once; a revoked token (logout) and a disabled user are refused', async () => {
    await addUser(ctx.t.app, 'manager3', 'manager');
    const token = await login(ctx.t.url, 'manager3');
    const grantId = await grant(ctx.t.url, token, ctx.tokens.iglead1!, [ctx.own.id]);
    const audio = (): Promise<Response> => call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio`, { token });
    expect((await audio()).status).toBe(200);
    const revoked = await call(ctx.t.url, 'POST', `/access-requests/${grantId}/revoke`, { token: ctx.tokens.iglead1, body: { reason: 'complaint withdrawn' } });
    expect(revoked.status).toBe(200);
    const refused = await audio();
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe('E_GRANT_REQUIRED');

    expect((await call(ctx.t.url, 'POST', '/auth/logout', { token })).status).toBe(204);
    const afterLogout = await call(ctx.t.url, 'GET', '/access-requests', { token });
    expect(afterLogout.status).toBe(401);
    expect((await json(afterLogout)).message).toMatch(/revoked/);

    const second = await login(ctx.t.url, 'manager3');
    await ctx.t.app.access.users.disable('manager3', 'test');
    expect((await call(ctx.t.url, 'GET', '/access-requests', { token: second })).status).toBe(401);
    await expect(login(ctx.t.url, 'manager3')).rejects.toThrow(/401/);
  });

  it('a grant without a release purpose lets its holder listen but not export; a copy needs a purpose', async () => {
    await addUser(ctx.t.app, 'manager4', 'manager');
    const token = await login(ctx.t.url, 'manager4');
    await grant(ctx.t.url, token, ctx.tokens.iglead1!, [ctx.own.id]);
    expect((await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio?format=original`, { token })).status).toBe(200);
    const mp3 = await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio?format=mp3`, { token });
    expect(mp3.status).toBe(403);
    expect((await json(mp3)).code).toBe('E_RELEASE_NOT_AUTHORISED');
  });

  it('police requests are live only with the dpo\'s approval as well as the IG lead\'s', async () => {
    const requested = await call(ctx.t.url, 'POST', '/access-requests', { token: ctx.tokens.manager2, body: { reason: 'police request 77/2026', recordingIds: [ctx.other.id], ...RELEASE, purpose: 'police', requester: 'Kent Police, ref 77/2026', recipient: 'DC Smith' } });
    const { id } = await json<{ id: string }>(requested);
    expect((await call(ctx.t.url, 'POST', `/access-requests/${id}/approve`, { token: ctx.tokens.iglead1, body: {} })).status).toBe(200);
    const early = await call(ctx.t.url, 'GET', `/recordings/${ctx.other.id}/audio?format=mp3`, { token: ctx.tokens.manager2 });
    expect(early.status).toBe(403);
    expect((await json(early)).code).toBe('E_DPO_APPROVAL_REQUIRED');
    const dpo = await call(ctx.t.url, 'POST', `/access-requests/${id}/approve`, { token: ctx.tokens.dpo1, body: {} });
    expect(dpo.status).toBe(200);
    expect(await json(dpo)).toMatchObject({ status: 'approved', dpoApprovedBy: 'dpo1', decidedBy: 'iglead1' });
    const twice = await call(ctx.t.url, 'POST', `/access-requests/${id}/approve`, { token: ctx.tokens.dpo1, body: {} });
    expect(twice.status).toBe(409);
    const released = await call(ctx.t.url, 'GET', `/recordings/${ctx.other.id}/audio?format=mp3`, { token: ctx.tokens.manager2 });
    expect(released.status).toBe(200);
    await released.arrayBuffer();
  });

  // Last: it moves the clock past every grant and token.
  it('expired tokens and expired grants are refused; a fresh sign-in still cannot hear without a live grant', async () => {
    const token = ctx.tokens.manager1!;
    expect((await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio`, { token })).status).toBe(200);
    clock.advance(9 * 3600_000); // past the 8-hour session
    const expired = await call(ctx.t.url, 'GET', '/access-requests', { token });
    expect(expired.status).toBe(401);
    expect((await json(expired)).message).toMatch(/expired/);
    const fresh = await login(ctx.t.url, 'manager1');
    expect((await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio`, { token: fresh })).status).toBe(200);
    clock.advance(8 * 86_400_000); // past the 7-day default grant
    const again = await login(ctx.t.url, 'manager1');
    const refused = await call(ctx.t.url, 'GET', `/recordings/${ctx.own.id}/audio`, { token: again });
    expect(refused.status).toBe(403);
    expect((await json(refused)).code).toBe('E_GRANT_REQUIRED');
  });
});
