import fs from 'node:fs';
import path from 'node:path';
import type { Recording } from '../../src/db/recordings';
import { ACCESS_ENV, addUser, call, grant, json, login, RELEASE } from '../helpers/access';
import { makeMp3 } from '../helpers/audio';
import { describeEachBackend } from '../helpers/backends';
import { ffprobe, parseCsv, sha256, unzip } from '../helpers/media';
import { ingestRecording } from '../helpers/recordings';
import { eventually, startTestApp, type TestApp } from '../helpers/test-app';
import { makeWav } from '../helpers/wav';

/**
 * Audio leaving: exports decode to the original duration, the release register holds the SHA-256
 * of exactly the bytes delivered, playback serves byte ranges, and a subject-access ZIP holds
 * exactly the caller's recordings.
 */

interface Release {
  id: string;
  recordingIds: string[];
  sha256: string;
  bytes: number;
  format: string;
  purpose: string;
  requester: string;
  recipient: string;
  authorisedBy: string;
  accessRequestId: string | null;
  complete: boolean;
  channel: string;
  recordedBy: string;
}

const CALLER_A = '07700 900555';
const CALLER_B = '07700 900666';

describeEachBackend('exports, playback and subject access', (backend) => {
  let t: TestApp;
  let tokens: Record<string, string>;
  let wav: Buffer;
  let wavRecording: Recording;
  let mp3Recording: Recording;
  let grantId: string;

  async function releasesFor(recordingId: string): Promise<Release[]> {
    const response = await call(t.url, 'GET', `/releases?recordingId=${recordingId}`, { token: tokens.dpo1 });
    return (await json<{ items: Release[] }>(response)).items;
  }

  beforeAll(async () => {
    t = await startTestApp({ backend, workers: false, env: ACCESS_ENV });
    await addUser(t.app, 'manager1', 'manager');
    await addUser(t.app, 'iglead1', 'ig_lead');
    await addUser(t.app, 'dpo1', 'dpo');
    tokens = { manager1: await login(t.url, 'manager1'), iglead1: await login(t.url, 'iglead1'), dpo1: await login(t.url, 'dpo1') };
    wav = makeWav({ seconds: 7.3 });
    wavRecording = await ingestRecording(t.app, { from: '07700 900999', durationSec: 7 }, wav);
    mp3Recording = await ingestRecording(t.app, { from: '07700 900999' }, makeMp3(3.2));
    grantId = await grant(t.url, tokens.manager1!, tokens.iglead1!, [wavRecording.id, mp3Recording.id], RELEASE);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['mp3', 'mp3', 24000],
    ['wav', 'pcm_s16le', 8000],
  ])('%s export decodes to the original duration (+-0.1 s); its register entry holds the SHA-256 of the bytes delivered', async (format, codec, sampleRate) => {
    const response = await call(t.url, 'GET', `/recordings/${wavRecording.id}/audio?format=${format}`, { token: tokens.manager1 });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(format === 'mp3' ? 'audio/mpeg' : 'audio/wav');
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${wavRecording.id}.${format}"`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const probe = ffprobe(bytes, format);
    expect(probe).toMatchObject({ codec, sampleRate, channels: 1 });
    expect(Math.abs(probe.duration - 7.3)).toBeLessThanOrEqual(0.1);

    const entry = await eventually(async () => (await releasesFor(wavRecording.id)).find((release) => release.format === format));
    expect(entry).toMatchObject({
      recordingIds: [wavRecording.id],
      sha256: sha256(bytes),
      bytes: bytes.length,
      purpose: RELEASE.purpose,
      requester: RELEASE.requester,
      recipient: RELEASE.recipient,
      authorisedBy: 'iglead1',
      accessRequestId: grantId,
      complete: true,
      channel: 'api',
      recordedBy: 'manager1',
    });
  });

  it('a recording stored as MP3 exports as WAV of its length', async () => {
    const response = await call(t.url, 'GET', `/recordings/${mp3Recording.id}/audio?format=wav`, { token: tokens.manager1 });
    expect(response.status).toBe(200);
    const probe = ffprobe(Buffer.from(await response.arrayBuffer()), 'wav');
    expect(Math.abs(probe.duration - 3.2)).toBeLessThanOrEqual(0.1);
  });

  it('playback serves the stored audio and byte ranges exactly, audited and not registered as a release', async () => {
    // 20 s: longer than one 256 KiB encryption chunk, so ranges cross chunk boundaries.
    const wav = makeWav({ seconds: 20 });
    const wavRecording = await ingestRecording(t.app, { from: '07700 900999' }, wav);
    const grantId = await grant(t.url, tokens.manager1!, tokens.iglead1!, [wavRecording.id], RELEASE);
    const whole = await call(t.url, 'GET', `/recordings/${wavRecording.id}/audio`, { token: tokens.manager1 });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-length')).toBe(String(wav.length));
    expect(Buffer.from(await whole.arrayBuffer()).equals(wav)).toBe(true);

    for (const [header, start, end] of [
      ['bytes=100-199', 100, 199],
      ['bytes=300000-', 300000, wav.length - 1],
      ['bytes=-50', wav.length - 50, wav.length - 1],
      ['bytes=262140-262150', 262140, 262150], // across an encryption chunk boundary
    ] as const) {
      const part = await call(t.url, 'GET', `/recordings/${wavRecording.id}/audio?format=original`, { token: tokens.manager1, headers: { range: header } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes ${start}-${end}/${wav.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(wav.subarray(start, end + 1))).toBe(true);
    }
    const outside = await call(t.url, 'GET', `/recordings/${wavRecording.id}/audio`, { token: tokens.manager1, headers: { range: `bytes=${wav.length}-` } });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${wav.length}`);
    expect((await json(outside)).code).toBe('E_CRYPTO_RANGE');

    expect(await releasesFor(wavRecording.id)).toEqual([]);
    const trail = await call(t.url, 'GET', `/audit?action=recording.play&recordingId=${wavRecording.id}`, { token: tokens.dpo1 });
    const plays = (await json<{ items: Array<{ actor: string; details: { reason: string; grantId: string; range?: string } }> }>(trail)).items;
    expect(plays).toHaveLength(5); // the whole file and four ranges; the refused range never started
    expect(plays.every((entry) => entry.actor === 'manager1' && entry.details.grantId === grantId)).toBe(true);
    expect(plays.map((entry) => entry.details.range)).toContain('100-199');
  });

  it('an export cut off by the client is registered as incomplete, with the bytes that did go', async () => {
    const long = await ingestRecording(t.app, { from: '07700 900999' }, makeWav({ seconds: 120 }));
    await grant(t.url, tokens.manager1!, tokens.iglead1!, [long.id], RELEASE);
    const controller = new AbortController();
    const response = await call(t.url, 'GET', `/recordings/${long.id}/audio?format=wav`, { token: tokens.manager1, signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    const entry = await eventually(async () => (await releasesFor(long.id))[0]);
    expect(entry.complete).toBe(false);
    expect(entry.bytes).toBeGreaterThan(0);
    expect(entry.bytes).toBeLessThan(44 + 120 * 8000 * 2);
  });

  it('a stored object that fails authentication is answered {code, message} before any byte, and nothing is registered', async () => {
    const broken = await ingestRecording(t.app, { from: '07700 900999' }, makeWav({ seconds: 2 }));
    await grant(t.url, tokens.manager1!, tokens.iglead1!, [broken.id], RELEASE);
    const file = path.join(t.config.storage.localDir, broken.storageKey!);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40]! ^= 0xff;
    fs.writeFileSync(file, bytes);
    for (const format of ['mp3', 'original']) {
      const response = await call(t.url, 'GET', `/recordings/${broken.id}/audio?format=${format}`, { token: tokens.manager1 });
      expect(response.status).toBe(500);
      expect(await json(response)).toEqual({ code: 'E_CRYPTO_AUTH', message: expect.any(String) });
    }
    expect(await releasesFor(broken.id)).toEqual([]);
  });

  it('a subject-access ZIP holds exactly the caller\'s recordings (either end of the call, or named), MP3s that decode, a manifest with their SHA-256, and its register entry', async () => {
    const a1 = await ingestRecording(t.app, { from: CALLER_A, startedAt: new Date('2026-01-05T10:00:00Z'), parties: [{ name: 'Ann Caller', role: 'caller' }] }, makeWav({ seconds: 1.5 }));
    const a2 = await ingestRecording(t.app, { direction: 'outbound', from: '+441632960001', to: CALLER_A, startedAt: new Date('2026-01-06T10:00:00Z'), parties: [] }, makeWav({ seconds: 2.5 }));
    const aNamed = await ingestRecording(t.app, { from: CALLER_B, startedAt: new Date('2026-01-07T10:00:00Z'), parties: [{ name: 'Ann Caller', role: 'caller' }] }, makeWav({ seconds: 1 }));
    const b = await ingestRecording(t.app, { from: CALLER_B, parties: [{ name: 'Ann Callerton', role: 'caller' }] }, makeWav({ seconds: 1 }));
    const declined = await ingestRecording(t.app, { from: CALLER_A, consent: 'declined' }, makeWav({ seconds: 1 }));

    const byNumber = await call(t.url, 'POST', '/subject-access', { token: tokens.iglead1, body: { number: '+44 7700 900555', requester: 'Ann Caller', reason: 'SAR received 2026-02-01' } });
    expect(byNumber.status).toBe(200);
    expect(byNumber.headers.get('content-type')).toBe('application/zip');
    const zipBytes = Buffer.from(await byNumber.arrayBuffer());
    const files = await unzip(zipBytes);
    const mp3s = [...files.keys()].filter((name) => name.endsWith('.mp3'));
    expect(mp3s).toHaveLength(2);
    const manifest = parseCsv(files.get('manifest.csv')!.toString('utf8'));
    expect(manifest[0]).toEqual(['file', 'recording_id', 'call_start', 'duration_sec', 'direction', 'from', 'to', 'extension', 'line', 'team', 'category', 'parties', 'mp3_sha256', 'mp3_bytes']);
    const rows = manifest.slice(1);
    expect(rows.map((row) => row[1])).toEqual([a1.id, a2.id]);
    expect(rows.map((row) => row[1])).not.toContain(b.id);
    expect(rows.map((row) => row[1])).not.toContain(declined.id);
    for (const [row, seconds] of [[rows[0]!, 1.5], [rows[1]!, 2.5]] as const) {
      const mp3 = files.get(row[0]!)!;
      expect(sha256(mp3)).toBe(row[12]);
      expect(Number(row[13])).toBe(mp3.length);
      expect(Math.abs(ffprobe(mp3, 'mp3').duration - seconds)).toBeLessThanOrEqual(0.1);
    }
    expect(rows[1]![6]).toBe("'+447700900555"); // a number is text to a spreadsheet, never a formula

    const entry = await eventually(async () => (await releasesFor(a1.id)).find((release) => release.format === 'zip'));
    expect(entry).toMatchObject({ sha256: sha256(zipBytes), bytes: zipBytes.length, purpose: 'subject_access', requester: 'Ann Caller', recipient: 'Ann Caller', authorisedBy: 'iglead1', channel: 'subject-access', complete: true });
    expect([...entry!.recordingIds].sort()).toEqual([a1.id, a2.id].sort());

    const byName = await call(t.url, 'POST', '/subject-access', { token: tokens.dpo1, body: { name: 'ann  CALLER', requester: 'Ann Caller', reason: 'SAR received 2026-02-01' } });
    const named = parseCsv((await unzip(Buffer.from(await byName.arrayBuffer()))).get('manifest.csv')!.toString('utf8')).slice(1);
    expect(named.map((row) => row[1])).toEqual([a1.id, aNamed.id]);

    const nobody = await call(t.url, 'POST', '/subject-access', { token: tokens.iglead1, body: { number: '07700 900000', requester: 'someone', reason: 'SAR received 2026-02-01' } });
    expect(nobody.status).toBe(404);
    const noSubject = await call(t.url, 'POST', '/subject-access', { token: tokens.iglead1, body: { requester: 'someone', reason: 'SAR received 2026-02-01' } });
    expect(noSubject.status).toBe(400);
  });

  it('the register exports as CSV: every entry, cells that could run as formulas neutralised', async () => {
    const created = await call(t.url, 'POST', '/access-requests', {
      token: tokens.manager1,
      body: { reason: 'complaint handling', recordingIds: [wavRecording.id], purpose: 'complaint', requester: '=HYPERLINK("http://x")', recipient: 'Solicitor, Smith & Co' },
    });
    const { id } = await json<{ id: string }>(created);
    await call(t.url, 'POST', `/access-requests/${id}/approve`, { token: tokens.iglead1, body: {} });
    const manual = await call(t.url, 'POST', '/releases', { token: tokens.manager1, body: { accessRequestId: id, format: 'transcript', sha256: 'CD'.repeat(32), notes: 'typed transcript, posted' } });
    expect(manual.status).toBe(201);
    const response = await call(t.url, 'GET', '/releases.csv', { token: tokens.manager1 });
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parseCsv(await response.text());
    expect(rows[0]).toEqual(['released_at', 'release_id', 'recordings', 'requester', 'recipient', 'purpose', 'authorised_by', 'dpo_approved_by', 'access_request_id', 'format', 'sha256', 'bytes', 'complete', 'channel', 'recorded_by', 'notes']);
    const listed = (await json<{ items: Release[] }>(await call(t.url, 'GET', '/releases?limit=500', { token: tokens.manager1 }))).items;
    expect(rows.length - 1).toBe(listed.length);
    const transcript = rows.find((row) => row[9] === 'transcript')!;
    expect(transcript).toMatchObject({ 3: '\'=HYPERLINK("http://x")', 4: 'Solicitor, Smith & Co', 5: 'complaint', 6: 'iglead1', 10: 'cd'.repeat(32), 13: 'manual', 14: 'manager1' });

    const bad = await call(t.url, 'POST', '/releases', { token: tokens.manager1, body: { accessRequestId: id, format: 'transcript', sha256: 'not-a-hash' } });
    expect(bad.status).toBe(400);
  });

  it('recordings being destroyed or destroyed are never offered as if they held audio', async () => {
    const gone = await ingestRecording(t.app, { from: '07700 900777' });
    const going = await ingestRecording(t.app, { from: '07700 900777' });
    await grant(t.url, tokens.manager1!, tokens.iglead1!, [gone.id, going.id], RELEASE);
    await t.app.db.knex('recordings').where({ id: gone.id }).update({ retain_until: t.app.db.codec.time(new Date('2020-01-01T00:00:00Z')) });
    expect((await t.app.retention.sweep()).destroyed).toBe(1);
    await t.app.db.knex('recordings').where({ id: going.id }).update({ status: 'destroying' });

    const search = await call(t.url, 'GET', '/recordings?number=07700900777', { token: tokens.manager1 });
    expect((await json<{ items: unknown[] }>(search)).items).toEqual([]);
    const byDate = await call(t.url, 'GET', '/recordings?limit=100', { token: tokens.manager1 });
    const listed = (await json<{ items: Array<{ id: string }> }>(byDate)).items.map((item) => item.id);
    expect(listed).not.toContain(gone.id);
    expect(listed).not.toContain(going.id);

    const view = await call(t.url, 'GET', `/recordings/${gone.id}`, { token: tokens.manager1 });
    expect(view.status).toBe(410);
    expect((await json(view)).code).toBe('E_RECORDING_DESTROYED');
    expect(await json(await call(t.url, 'GET', `/recordings/${going.id}`, { token: tokens.manager1 }))).toMatchObject({ status: 'destroying', hasAudio: false, format: null, sha256: null });
    for (const format of ['original', 'mp3', 'wav']) {
      const destroyed = await call(t.url, 'GET', `/recordings/${gone.id}/audio?format=${format}`, { token: tokens.manager1 });
      expect([destroyed.status, (await json(destroyed)).code]).toEqual([410, 'E_RECORDING_DESTROYED']);
      const destroying = await call(t.url, 'GET', `/recordings/${going.id}/audio?format=${format}`, { token: tokens.manager1 });
      expect([destroying.status, (await json(destroying)).code]).toEqual([409, 'E_RECORDING_BEING_DESTROYED']);
    }
    const sar = await call(t.url, 'POST', '/subject-access', { token: tokens.iglead1, body: { number: '07700 900777', requester: 'the caller', reason: 'SAR received 2026-02-02' } });
    expect(sar.status).toBe(404);
  });

  it('a search by number finds calls at either end, in any format, newest first, and pages through them without loss or repeat', async () => {
    const made: Recording[] = [];
    for (let i = 0; i < 7; i += 1) {
      const outbound = i % 2 === 1;
      made.push(await ingestRecording(t.app, { direction: outbound ? 'outbound' : 'inbound', from: outbound ? '+441632960001' : '07700 900888', to: outbound ? '+44 7700 900888' : '+441632960001', startedAt: new Date(Date.UTC(2026, 0, 20, 9, i % 3, 0)) }));
    }
    const expected = [...made].sort((a, b) => b.callTime.getTime() - a.callTime.getTime() || (a.id < b.id ? 1 : -1)).map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/recordings?number=${encodeURIComponent('447700900888')}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await json<{ items: Array<{ id: string }>; nextCursor: string | null }>(await call(t.url, 'GET', query, { token: tokens.manager1 }));
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expected);
  });
});

describe('exports beyond the conversion limit', () => {
  let t: TestApp;
  let tokens: Record<string, string>;
  let long: Recording;
  let short: Recording;

  beforeAll(async () => {
    t = await startTestApp({ workers: false, env: { ...ACCESS_ENV, CALLVAULT_MAX_CONCURRENT_EXPORTS: '1' } });
    await addUser(t.app, 'manager1', 'manager');
    await addUser(t.app, 'iglead1', 'ig_lead');
    tokens = { manager1: await login(t.url, 'manager1'), iglead1: await login(t.url, 'iglead1') };
    // Long enough that its MP3 outgrows the socket buffers: unread, the conversion waits mid-way.
    long = await ingestRecording(t.app, { from: '07700 900777' }, makeWav({ seconds: 600 }));
    short = await ingestRecording(t.app, { from: '07700 900777' }, makeWav({ seconds: 2 }));
    await grant(t.url, tokens.manager1!, tokens.iglead1!, [long.id, short.id], RELEASE);
  });
  afterAll(async () => t?.close());

  const exportsAudited = async (): Promise<number> => (await t.app.access.audit.list({ action: 'recording.export', limit: 100 })).items.length;

  it('a conversion past the limit is answered 503 E_BUSY and leaves no audit or register entry; once the first ends, the next runs', async () => {
    const first = await call(t.url, 'GET', `/recordings/${long.id}/audio?format=mp3`, { token: tokens.manager1 });
    expect(first.status).toBe(200);
    const auditedBefore = await exportsAudited();

    const refused = await call(t.url, 'GET', `/recordings/${short.id}/audio?format=mp3`, { token: tokens.manager1 });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'E_BUSY' });
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await exportsAudited()).toBe(auditedBefore);
    // Playback of the stored file converts nothing and is not held up.
    const playback = await call(t.url, 'GET', `/recordings/${short.id}/audio`, { token: tokens.manager1 });
    expect(playback.status).toBe(200);
    await playback.arrayBuffer();

    expect((await first.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
    const next = await eventually(async () => {
      const response = await call(t.url, 'GET', `/recordings/${short.id}/audio?format=mp3`, { token: tokens.manager1 });
      if (response.status === 200) return response;
      await response.arrayBuffer();
      return undefined;
    }, 10_000, 'the slot to be free again');
    expect((await next.arrayBuffer()).byteLength).toBeGreaterThan(0);
    // Both conversions that ran are in the register; the refused one is not.
    await eventually(async () => (await t.app.access.audit.list({ action: 'release.recorded', limit: 10 })).items.length === 2, 10_000, 'both releases to be registered');
  });
});
