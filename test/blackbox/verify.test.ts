import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ManualClock } from '../../src/clock';
import { IntegrityRepository, type StoredRecordingRef } from '../../src/db/integrity';
import type { Recording } from '../../src/db/recordings';
import { checkRecordings } from '../../src/integrity/recording-check';
import { describeEachBackend } from '../helpers/backends';
import { runCli } from '../helpers/child';
import { corruptObject, ingestRecording, objectFile, storeRecordings } from '../helpers/recordings';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { startTestApp, type TestApp } from '../helpers/test-app';

/** `callvault verify` as an operator runs it against a real store and index. */

interface VerifyJson {
  ok: boolean;
  recordings: { checked: number; ok: number; problems: Array<{ recordingId: string; kind: string; code: string }> } | null;
  storage: { objects: number; inProgress: number; orphans: Array<{ key: string; removed: boolean }>; missing: Array<{ recordingId: string }> } | null;
  removal: { removed: number; tooRecent: number } | null;
}

describeEachBackend('verify while recordings are destroyed on schedule', (backend) => {
  let t: TestApp;
  const clock = new ManualClock('2026-11-21T10:00:00Z');
  beforeAll(async () => {
    t = await startTestApp({ backend, workers: false, clock });
  });
  afterAll(async () => t?.close());

  it('a recording destroyed after it was listed is left out, not reported missing', async () => {
    const kept = await ingestRecording(t.app, { category: 'general', startedAt: new Date('2026-11-01T09:00:00Z') });
    const due = await ingestRecording(t.app, { category: 'admin', startedAt: new Date('2026-10-01T09:00:00Z') });
    const repo = new IntegrityRepository(t.app.db);
    const listed: StoredRecordingRef[] = [];
    for await (const ref of repo.allStored()) listed.push(ref);
    expect(listed.map((ref) => ref.id).sort()).toEqual([kept.id, due.id].sort());

    // The nightly sweep runs between the listing and the check.
    expect((await t.app.retention.sweep()).destroyed).toBe(1);

    const careful = await checkRecordings(listed, t.app.vault, { concurrency: 2, stillStored: (ref) => repo.isStoredAt(ref.id, ref.storageKey) });
    expect(careful).toMatchObject({ checked: 1, ok: 1, problems: [] });
    // Without the second look the same run would have raised a false alarm.
    const naive = await checkRecordings(listed, t.app.vault, { concurrency: 2 });
    expect(naive.problems).toEqual([expect.objectContaining({ recordingId: due.id, kind: 'missing' })]);
  });
});

describeEachBackend('verify: corrupt, missing and orphaned objects', (backend) => {
  let t: TestApp;
  let objects: string;

  beforeEach(async () => {
    t = await startTestApp({ backend, workers: false });
    objects = t.config.storage.localDir;
  });
  afterEach(async () => t?.close());

  it('a clean store passes --all, --sample and --orphans with exit 0', async () => {
    await storeRecordings(t.app, 3);
    const all = await runCli(['verify', '--all'], t.env);
    expect(all.stdout).toMatch(/checked 3 recording\(s\).*3 ok, 0 corrupt, 0 missing/);
    expect(all.stdout).toMatch(/3 object\(s\) under recordings\/; 0 orphaned/);
    expect(all.stdout).toMatch(/no problems found/);
    expect(all.code).toBe(0);
    // The progress report goes to stderr, leaving stdout for the result.
    expect(all.stderr).toMatch(/verifying/);
    expect((await runCli(['verify', '--sample', '2'], t.env)).stdout).toMatch(/checked 2 recording/);
    expect((await runCli(['verify', '--orphans'], t.env)).code).toBe(0);
  });

  it('reports a corrupted, a missing and an orphaned object and exits 1; an unfinished job\'s object is not an orphan', async () => {
    const [corrupt, missing, intact] = (await storeRecordings(t.app, 3)) as [Recording, Recording, Recording];
    corruptObject(objectFile(objects, corrupt.storageKey!));
    fs.rmSync(objectFile(objects, missing.storageKey!));
    // An orphan: a whole object no recording points to (as a crash before the index commit would leave).
    const orphanKey = t.app.store.newRecordingKey();
    fs.mkdirSync(path.dirname(objectFile(objects, orphanKey)), { recursive: true });
    fs.copyFileSync(objectFile(objects, intact.storageKey!), objectFile(objects, orphanKey));
    // Work in progress: an upload job holds its pending object key while the object is being written.
    const pendingKey = t.app.store.newRecordingKey();
    await t.app.jobs.enqueue({ kind: 'upload', source: 'import', sourceRecordingId: 'in-flight', payload: {}, maxAttempts: 1 }, new Date(), { owner: 'someone-else', leaseMs: 600_000, objectKey: pendingKey });
    // ...and the object an interrupted earlier attempt left, which its next attempt will delete.
    const abandonedKey = t.app.store.newRecordingKey();
    await t.app.db.knex('jobs').where({ source_recording_id: 'in-flight' }).update({ abandoned_object_key: abandonedKey });
    for (const key of [pendingKey, abandonedKey]) {
      fs.mkdirSync(path.dirname(objectFile(objects, key)), { recursive: true });
      fs.writeFileSync(objectFile(objects, key), crypto.randomBytes(100));
    }

    const result = await runCli(['verify', '--all', '--json'], t.env);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as VerifyJson;
    expect(report.ok).toBe(false);
    expect(report.recordings!.checked).toBe(3);
    expect(report.recordings!.problems).toEqual([
      expect.objectContaining({ recordingId: corrupt.id, kind: 'corrupt', code: 'E_CRYPTO_AUTH' }),
      expect.objectContaining({ recordingId: missing.id, kind: 'missing', code: 'E_STORAGE_NOT_FOUND' }),
    ]);
    expect(report.storage!.orphans.map((orphan) => orphan.key)).toEqual([orphanKey]);
    expect(report.storage!.missing.map((entry) => entry.recordingId)).toEqual([missing.id]);
    expect(report.storage!.inProgress).toBe(2);

    const text = await runCli(['verify', '--all'], t.env);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`CORRUPT\\s+${corrupt.id}`));
    expect(text.stdout).toMatch(new RegExp(`MISSING\\s+${missing.id}`));
    expect(text.stdout).toContain(`ORPHAN     ${orphanKey}`);
    expect(text.stdout).not.toContain(pendingKey);
    expect(text.stdout).not.toContain(abandonedKey);
    expect(text.stdout).toMatch(/3 problem\(s\) found/);

    // --orphans compares storage with the index without decrypting: the corrupt object is not its business.
    const orphansOnly = JSON.parse((await runCli(['verify', '--orphans', '--json'], t.env)).stdout) as VerifyJson;
    expect(orphansOnly.recordings).toBeNull();
    expect(orphansOnly.storage!.orphans.map((orphan) => orphan.key)).toEqual([orphanKey]);

    // Removal honours the grace period: a young orphan stays; an old one goes; the in-progress object stays.
    const young = JSON.parse((await runCli(['verify', '--orphans', '--remove-orphans', '--older-than', '24h', '--json'], t.env)).stdout) as VerifyJson;
    expect(young.removal).toEqual(expect.objectContaining({ removed: 0, tooRecent: 1 }));
    expect(fs.existsSync(objectFile(objects, orphanKey))).toBe(true);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    fs.utimesSync(objectFile(objects, orphanKey), twoDaysAgo, twoDaysAgo);
    fs.utimesSync(objectFile(objects, pendingKey), twoDaysAgo, twoDaysAgo);
    fs.utimesSync(objectFile(objects, abandonedKey), twoDaysAgo, twoDaysAgo);
    const removed = await runCli(['verify', '--orphans', '--remove-orphans', '--older-than', '24h'], t.env);
    expect(removed.stdout).toMatch(/removed 1 orphaned object/);
    expect(fs.existsSync(objectFile(objects, orphanKey))).toBe(false);
    expect(fs.existsSync(objectFile(objects, pendingKey))).toBe(true);
    expect(fs.existsSync(objectFile(objects, abandonedKey))).toBe(true);
    expect(fs.existsSync(objectFile(objects, intact.storageKey!))).toBe(true);
    // The missing object is still a problem.
    expect(removed.code).toBe(1);
  });

  it('refuses unclear requests with exit 2', async () => {
    expect((await runCli(['verify'], t.env)).code).toBe(2);
    expect((await runCli(['verify', '--all', '--sample', '3'], t.env)).code).toBe(2);
    expect((await runCli(['verify', '--all', '--remove-orphans'], t.env)).code).toBe(2);
    expect((await runCli(['verify', '--orphans', '--remove-orphans', '--older-than', '10m'], t.env)).code).toBe(2);
  });
});

describe('verify against S3 (s3rver)', () => {
  let s3: S3Server;
  let t: TestApp;
  beforeAll(async () => {
    s3 = await startS3Server({ bucket: 'verify-bucket' });
    t = await startTestApp({ s3, workers: false });
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
  });

  it('finds an orphan and a missing object in a bucket', async () => {
    const [kept, lost] = (await storeRecordings(t.app, 2)) as [Recording, Recording];
    await t.app.store.delete(lost.storageKey!);
    const orphanKey = t.app.store.newRecordingKey();
    await t.app.store.put(orphanKey, fs.createReadStream(__filename));
    const result = await runCli(['verify', '--all', '--json'], t.env);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as VerifyJson;
    expect(report.recordings!.problems).toEqual([expect.objectContaining({ recordingId: lost.id, kind: 'missing' })]);
    expect(report.storage!.orphans.map((orphan) => orphan.key)).toEqual([orphanKey]);
    expect(report.storage!.objects).toBe(2);
    expect(kept.status).toBe('stored');
  });
});
