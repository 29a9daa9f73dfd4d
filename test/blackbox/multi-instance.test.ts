import crypto from 'node:crypto';
import { loadConfig } from '../../config';
import { buildParts, closeParts, createApp, type App } from '../../src/app';
import { createSilentLogger } from '../../src/log/logger';
import { createTestDatabase, pgUrl, type TestDatabase } from '../helpers/backends';
import { freePort, spawnServe, type ChildServe } from '../helpers/child';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { objectKeys } from '../helpers/inspect';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { genericEvent, genericSignature } from '../helpers/senders';
import { GENERIC_SECRET, eventually } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';

/**
 * Scale-out: three `callvault serve` processes sharing one PostgreSQL database and one S3
 * bucket behind a round-robin "load balancer"; 1,000 events, a third of them duplicates (some
 * sent to another instance at the same time); one instance killed -9 part-way. Afterwards:
 * exactly the distinct recordings are stored, each once, every object verifies, and the bucket
 * holds nothing else.
 */
const run = pgUrl ? describe : describe.skip;

run('three instances on one PostgreSQL database and one bucket', () => {
  const TOTAL = 1000;
  let s3: S3Server;
  let pbx: FakeServer;
  let database: TestDatabase;
  let cleanup: () => void;
  let env: Record<string, string>;
  const instances: ChildServe[] = [];
  const audioBySource = new Map<string, Buffer>();

  beforeAll(async () => {
    s3 = await startS3Server({ bucket: 'shared' });
    pbx = await startFakeServer((req, res) => {
      const id = /\/rec\/([\w-]+)\.wav/.exec(req.url ?? '')?.[1] ?? '';
      const audio = audioBySource.get(id) ?? makeWav({ seconds: 0.3 });
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': audio.length }).end(audio);
    });
    const temp = tempDir('callvault-multi');
    cleanup = temp.cleanup;
    database = await createTestDatabase('pg', temp.dir);
    env = {
      CALLVAULT_DATABASE_URL: database.url,
      CALLVAULT_GENERIC_SECRET: GENERIC_SECRET,
      CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1',
      CALLVAULT_STORAGE: 's3',
      CALLVAULT_S3_ENDPOINT: s3.endpoint,
      CALLVAULT_S3_BUCKET: 'shared',
      CALLVAULT_S3_REGION: 'us-east-1',
      CALLVAULT_S3_ACCESS_KEY_ID: 'S3RVER',
      CALLVAULT_S3_SECRET_ACCESS_KEY: 'S3RVER',
      CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
      CALLVAULT_S3_CHECKSUM: 'when_required',
      // The instances share one key folder (in production: the same key files on every instance).
      CALLVAULT_KEYS_DIR: `${temp.dir}/keys`,
      CALLVAULT_JOB_LEASE_MS: '2000',
      CALLVAULT_JOB_POLL_MS: '200',
      CALLVAULT_JOB_BACKOFF_BASE_MS: '100',
      CALLVAULT_JOB_BACKOFF_MAX_MS: '1000',
      CALLVAULT_LOG_LEVEL: 'warn',
    };
    // Migrations and the master key, once, before the instances start (as an operator would).
    const parts = buildParts(loadConfig({ ...env, CALLVAULT_DATA_DIR: `${temp.dir}/setup` }), { logger: createSilentLogger() });
    await parts.db.migrate();
    await closeParts(parts);
    for (let i = 0; i < 3; i += 1) {
      const port = await freePort();
      instances.push(spawnServe({ ...env, PORT: String(port), CALLVAULT_DATA_DIR: `${temp.dir}/instance-${i}`, CALLVAULT_PUBLIC_URL: `http://127.0.0.1:${port}` }));
    }
    await Promise.all(instances.map((instance) => instance.waitReady()));
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.kill('SIGTERM')));
    await pbx?.close();
    await s3?.close();
    await database?.drop();
    cleanup?.();
  });

  /** A load balancer: round robin over the instances it has not seen fail, the next one on a connection failure. */
  let next = 0;
  let lastProblem = '';
  const down = new Set<ChildServe>();
  async function send(body: string): Promise<number> {
    for (let tries = 0; tries < instances.length * 3; tries += 1) {
      const live = instances.filter((candidate) => !down.has(candidate));
      const instance = live[next++ % live.length]!;
      try {
        const response = await fetch(`${instance.url}/webhooks/generic`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-callvault-signature': genericSignature(body) },
          body,
        });
        if (response.status === 202) {
          await response.arrayBuffer();
          return response.status;
        }
        lastProblem = `${response.status} ${await response.text().catch(() => '')}`;
      } catch (error) {
        // Connection refused: the instance is gone (health check failed); a reset on a live one: just retry.
        lastProblem = `${String(error)} ${String((error as { cause?: unknown }).cause)}`;
        if (/ECONNREFUSED/.test(lastProblem)) down.add(instance);
      }
    }
    throw new Error(`no instance accepted the event: ${lastProblem}\n${instances.map((i, n) => `instance ${n} exit=${i.process.exitCode} signal=${i.process.signalCode}\n${i.output.slice(-5).join('\n')}`).join('\n')}`);
  }

  it('stores exactly the distinct recordings, each once, verified, with no orphans', async () => {
    const distinct = Math.ceil((TOTAL * 2) / 3);
    const events = Array.from({ length: distinct }, (_, i) => {
      const recordingId = `multi-${i}-${crypto.randomUUID().slice(0, 8)}`;
      audioBySource.set(recordingId, makeWav({ seconds: 0.2 + (i % 5) * 0.05, frequency: 300 + i }));
      return JSON.stringify(genericEvent({ recordingId, recordingUrl: `${pbx.url}/rec/${recordingId}.wav` }));
    });
    // A third are duplicates: re-sent, some at the same moment as the original, to other instances.
    const deliveries = [...events, ...events.slice(0, TOTAL - distinct)];
    for (let i = deliveries.length - 1; i > 0; i -= 1) {
      const j = crypto.randomInt(i + 1);
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }

    let sent = 0;
    const killAt = Math.floor(TOTAL * 0.4);
    const senders = Array.from({ length: 12 }, async () => {
      while (sent < deliveries.length) {
        const body = deliveries[sent++]!;
        if (sent === killAt) await instances[1]!.kill('SIGKILL');
        await send(body);
      }
    });
    await Promise.all(senders);
    expect(instances[1]!.process.signalCode).toBe('SIGKILL');

    const parts = buildParts(loadConfig({ ...env, CALLVAULT_DATA_DIR: `${env.CALLVAULT_KEYS_DIR}/../inspect` }), { logger: createSilentLogger() });
    try {
      const app: App = createApp(parts);
      await eventually(
        async () => {
          const [row] = await app.db.knex('recordings').where({ status: 'stored' }).count({ n: '*' });
          return Number(row?.n) === distinct;
        },
        120_000,
        `${distinct} recordings stored`,
      ).catch(async (error: Error) => {
        const states = await app.db.knex('jobs').select('status', 'last_error_code').count({ n: '*' }).groupBy('status', 'last_error_code');
        const [count] = await app.db.knex('recordings').count({ n: '*' });
        throw new Error(`${error.message}; recordings ${JSON.stringify(count)}; jobs ${JSON.stringify(states)}\n${instances.map((i, n) => `instance ${n}: ${i.output.slice(-5).join('\n')}`).join('\n')}`);
      });
      const rows = await app.db.knex('recordings').select('source_recording_id', 'storage_key');
      expect(rows).toHaveLength(distinct);
      expect(new Set(rows.map((row: { source_recording_id: string }) => row.source_recording_id)).size).toBe(distinct);
      const jobs = await app.db.knex('jobs').whereNot({ status: 'succeeded' });
      expect(jobs).toEqual([]);

      // Every object verifies against its recorded SHA-256.
      for (const row of await app.db.knex('recordings').select('id')) {
        const recording = (await app.recordings.get(row.id))!;
        const result = await app.vault.verify({ storageKey: recording.storageKey!, keyId: recording.keyId!, wrappedKey: recording.wrappedKey!, plaintextSize: recording.plaintextSize!, sha256: recording.sha256! });
        expect(result.sha256).toBe(crypto.createHash('sha256').update(audioBySource.get(recording.sourceRecordingId)!).digest('hex'));
      }
      // The bucket holds exactly the indexed objects: nothing the killed instance was writing is left.
      const stored = rows.map((row: { storage_key: string }) => row.storage_key).sort();
      const inBucket = await objectKeys(app);
      const extra = inBucket.filter((key) => !stored.includes(key));
      const missing = stored.filter((key) => !inBucket.includes(key));
      if (extra.length > 0 || missing.length > 0) {
        const related = await app.db.knex('jobs').whereIn('pending_object_key', extra).orWhereIn('abandoned_object_key', extra);
        throw new Error(`bucket differs from the index: extra ${JSON.stringify(extra)} missing ${JSON.stringify(missing)} jobs ${JSON.stringify(related)}`);
      }
    } finally {
      await closeParts(parts);
    }
  }, 240_000);
});
