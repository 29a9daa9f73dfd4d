import { describeEachBackend } from '../helpers/backends';
import { freePort, spawnServe, type ChildServe } from '../helpers/child';
import { startFakeServer, type FakeServer } from '../helpers/http-server';
import { waitForRecording } from '../helpers/inspect';
import { parseExposition, type Exposition } from '../helpers/prometheus';
import { genericEvent, genericSignature, postGeneric } from '../helpers/senders';
import { GENERIC_SECRET, eventually, startTestApp, type TestApp } from '../helpers/test-app';
import { tempDir } from '../helpers/temp';
import { makeWav } from '../helpers/wav';
import { StorageAdapterError, type StorageAdapter } from '../../storage-adapters/types';

/** GET /metrics: valid Prometheus text whose counters follow the events sent. */

const wav = makeWav({ seconds: 2 });

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Exposition> {
  const response = await fetch(`${url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

describeEachBackend('metrics', (backend) => {
  let pbx: FakeServer;
  beforeAll(async () => {
    pbx = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length }).end(wav));
  });
  afterAll(async () => pbx?.close());

  describe('with workers', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ backend });
    });
    afterAll(async () => t?.close());

    it('webhook, ingest and index counters move with the events sent; refusals are counted by code', async () => {
      const before = await scrape(t.url);
      expect(before.types.get('callvault_webhook_requests_total')).toBe('counter');
      expect(before.types.get('callvault_ingest_duration_seconds')).toBe('histogram');
      expect(before.types.get('callvault_jobs')).toBe('gauge');
      expect(before.value('callvault_database_up')).toBe(1);

      const events = [genericEvent({ recordingUrl: `${pbx.url}/rec/1.wav` }), genericEvent({ recordingUrl: `${pbx.url}/rec/2.wav` })];
      for (const event of events) expect((await postGeneric(t.url, event)).status).toBe(202);
      for (const event of events) await waitForRecording(t.app, 'generic', event.recordingId as string);
      const bad = genericEvent({ recordingUrl: `${pbx.url}/rec/3.wav` });
      expect((await postGeneric(t.url, bad, { signature: genericSignature(JSON.stringify(bad), undefined, 'wrong-secret') })).status).toBe(401);
      expect((await postGeneric(t.url, bad, { signature: null })).status).toBe(401);

      const after = await eventually(async () => {
        const exposition = await scrape(t.url);
        return exposition.value('callvault_ingest_jobs_total', { source: 'generic', outcome: 'stored' }) - before.value('callvault_ingest_jobs_total', { source: 'generic', outcome: 'stored' }) === 2 ? exposition : undefined;
      }, 10_000, 'two stored ingests to be counted');
      const delta = (name: string, labels?: Record<string, string>): number => after.value(name, labels) - before.value(name, labels);
      expect(delta('callvault_webhook_requests_total', { source: 'generic', status: '2xx' })).toBe(2);
      expect(delta('callvault_webhook_requests_total', { source: 'generic', status: '4xx' })).toBe(2);
      expect(delta('callvault_webhook_refused_total', { source: 'generic', code: 'E_SIGNATURE_INVALID' })).toBe(1);
      expect(delta('callvault_webhook_refused_total', { source: 'generic', code: 'E_SIGNATURE_MISSING' })).toBe(1);
      expect(delta('callvault_ingest_bytes_total', { source: 'generic' })).toBe(2 * wav.length);
      expect(delta('callvault_ingest_duration_seconds_count', { source: 'generic' })).toBe(2);
      expect(after.value('callvault_ingest_duration_seconds_sum', { source: 'generic' })).toBeGreaterThan(0);
      // Read from the database at scrape time.
      expect(after.value('callvault_jobs', { state: 'succeeded' })).toBe(2);
      expect(after.value('callvault_recordings', { status: 'stored' })).toBe(2);
      expect(after.value('callvault_queue_depth')).toBe(0);
      // Paths that are not a known source never become label values.
      await fetch(`${t.url}/webhooks/nonsense-${Date.now()}`, { method: 'POST' });
      expect((await scrape(t.url)).samples.some((sample) => sample.labels.source?.startsWith('nonsense'))).toBe(false);
    });

    it('the hooks for retention sweeps and exports show up', async () => {
      t.app.metrics.sweepCompleted({ dryRun: false, ok: true, destroyed: 3, failed: 1, held: 2, seconds: 4.5, finishedAt: new Date('2026-11-21T02:00:05Z') });
      t.app.metrics.sweepCompleted({ dryRun: true, ok: true, destroyed: 7, failed: 0, held: 0, seconds: 1, finishedAt: new Date('2026-11-21T09:00:00Z') });
      t.app.metrics.exportCompleted({ format: 'mp3', kind: 'recording', bytes: 1000 });
      const exposition = await scrape(t.url);
      expect(exposition.value('callvault_retention_sweeps_total', { mode: 'run', result: 'ok' })).toBe(1);
      expect(exposition.value('callvault_retention_destroyed_total', { mode: 'run' })).toBe(3);
      expect(exposition.value('callvault_retention_destroyed_total', { mode: 'dry_run' })).toBe(7);
      expect(exposition.value('callvault_retention_destroy_failures_total')).toBe(1);
      expect(exposition.value('callvault_retention_held')).toBe(2);
      expect(exposition.value('callvault_retention_last_sweep_timestamp_seconds', { mode: 'run' })).toBe(Date.parse('2026-11-21T02:00:05Z') / 1000);
      expect(exposition.value('callvault_exports_total', { format: 'mp3', kind: 'recording' })).toBe(1);
      expect(exposition.value('callvault_export_bytes_total', { format: 'mp3' })).toBe(1000);
    });
  });

  it('queue depth and due jobs come from the database when no worker runs', async () => {
    const t = await startTestApp({ backend, workers: false });
    try {
      for (let i = 0; i < 3; i += 1) expect((await postGeneric(t.url, genericEvent({ recordingUrl: `${pbx.url}/rec/q${i}.wav` }))).status).toBe(202);
      const exposition = await scrape(t.url);
      expect(exposition.value('callvault_queue_depth')).toBe(3);
      expect(exposition.value('callvault_queue_due')).toBe(3);
      expect(exposition.value('callvault_jobs', { state: 'queued' })).toBe(3);
      expect(exposition.value('callvault_queue_oldest_due_seconds')).toBeGreaterThanOrEqual(0);
    } finally {
      await t.close();
    }
  });

  it('storage errors and retries are counted', async () => {
    const failingPuts = (adapter: StorageAdapter): StorageAdapter =>
      Object.assign(Object.create(adapter) as StorageAdapter, {
        put: async () => {
          throw new StorageAdapterError('unavailable', 'storage is down (test)');
        },
      });
    const t = await startTestApp({ backend, wrapAdapter: failingPuts });
    try {
      const event = genericEvent({ recordingUrl: `${pbx.url}/rec/down.wav` });
      expect((await postGeneric(t.url, event)).status).toBe(202);
      const exposition = await eventually(async () => {
        const scraped = await scrape(t.url);
        return scraped.value('callvault_ingest_jobs_total', { source: 'generic', outcome: 'retry' }) >= 2 ? scraped : undefined;
      }, 10_000, 'two retries to be counted');
      expect(exposition.value('callvault_storage_errors_total', { operation: 'put', code: 'E_STORAGE_UNAVAILABLE' })).toBeGreaterThanOrEqual(2);
      expect(exposition.value('callvault_ingest_errors_total', { source: 'generic', code: 'E_STORAGE_UNAVAILABLE' })).toBeGreaterThanOrEqual(1);
    } finally {
      await t.close();
    }
  });

  it('with CALLVAULT_METRICS_TOKEN, a scrape needs the bearer token', async () => {
    const t = await startTestApp({ backend, workers: false, env: { CALLVAULT_METRICS_TOKEN: 'scrape-token-0123456789' } });
    try {
      const refused = await fetch(`${t.url}/metrics`);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ code: 'E_METRICS_TOKEN' });
      expect((await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      await scrape(t.url, { authorization: 'Bearer scrape-token-0123456789' });
    } finally {
      await t.close();
    }
  });
});

describe('metrics from ingest threads (callvault serve)', () => {
  let pbx: FakeServer;
  let serve: ChildServe | null = null;
  let data: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    pbx = await startFakeServer((_req, res) => res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length }).end(wav));
    data = tempDir('callvault-metrics-serve');
  });
  afterAll(async () => {
    await serve?.kill();
    await pbx?.close();
    data?.cleanup();
  });

  it('work done in an ingest thread is counted by the main thread\'s /metrics', async () => {
    const port = await freePort();
    serve = spawnServe({
      PORT: String(port),
      CALLVAULT_DATA_DIR: data.dir,
      CALLVAULT_GENERIC_SECRET: GENERIC_SECRET,
      CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1',
      CALLVAULT_INGEST_THREADS: '1',
      CALLVAULT_WORKERS: '2',
      CALLVAULT_JOB_POLL_MS: '100',
      CALLVAULT_LOG_LEVEL: 'warn',
    });
    await serve.waitReady();
    const event = genericEvent({ recordingUrl: `${pbx.url}/rec/thread.wav` });
    expect((await postGeneric(serve.url, event)).status).toBe(202);
    const exposition = await eventually(async () => {
      const scraped = await scrape(serve!.url);
      return scraped.value('callvault_ingest_jobs_total', { source: 'generic', outcome: 'stored' }) === 1 ? scraped : undefined;
    }, 20_000, 'the thread\'s stored ingest to reach /metrics');
    expect(exposition.value('callvault_ingest_bytes_total', { source: 'generic' })).toBe(wav.length);
    expect(exposition.value('callvault_ingest_duration_seconds_count', { source: 'generic' })).toBe(1);
    expect(exposition.value('callvault_jobs', { state: 'succeeded' })).toBe(1);
    // serve adds the process figures.
    expect(exposition.has('process_cpu_user_seconds_total')).toBe(true);
    expect(exposition.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });
});
