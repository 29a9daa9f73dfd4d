import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { App } from '../../src/app';
import type { Recording } from '../../src/db/recordings';
import { genericEventToMetadata, validateGenericEvent } from '../../src/providers/generic/event';
import { genericEvent } from './senders';
import { makeWav } from './wav';

/** Recordings stored through the real upload path (as the multipart webhook and `import` do), for suites that need some in the index. */
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
