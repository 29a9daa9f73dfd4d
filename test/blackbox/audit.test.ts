import { loadConfig } from '../../config';
import { buildParts, closeParts, createApp } from '../../src/app';
import { entryHash } from '../../src/access/audit-trail';
import { ManualClock } from '../../src/clock';
import { createSilentLogger } from '../../src/log/logger';
import { ACCESS_ENV, addUser, call, grant, json, login, RELEASE } from '../helpers/access';
import { describeEachBackend } from '../helpers/backends';
import { runCli } from '../helpers/child';
import { ingestRecording, TEST_CALLER } from '../helpers/recordings';
import { genericEvent, postGeneric } from '../helpers/senders';
import { startTestApp, type TestApp } from '../helpers/test-app';

/**
 * The audit trail: every access and change is in it, with no more personal data than it needs,
 * and any entry edited, removed or inserted in the database is found by `audit verify` (API and
 * command), which says where. Several processes appending at once still make one chain.
 */

interface Entry {
  seq: number;
  actor: string;
  actorRole: string | null;
  action: string;
  recordingId: string | null;
  details: Record<string, unknown>;
}

interface Verify {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  breaks: Array<{ seq: number; problem: string; message: string }>;
}

describeEachBackend('audit trail', (backend) => {
  const clock = new ManualClock('2026-01-20T09:00:00Z');
  let t: TestApp;
  let dpo: string;

  async function entries(query = ''): Promise<Entry[]> {
    const response = await call(t.url, 'GET', `/audit?limit=500${query}`, { token: dpo });
    expect(response.status).toBe(200);
    return (await json<{ items: Entry[] }>(response)).items;
  }

  async function verify(query = ''): Promise<Verify> {
    const response = await call(t.url, 'GET', `/audit/verify${query}`, { token: dpo });
    expect(response.status).toBe(200);
    return json<Verify>(response);
  }

  beforeAll(async () => {
    t = await startTestApp({ backend, clock, workers: false, env: ACCESS_ENV });
    for (const [name, role] of [['manager1', 'manager'], ['iglead1', 'ig_lead'], ['dpo1', 'dpo']] as const) await addUser(t.app, name, role);
    dpo = await login(t.url, 'dpo1');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('records sign-ins, searches (filters masked, results by id), views, playback, exports, requests, decisions, holds, category changes, releases, destructions, user changes and refused webhooks', async () => {
    const recording = await ingestRecording(t.app, { category: 'admin', startedAt: new Date('2026-01-01T10:00:00Z') });
    const manager = await login(t.url, 'manager1');
    const iglead = await login(t.url, 'iglead1');
    await fetch(`${t.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'manager1', password: 'not the password' }) });

    const search = await call(t.url, 'GET', `/recordings?number=${encodeURIComponent(TEST_CALLER.display)}&party=Jane%20Patient`, { token: manager, reason: 'complaint 2026/14 from the caller' });
    expect((await json<{ items: unknown[] }>(search)).items).toHaveLength(1);
    await call(t.url, 'GET', `/recordings/${recording.id}`, { token: manager });
    const grantId = await grant(t.url, manager, iglead, [recording.id], RELEASE);
    await (await call(t.url, 'GET', `/recordings/${recording.id}/audio`, { token: manager })).arrayBuffer();
    await (await call(t.url, 'GET', `/recordings/${recording.id}/audio?format=mp3`, { token: manager })).arrayBuffer();
    const rejected = await call(t.url, 'POST', '/access-requests', { token: manager, body: { reason: 'just curious about it', externalNumber: '07700 900123', parties: ['Jane Patient'] } });
    await call(t.url, 'POST', `/access-requests/${(await json<{ id: string }>(rejected)).id}/reject`, { token: iglead, body: { reason: 'no valid business need' } });
    await call(t.url, 'POST', `/recordings/${recording.id}/hold`, { token: iglead, body: { reason: 'complaint 2026/14' } });
    await call(t.url, 'DELETE', `/recordings/${recording.id}/hold`, { token: iglead, body: { reason: 'complaint closed' } });
    await call(t.url, 'PATCH', `/recordings/${recording.id}`, { token: iglead, body: { category: 'admin', reason: 'appointment booking only' } });
    expect((await postGeneric(t.url, genericEvent(), { signature: `t=${Math.floor(clock.now().getTime() / 1000)},v1=${'0'.repeat(64)}` })).status).toBe(401);
    clock.set('2026-03-01T00:00:00Z'); // past the admin call's 28 days
    await t.app.retention.sweep();
    clock.set('2026-01-20T09:00:00Z');

    const trail = await entries();
    const first = (action: string, actor?: string): Entry | undefined => trail.find((entry) => entry.action === action && (!actor || entry.actor === actor));
    expect(trail.find((entry) => entry.action === 'user.added' && entry.details.username === 'manager1')).toMatchObject({ actor: 'test-setup', details: { role: 'manager' } });
    expect(first('auth.login', 'manager1')).toMatchObject({ actorRole: 'manager', details: { channel: 'api' } });
    expect(first('auth.login_failed', 'manager1')).toMatchObject({ details: { reason: 'wrong password' } });
    expect(first('recording.search')).toMatchObject({
      actor: 'manager1',
      details: { reason: 'complaint 2026/14 from the caller', filters: { number: '+44***123', party: 'J*** P******' }, results: 1, recordingIds: [recording.id] },
    });
    expect(first('recording.view')).toMatchObject({ actor: 'manager1', recordingId: recording.id, details: { reason: 'complaint 2026/14 investigation' } });
    expect(first('access_request.created')).toMatchObject({ actor: 'manager1', details: { externalNumber: '+44***123', parties: ['J*** P******'] } });
    expect(first('access_request.approved')).toMatchObject({ actor: 'iglead1', details: { requestId: grantId, requester: 'manager1', recordingIds: [recording.id] } });
    expect(first('access_request.rejected')).toMatchObject({ actor: 'iglead1', details: { reason: 'no valid business need' } });
    expect(first('recording.play')).toMatchObject({ actor: 'manager1', recordingId: recording.id, details: { grantId } });
    expect(first('recording.export')).toMatchObject({ actor: 'manager1', recordingId: recording.id, details: { format: 'mp3', purpose: 'complaint', grantId } });
    expect(first('release.recorded')).toMatchObject({ actor: 'manager1', recordingId: recording.id, details: { format: 'mp3', complete: true, channel: 'api' } });
    expect(first('retention.hold_placed')).toMatchObject({ actor: 'iglead1', recordingId: recording.id, details: { reason: 'complaint 2026/14' } });
    expect(first('retention.hold_removed')).toMatchObject({ actor: 'iglead1', recordingId: recording.id, details: { reason: 'complaint closed', holdsRemoved: 1 } });
    expect(first('retention.category_changed')).toMatchObject({ actor: 'iglead1', recordingId: recording.id, details: { to: 'admin', reason: 'appointment booking only' } });
    expect(first('retention.destroyed')).toMatchObject({ actor: 'system', recordingId: recording.id });
    expect(first('webhook.refused')).toMatchObject({ actor: 'webhook:generic', details: { source: 'generic', code: 'E_SIGNATURE_INVALID', count: 1 } });

    // Nothing personal beyond what the audit needs: no full number, no name.
    const text = JSON.stringify(await t.app.db.knex('audit_log').select('*'));
    for (const secret of [TEST_CALLER.number, TEST_CALLER.display, '7700900123', TEST_CALLER.name, 'Jane']) expect(text).not.toContain(secret);
    expect((await verify()).ok).toBe(true);
  });

  it('the chain: each entry holds the previous entry\'s hash and its own over its content', async () => {
    const rows = (await t.app.db.knex('audit_log').orderBy('seq')) as Array<Record<string, unknown>>;
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.map((row) => Number(row.seq))).toEqual(rows.map((_, i) => i + 1));
    expect(rows[0]!.prev_hash).toBe('0'.repeat(64));
    for (let i = 1; i < rows.length; i += 1) expect(rows[i]!.prev_hash).toBe(rows[i - 1]!.hash);
  });

  describe('tampering in the database is found, and where', () => {
    // In-process checks append nothing, so a test can put the rows back exactly; the API and the
    // command are shown where putting back stays possible.
    const check = (expectHead?: { seq: number; hash: string }): Promise<Verify> => t.app.access.audit.verify(expectHead) as Promise<Verify>;
    let original: Record<string, unknown>;
    const SEQ = 5;
    beforeEach(async () => {
      original = (await t.app.db.knex('audit_log').where({ seq: SEQ }).first())!;
    });

    it('an edited entry', async () => {
      await t.app.db.knex('audit_log').where({ seq: SEQ }).update({ details: String(original.details).replace('}', ',"x":1}') });
      const result = await verify();
      expect(result.ok).toBe(false);
      expect(result.breaks[0]).toMatchObject({ seq: SEQ, problem: 'altered' });
      const cli = await runCli(['audit', 'verify'], t.env);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toContain(`BROKEN at entry ${SEQ} (altered)`);
      await t.app.db.knex('audit_log').where({ seq: SEQ }).update({ details: original.details });
      expect((await check()).ok).toBe(true);
    });

    it('an edited entry whose own hash was recomputed breaks the link to the next', async () => {
      const actor = 'someone-else';
      const forged = entryHash(String(original.prev_hash), { seq: SEQ, at: t.app.db.codec.readTime(original.at)!, actor, actorRole: (original.actor_role as string | null) ?? null, action: String(original.action), recordingId: (original.recording_id as string | null) ?? null, details: String(original.details) });
      await t.app.db.knex('audit_log').where({ seq: SEQ }).update({ actor, hash: forged });
      const result = await check();
      expect(result.breaks).toEqual([expect.objectContaining({ seq: SEQ + 1, problem: 'unlinked' })]);
      await t.app.db.knex('audit_log').where({ seq: SEQ }).update({ actor: original.actor, hash: original.hash });
    });

    it('a removed entry', async () => {
      await t.app.db.knex('audit_log').where({ seq: SEQ }).delete();
      const result = await verify();
      expect(result.breaks[0]).toMatchObject({ seq: SEQ + 1, problem: 'removed' });
      expect(result.breaks[0]!.message).toContain(`entries ${SEQ} to ${SEQ}`);
      const cli = await runCli(['audit', 'verify', '--json'], t.env);
      expect(cli.code).toBe(1);
      expect((JSON.parse(cli.stdout) as Verify).breaks[0]).toMatchObject({ seq: SEQ + 1, problem: 'removed' });
      await t.app.db.knex('audit_log').insert(original);
      expect((await check()).ok).toBe(true);
    });

    it('an inserted entry, at the end or before the start', async () => {
      const head = (await check()).head!;
      // At the end, claiming to follow the head.
      await t.app.db.knex('audit_log').insert({ ...original, seq: head.seq + 1, prev_hash: head.hash, details: '{"note":"inserted"}', hash: 'f'.repeat(64) });
      expect((await check()).breaks[0]).toMatchObject({ seq: head.seq + 1, problem: 'altered' });
      await t.app.db.knex('audit_log').where({ seq: head.seq + 1 }).delete();
      // Before the start.
      await t.app.db.knex('audit_log').insert({ ...original, seq: 0 });
      expect((await check()).breaks[0]).toMatchObject({ seq: 0, problem: 'bad-start' });
      await t.app.db.knex('audit_log').where({ seq: 0 }).delete();
      expect((await check()).ok).toBe(true);
    });

    it('entries cut from the end are found against a head noted earlier', async () => {
      const noted = (await check()).head!;
      const last = (await t.app.db.knex('audit_log').where({ seq: noted.seq }).first())!;
      await t.app.db.knex('audit_log').where({ seq: noted.seq }).delete();
      expect((await check()).ok).toBe(true); // the chain alone cannot tell
      expect((await check(noted)).breaks[0]).toMatchObject({ seq: noted.seq, problem: 'truncated' });
      const cli = await runCli(['audit', 'verify', '--expect', `${noted.seq}:${noted.hash}`], t.env);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toContain(`BROKEN at entry ${noted.seq} (truncated)`);
      await t.app.db.knex('audit_log').insert(last);
      const restored = await runCli(['audit', 'verify', '--expect', `${noted.seq}:${noted.hash}`], t.env);
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(/the chain is intact/);
      expect((await runCli(['audit', 'verify', '--expect', 'nonsense'], t.env)).code).toBe(2);
      // Through the API too: the head it reports includes the check's own entry.
      const viaApi = await verify(`?expect=${noted.seq}:${noted.hash}`);
      expect(viaApi).toMatchObject({ ok: true, head: { seq: noted.seq + 1 } });
    });
  });

  const check = (): Promise<Verify> => t.app.access.audit.verify() as Promise<Verify>;

  it('several instances appending at once make one unbroken chain', async () => {
    // A second, independent app on the same database: its own connections, as another process would have.
    const other = createApp(buildParts(loadConfig(t.env), { logger: createSilentLogger() }));
    try {
      const before = (await check()).entries;
      // One transaction per entry on each side, so the two race for the same sequence numbers.
      const writer = async (app: typeof other, actor: string): Promise<number[]> => {
        const seqs: number[] = [];
        for (let i = 0; i < 40; i += 1) seqs.push((await app.access.audit.append({ actor, action: 'audit.read', details: { i } })).seq);
        return seqs;
      };
      const [a, b] = await Promise.all([writer(t.app, 'instance-a'), writer(other, 'instance-b'), writer(t.app, 'instance-c'), writer(other, 'instance-d')]);
      // Each side's entries keep their order; between them, every place is taken exactly once.
      expect(a).toEqual([...a!].sort((x, y) => x - y));
      expect(new Set([...a!, ...b!]).size).toBe(80);
      const result = await check();
      expect(result).toMatchObject({ ok: true, breaks: [] });
      expect(result.entries).toBe(before + 160);
      const actors = (await t.app.db.knex('audit_log').where('seq', '>', before).select('actor')) as Array<{ actor: string }>;
      expect(new Set(actors.map((row) => row.actor))).toEqual(new Set(['instance-a', 'instance-b', 'instance-c', 'instance-d']));
    } finally {
      await other.access.audit.idle();
      await closeParts(other);
    }
  });

  it('a read of the trail is itself in the trail, and nobody but the dpo may read or verify it', async () => {
    const manager = await login(t.url, 'manager1');
    for (const path of ['/audit', '/audit/verify']) expect((await call(t.url, 'GET', path, { token: manager })).status).toBe(403);
    const reads = (await entries('&action=audit.read&actor=dpo1')).filter((entry) => entry.details.reason);
    expect(reads.length).toBeGreaterThan(5);
  });
});

describe('audit trail: a flood of refused webhooks', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ workers: false, env: ACCESS_ENV });
  });
  afterAll(async () => t?.close());

  const refusals = async (): Promise<Array<{ details: Record<string, unknown> }>> =>
    (await t.app.access.audit.list({ action: 'webhook.refused', limit: 500 })).items as Array<{ details: Record<string, unknown> }>;

  it('is entered once at once and then as one counted summary, not once per request', async () => {
    const badSignature = `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`;
    for (let i = 0; i < 40; i += 1) expect((await postGeneric(t.url, genericEvent(), { signature: badSignature })).status).toBe(401);
    await t.app.access.audit.idle();
    expect(await refusals()).toEqual([expect.objectContaining({ details: expect.objectContaining({ code: 'E_SIGNATURE_INVALID', count: 1 }) })]);

    // When the minute ends (here: the service stopping), the other 39 are entered as one summary.
    await t.app.stop();
    const entries = await refusals();
    expect(entries).toHaveLength(2);
    expect(entries.map((entry) => entry.details.count).sort()).toEqual([1, 39]);
    // Every refusal is still counted for monitoring.
    expect((await fetch(`${t.url}/metrics`).then((r) => r.text())).match(/callvault_webhook_refused_total\{source="generic",code="E_SIGNATURE_INVALID"\} (\d+)/)?.[1]).toBe('40');
  });
});
