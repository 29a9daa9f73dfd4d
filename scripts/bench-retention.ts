/**
 * Retention benchmark: 100,000 expired recordings with small objects, destroyed by one sweep,
 * with the local adapter and with an S3 server (s3rver, in its own process). Prints recordings
 * destroyed per second and the sweep's wall time beside the anchor measured in the same run:
 * the raw cost of deleting the same number of objects straight through the adapter.
 *
 *   npm run bench:retention          BENCH_RETENTION_N=100000
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../config';
import { buildParts, closeParts, createApp, type App } from '../src/app';
import { createSilentLogger } from '../src/log/logger';
import { printTable, type BenchRow } from './bench-table';

const N = Number(process.env.BENCH_RETENTION_N ?? 100_000);
const OBJECT_BYTES = 2048;

async function startS3Process(directory: string): Promise<{ endpoint: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', __filename, '--s3rver', directory], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

async function runS3rver(directory: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => { run(): Promise<{ port: number }> };
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: 'bench' }], vhostBuckets: false });
  const { port } = await server.run();
  process.stdout.write(`${port}\n`);
}

/** Index rows straight into the database, many per statement: the set-up is not what is measured. */
async function seedRows(app: App, keys: string[]): Promise<void> {
  const { codec, knex } = app.db;
  const past = codec.time(new Date('2020-01-01T00:00:00Z'));
  const rows = keys.map((key) => ({
    id: crypto.randomUUID(),
    source: 'bench',
    source_recording_id: crypto.randomUUID(),
    consent: 'recorded',
    category: 'admin',
    retain_until: past,
    status: 'stored',
    storage_key: key,
    key_id: 'lk_20200101_00000000',
    wrapped_key: crypto.randomBytes(61),
    sha256: crypto.randomBytes(32).toString('hex'),
    plaintext_size: OBJECT_BYTES,
    ingested_at: past,
    call_time: past,
    updated_at: past,
    metadata: '{}',
  }));
  for (let offset = 0; offset < rows.length; offset += 250) {
    await knex('recordings').insert(rows.slice(offset, offset + 250));
  }
}

async function seedObjects(app: App, keys: string[]): Promise<void> {
  const body = crypto.randomBytes(OBJECT_BYTES);
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        await app.store.put(key, Readable.from([body]));
      }
    }),
  );
}

async function measure(kind: 'local' | 's3'): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `callvault-bench-retention-${kind}-`));
  const s3 = kind === 's3' ? await startS3Process(path.join(dir, 's3rver')) : null;
  const env: Record<string, string> = { CALLVAULT_DATA_DIR: dir, CALLVAULT_LOG_LEVEL: 'warn' };
  if (s3) {
    Object.assign(env, {
      CALLVAULT_STORAGE: 's3',
      CALLVAULT_S3_ENDPOINT: s3.endpoint,
      CALLVAULT_S3_BUCKET: 'bench',
      CALLVAULT_S3_REGION: 'us-east-1',
      CALLVAULT_S3_ACCESS_KEY_ID: 'S3RVER',
      CALLVAULT_S3_SECRET_ACCESS_KEY: 'S3RVER',
      CALLVAULT_S3_FORCE_PATH_STYLE: 'true',
      CALLVAULT_S3_CHECKSUM: 'when_required',
    });
  }
  const parts = buildParts(loadConfig(env), { logger: createSilentLogger() });
  try {
    await parts.db.migrate();
    const app = createApp(parts);
    const keys = Array.from({ length: N }, () => app.store.newRecordingKey());
    process.stdout.write(`bench-retention [${kind}]: seeding ${N} recordings...\n`);
    await seedRows(app, keys);
    await seedObjects(app, keys);

    // The anchor: deleting a tenth of the same kind of objects directly, 1,000 keys per call.
    const anchorKeys = Array.from({ length: Math.max(1000, Math.floor(N / 10)) }, () => app.store.newRecordingKey());
    await seedObjects(app, anchorKeys);
    let started = performance.now();
    for (let offset = 0; offset < anchorKeys.length; offset += 1000) await app.store.deleteMany(anchorKeys.slice(offset, offset + 1000));
    const anchorPerSecond = anchorKeys.length / ((performance.now() - started) / 1000);

    process.stdout.write(`bench-retention [${kind}]: sweeping...\n`);
    started = performance.now();
    const summary = await app.retention.sweep();
    const seconds = (performance.now() - started) / 1000;
    if (summary.destroyed !== N || summary.failed.length > 0) throw new Error(`sweep destroyed ${summary.destroyed} of ${N}, ${summary.failed.length} failed`);
    const target = kind === 'local' ? 60 : 120;
    return [
      { figure: `sweep of ${N} expired recordings, ${kind} (s)`, value: seconds, target: `< ${target} s`, pass: seconds < target },
      { figure: `recordings destroyed per second, ${kind}`, value: N / seconds, anchorName: 'raw object deletes/s (deleteMany, no index)', anchor: anchorPerSecond, target: '-', pass: true },
    ];
  } finally {
    await closeParts(parts);
    s3?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--s3rver') return runS3rver(process.argv[3]!);
  const kinds = (process.env.BENCH_RETENTION_ADAPTERS ?? 'local,s3').split(',') as Array<'local' | 's3'>;
  const rows: BenchRow[] = [];
  for (const kind of kinds) rows.push(...(await measure(kind)));
  printTable('bench-retention', rows);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
