import crypto from 'node:crypto';
import type { App } from '../../src/app';
import type { Recording } from '../../src/db/recordings';
import type { Job, JobStatus } from '../../src/queue/job-store';
import { eventually } from './test-app';

/** Read-only looks into a running app, for assertions. */

export async function objectKeys(app: App, prefix = 'recordings/'): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of app.store.list(prefix)) keys.push(item.key);
  return keys.sort();
}

export async function jobFor(app: App, source: string, sourceRecordingId: string): Promise<Job | null> {
  return app.jobs.findBySource(source, sourceRecordingId);
}

export async function waitForJob(app: App, source: string, sourceRecordingId: string, statuses: JobStatus[], timeoutMs = 20_000): Promise<Job> {
  return eventually(async () => {
    const job = await app.jobs.findBySource(source, sourceRecordingId);
    return job && statuses.includes(job.status) ? job : undefined;
  }, timeoutMs, `job ${source}/${sourceRecordingId} to be ${statuses.join(' or ')}`);
}

export async function waitForRecording(app: App, source: string, sourceRecordingId: string, timeoutMs = 20_000): Promise<Recording> {
  return eventually(() => app.recordings.findBySource(source, sourceRecordingId), timeoutMs, `recording ${source}/${sourceRecordingId}`);
}

/** The decrypted audio of a stored recording, and its SHA-256. */
export async function readAudio(app: App, recording: Recording): Promise<{ bytes: Buffer; sha256: string }> {
  const parts: Buffer[] = [];
  const stream = await app.vault.open({
    storageKey: recording.storageKey!,
    keyId: recording.keyId!,
    wrappedKey: recording.wrappedKey!,
    plaintextSize: recording.plaintextSize!,
    sha256: recording.sha256!,
  });
  for await (const part of stream) parts.push(part as Buffer);
  const bytes = Buffer.concat(parts);
  return { bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

export async function countRows(app: App, table: string): Promise<number> {
  const [row] = await app.db.knex(table).count({ n: '*' });
  return Number(row?.n ?? 0);
}
