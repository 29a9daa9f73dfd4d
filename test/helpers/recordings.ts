import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { App } from '../../src/app';
import type { Recording } from '../../src/db/recordings';
import type { CallMetadata } from '../../src/ingest/call-metadata';
import { genericEventToMetadata, validateGenericEvent } from '../../src/providers/generic/event';
import { genericEvent } from './senders';
import { makeWav } from './wav';

/**
 * Recordings made through the real ingest path (storeUpload: sniff, encrypt, store, verify,
 * index, as the multipart webhook and `import` do), with the details a test needs.
 */

const SMALL_WAV = makeWav({ seconds: 0.2 });

export const TEST_CALLER = { number: '+447700900123', display: '07700 900123', name: 'Jane Patient' };

export async function ingestRecording(app: App, overrides: Partial<CallMetadata> = {}, audio: Buffer = SMALL_WAV): Promise<Recording> {
  const metadata: CallMetadata = {
    source: 'generic',
    sourceRecordingId: `r-${crypto.randomUUID()}`,
    sourceEventId: `e-${crypto.randomUUID()}`,
    callId: `c-${crypto.randomUUID()}`,
    direction: 'inbound',
    from: TEST_CALLER.display,
    to: '+441632960001',
    extension: '201',
    line: 'main',
    team: 'care-coordination',
    staff: ['jsmith'],
    parties: [{ name: TEST_CALLER.name, role: 'caller' }],
    startedAt: new Date('2026-01-10T09:00:00Z'),
    consent: 'recorded',
    category: 'general',
    ...overrides,
  };
  const result = await app.ingest.storeUpload({ metadata, audio: Readable.from([audio]) });
  const recording = await app.recordings.get(result.recordingId);
  if (!recording) throw new Error('recording not indexed');
  return recording;
}

/** Several recordings of distinct audio, stored as the import source. */
export async function storeRecordings(app: App, count: number, options: { seconds?: number } = {}): Promise<Recording[]> {
  const stored: Recording[] = [];
  for (let index = 0; index < count; index += 1) {
    const wav = makeWav({ seconds: options.seconds ?? 1, frequency: 300 + index * 10 });
    const metadata = genericEventToMetadata(validateGenericEvent(genericEvent({ recordingId: `seed-${crypto.randomUUID()}` })), 'import');
    const result = await app.ingest.storeUpload({ metadata, audio: Readable.from([wav]) });
    stored.push((await app.recordings.get(result.recordingId))!);
  }
  return stored;
}

/** The file of a stored object in the local adapter's folder. */
export function objectFile(objectsDir: string, storageKey: string): string {
  return path.join(objectsDir, ...storageKey.split('/'));
}

/** Flips one byte near the end of a stored object (inside the last chunk's ciphertext). */
export function corruptObject(file: string): void {
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 40]! ^= 0x01;
  fs.writeFileSync(file, bytes);
}
