import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { App } from '../../src/app';
import type { Recording } from '../../src/db/recordings';
import type { CallMetadata } from '../../src/ingest/call-metadata';
import { makeWav } from './wav';

/**
 * Recordings made through the real ingest path (storeUpload: sniff, encrypt, store, verify,
 * index), with the details a test needs.
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
