import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../config';
import { buildParts, closeParts, createApp, type App } from '../../src/app';
import { createSilentLogger } from '../../src/log/logger';
import { createTestDatabase, describeEachBackend, type TestDatabase } from '../helpers/backends';
import { freePort, spawnServe, type ChildServe } from '../helpers/child';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { objectKeys, readAudio } from '../helpers/inspect';
import { genericEvent, postGeneric } from '../helpers/senders';
import { GENERIC_SECRET, eventually } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/**
 * A `callvault serve` process killed with SIGKILL at each point of an ingest, then a new one
 * started on the same data: afterwards there is exactly one complete, verified recording, one
 * object, no orphan and no leftover temporary file.
 */
describeEachBackend('crash safety: kill -9 mid-ingest, then restart', (backend) => {
  const wav = makeWav({ seconds: 30 });
  const wavSha = crypto.createHash('sha256').update(wav).digest('hex');
  let pbx: FakeServer;
  let slow = false;

  beforeAll(async () => {
    pbx = await startFakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
      if (!slow) return res.end(wav);
      // Send half, then hold the connection open: the process is killed while it streams.
      res.write(wav.subarray(0, wav.length / 2));
    });
  });
  afterAll(async () => pbx?.close());

  async function setup(): Promise<{ env: Record<string, string>; database: TestDatabase; cleanup: () => void; dataDir: string }> {
    const { dir, cleanup } = tempDir('callvault-crash');
    const database = await createTestDatabase(backend, dir);
    const port = await freePort();
    const env = {
      PORT: String(port),
      CALLVAULT_DATA_DIR: dir,
      CALLVAULT_DATABASE_URL: database.url,
      CALLVAULT_GENERIC_SECRET: GENERIC_SECRET,
      CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1',
      CALLVAULT_JOB_LEASE_MS: '1000',
      CALLVAULT_JOB_POLL_MS: '100',
      CALLVAULT_JOB_BACKOFF_BASE_MS: '100',
      CALLVAULT_JOB_BACKOFF_MAX_MS: '500',
      CALLVAULT_LOG_LEVEL: 'warn',
    };
    return { env, database, cleanup, dataDir: dir };
  }

  async function inspect(env: Record<string, string>, body: (app: App) => Promise<void>): Promise<void> {
    const parts = buildParts(loadConfig(env), { logger: createSilentLogger() });
    try {
      await body(createApp(parts));
    } finally {
      await closeParts(parts);
    }
  }

  const killPoints: Array<[string, string | null]> = [
    ['while the audio is still streaming in', null],
    ['after the pending object key is recorded, before any byte is written', 'ingest.after-pending'],
    ['after the object is written, before it is verified', 'ingest.after-store'],
    ['after verification, before the index commit', 'ingest.after-verify'],
    ['right after the index commit', 'ingest.after-index'],
  ];

  it.each(killPoints)('killed %s', async (_name, failpoint) => {
    const { env, database, cleanup, dataDir } = await setup();
    let first: ChildServe | null = null;
    let second: ChildServe | null = null;
    try {
      slow = failpoint === null;
      first = spawnServe(failpoint ? { ...env, CALLVAULT_FAILPOINT: failpoint } : env);
      await first.waitReady();
      const event = genericEvent({ recordingUrl: `${pbx.url}/rec/crash.wav` });
      const response = await postGeneric(first.url, event);
      expect(response.status).toBe(202);

      if (failpoint) {
        // The process kills itself at the failpoint.
        await eventually(async () => first!.process.exitCode !== null || first!.process.signalCode !== null, 20_000, 'the process to die at the failpoint');
        expect(first.process.signalCode).toBe('SIGKILL');
      } else {
        await eventually(async () => pbx.requests.length > 0 && fs.readdirSync(path.join(dataDir, 'objects', '.incoming')).length > 0, 20_000, 'the download to be under way');
        await first.kill('SIGKILL');
      }

      slow = false;
      second = spawnServe(env);
      await second.waitReady();
      let recordingId = '';
      await inspect(env, async (app) => {
        const recording = await eventually(async () => {
          const found = await app.recordings.findBySource('generic', event.recordingId as string);
          return found?.status === 'stored' ? found : undefined;
        }, 30_000, 'the recording to be stored after restart');
        recordingId = recording.id;
        expect((await readAudio(app, recording)).sha256).toBe(wavSha);
        await expect(app.vault.verify({ storageKey: recording.storageKey!, keyId: recording.keyId!, wrappedKey: recording.wrappedKey!, plaintextSize: recording.plaintextSize!, sha256: recording.sha256! })).resolves.toMatchObject({ sha256: wavSha });
        const job = await app.jobs.findBySource('generic', event.recordingId as string);
        expect(job).toMatchObject({ status: 'succeeded', pendingObjectKey: null });
        expect(await app.db.knex('recordings').where({ source_recording_id: event.recordingId as string })).toHaveLength(1);
        // Exactly the indexed object: the killed attempt's object (if any) was removed.
        expect(await objectKeys(app)).toEqual([recording.storageKey]);
      });
      expect(recordingId).not.toBe('');
      expect(fs.readdirSync(path.join(dataDir, 'objects', '.incoming'))).toEqual([]);
    } finally {
      await first?.kill('SIGKILL');
      await second?.kill('SIGTERM');
      await database.drop();
      cleanup();
    }
  });
});
