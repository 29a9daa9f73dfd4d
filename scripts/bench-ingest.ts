/**
 * Ingest benchmark: five-minute 8 kHz WAV recordings pushed through POST /webhooks/generic to a
 * real `callvault serve` process (local adapter, SQLite, defaults), fetched from a local HTTP
 * server playing the PBX. Beside it, in the same run, the anchor: the raw cost of moving the
 * same bytes without the service (HTTP fetch + AES-256-GCM container + file write, same
 * concurrency as the service's workers).
 *
 *   npm run bench:ingest                  BENCH_N=300 recordings, 500 events/s for 4 s, one 2-hour recording
 *
 * Figures: recordings/s and MB/s; acknowledgement latency p50/p99 at 500 events/s; peak RSS of
 * the service (VmHWM) while ingesting one 2-hour recording.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { pipeline } from 'node:stream/promises';
import knexFactory, { type Knex } from 'knex';
import { EncryptStream, generateDataKey } from '../src/crypto/container';
import { freePort, spawnServe, type ChildServe } from '../test/helpers/child';
import { genericSignature } from '../test/helpers/senders';
import { GENERIC_SECRET } from '../test/helpers/test-app';
import { makeWav, wavStream } from '../test/helpers/wav';
import { printTable, type BenchRow } from './bench-table';

const N = Number(process.env.BENCH_N ?? 300);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 4);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const LONG_HOURS = Number(process.env.BENCH_LONG_HOURS ?? 2);
const MB = 1e6;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'raw,throughput,pg,rate,long').split(','));

interface Pbx {
  url: string;
  close(): Promise<void>;
}

/** The PBX runs in its own process, so that serving audio does not delay the webhook sender's clock. */
function servePbx(): void {
  const fiveMinutes = makeWav({ seconds: 300 });
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/long/')) {
      const { stream, bytes } = wavStream({ seconds: LONG_HOURS * 3600 });
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': bytes });
      stream.pipe(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': fiveMinutes.length });
    res.end(fiveMinutes);
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  });
}

async function startPbx(): Promise<Pbx> {
  const child = spawn(process.execPath, [__filename, '--pbx'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`PBX exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      child.kill();
    },
  };
}

function event(index: number, url: string): string {
  return JSON.stringify({
    eventId: `bench-e-${index}`,
    recordingId: `bench-r-${index}-${crypto.randomUUID()}`,
    direction: 'inbound',
    from: '+447700900123',
    to: '+441632960001',
    startedAt: new Date().toISOString(),
    category: 'general',
    recordingUrl: url,
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(baseUrl: string, body: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}/webhooks/generic`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-callvault-signature': genericSignature(body) },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function vmHwmMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function vmRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * Resets the process's peak RSS to its current RSS (Linux: clear_refs 5), so that VmHWM then
 * measures the peak of what follows, not of start-up (the sign-in code's one scrypt run at
 * start briefly takes 32 MiB, which has nothing to do with ingest).
 */
function resetPeak(pid: number): void {
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function startService(dir: string, extra: Record<string, string> = {}, pgSchema?: string): Promise<{ service: ChildServe; db: Knex }> {
  const port = await freePort();
  const databaseUrl = pgSchema ? `${PG_URL}?schema=${pgSchema}` : process.env.BENCH_DATABASE_URL;
  const service = spawnServe({
    PORT: String(port),
    CALLVAULT_DATA_DIR: dir,
    CALLVAULT_GENERIC_SECRET: GENERIC_SECRET,
    CALLVAULT_FETCH_ALLOW_HOSTS: '127.0.0.1',
    CALLVAULT_LOG_LEVEL: 'warn',
    CALLVAULT_WORKERS: String(WORKERS),
    ...(process.env.BENCH_SQLITE_SYNC ? { CALLVAULT_SQLITE_SYNCHRONOUS: process.env.BENCH_SQLITE_SYNC } : {}),
    ...(databaseUrl ? { CALLVAULT_DATABASE_URL: databaseUrl } : {}),
    ...extra,
  });
  await service.waitReady(60_000);
  const db = pgSchema
    ? knexFactory({ client: 'pg', connection: PG_URL, searchPath: [pgSchema], pool: { min: 0, max: 2 } })
    : knexFactory({ client: 'sqlite3', connection: { filename: path.join(dir, 'callvault.sqlite') }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
  return { service, db };
}

async function storedCount(db: Knex): Promise<number> {
  const [row] = await db('recordings').where({ status: 'stored' }).count({ n: '*' });
  return Number(row?.n ?? 0);
}

async function waitStored(db: Knex, count: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await storedCount(db)) >= count) return performance.now();
    if (Date.now() > deadline) throw new Error(`only ${await storedCount(db)} of ${count} recordings stored within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sends `total` bodies keeping `concurrency` requests in flight; returns each ack's latency. */
async function sendClosedLoop(baseUrl: string, bodies: string[], concurrency: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const result = await post(baseUrl, body);
        if (result.status !== 202) throw new Error(`webhook answered ${result.status}`);
        latencies.push(result.ms);
      }
    }),
  );
  return latencies;
}

/** Sends at a fixed rate whatever the answers (open loop), so slow answers cannot slow the sender. */
async function sendOpenLoop(baseUrl: string, bodies: string[], perSecond: number): Promise<number[]> {
  const latencies: number[] = [];
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < bodies.length; i += 1) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      post(baseUrl, bodies[i]!).then((result) => {
        if (result.status !== 202) throw new Error(`webhook answered ${result.status}`);
        latencies.push(result.ms);
      }),
    );
  }
  await Promise.all(pending);
  return latencies;
}

async function throughputRun(pbx: Pbx, dir: string, pgSchema?: string): Promise<{ perSecond: number; ackP50: number; rss: number }> {
  const run = await startService(dir, {}, pgSchema);
  try {
    const bodies = Array.from({ length: N }, (_, i) => event(i, `${pbx.url}/rec/${i}.wav`));
    const started = performance.now();
    const acks = await sendClosedLoop(run.service.url, bodies, 32);
    const finished = await waitStored(run.db, N, 600_000);
    return { perSecond: N / ((finished - started) / 1000), ackP50: percentile(acks, 50), rss: vmHwmMb(run.service.process.pid!) };
  } finally {
    await run.db.destroy();
    await run.service.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function rateRun(pbx: Pbx, dir: string, extra: Record<string, string>): Promise<number[]> {
  const run = await startService(dir, extra);
  try {
    const burst = Array.from({ length: RATE * RATE_SECONDS }, (_, i) => event(i, `${pbx.url}/rec/${i}.wav`));
    return await sendOpenLoop(run.service.url, burst, RATE);
  } finally {
    await run.db.destroy();
    await run.service.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function pgReachable(): Promise<boolean> {
  const db = knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3000 });
  try {
    await db.raw('select 1');
    return true;
  } catch {
    process.stdout.write(`bench-ingest: PostgreSQL unreachable at ${PG_URL}; the PostgreSQL figure is skipped\n`);
    return false;
  } finally {
    await db.destroy();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const db = knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 } });
  await db.raw('drop schema if exists ?? cascade', [schema]).finally(() => db.destroy());
}

/** The anchor: fetch + container encryption + file write for the same recordings, no service. */
async function rawMove(pbx: Pbx, count: number, concurrency: number, dir: string): Promise<number> {
  fs.mkdirSync(dir, { recursive: true });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${pbx.url}/rec/${index}.wav`, { agent }, resolve).on('error', reject));
        const file = path.join(dir, `${index}.cv`);
        await pipeline(response, new EncryptStream(generateDataKey()), fs.createWriteStream(file, { flush: true }));
      }
    }),
  );
  return performance.now() - started;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-bench-ingest-'));
  const fiveMinutes = makeWav({ seconds: 300 });
  const pbx = await startPbx();
  const rows: BenchRow[] = [];
  process.stdout.write(`bench-ingest: ${N} five-minute recordings (${(fiveMinutes.length / MB).toFixed(1)} MB each), ${WORKERS} workers...\n`);
  try {
    // Anchor first, on a cold page cache as the service will be.
    const rawMs = PHASES.has('raw') ? await rawMove(pbx, N, WORKERS, path.join(root, 'raw')) : Number.NaN;
    const rawPerSecond = N / (rawMs / 1000);
    fs.rmSync(path.join(root, 'raw'), { recursive: true, force: true });

    // A: throughput.
    if (PHASES.has('throughput')) {
      const sqlite = await throughputRun(pbx, path.join(root, 'a'));
      rows.push(
        { figure: `recordings/s (${N} x 5 min, end to end, stored + verified + indexed), SQLite`, value: sqlite.perSecond, anchorName: 'raw fetch+encrypt+write, no service (rec/s)', anchor: rawPerSecond, target: '>= 60 recordings/s', pass: sqlite.perSecond >= 60 },
        { figure: 'MB/s of audio ingested, SQLite', value: (sqlite.perSecond * fiveMinutes.length) / MB, anchorName: 'raw (MB/s)', anchor: (rawPerSecond * fiveMinutes.length) / MB, target: '-', pass: true },
        { figure: 'ack latency p50 under the throughput run (ms)', value: sqlite.ackP50, target: '-', pass: true },
        { figure: 'peak RSS of the service during the throughput run (MB)', value: sqlite.rss, target: '-', pass: true },
      );
      if (PG_URL && PHASES.has('pg') && (await pgReachable())) {
        const schema = `bench_${crypto.randomBytes(4).toString('hex')}`;
        try {
          const pg = await throughputRun(pbx, path.join(root, 'a-pg'), schema);
          rows.push({ figure: `recordings/s (${N} x 5 min), PostgreSQL index`, value: pg.perSecond, anchorName: 'same run on SQLite (rec/s)', anchor: sqlite.perSecond, target: '-', pass: true });
        } finally {
          await dropSchema(schema);
        }
      }
    }

    // B: acknowledgement latency at a fixed 500 events/s while the workers ingest.
    if (PHASES.has('rate')) {
      // With the workers ingesting every event's five-minute recording at full speed (far more than the
      // machine can store: the queue grows; the point is that acknowledgements stay fast), and with
      // the acceptance path alone (workers off), so the two costs can be told apart.
      const loaded = await rateRun(pbx, path.join(root, 'b'), {});
      const alone = await rateRun(pbx, path.join(root, 'b2'), { CALLVAULT_WORKERS: '0' });
      rows.push(
        { figure: `ack latency p50 at ${RATE} events/s, workers ingesting (ms)`, value: percentile(loaded, 50), target: '-', pass: true },
        { figure: `ack latency p99 at ${RATE} events/s, workers ingesting (ms)`, value: percentile(loaded, 99), target: '< 20 ms', pass: percentile(loaded, 99) < 20 },
        { figure: `ack latency p99 at ${RATE} events/s, acceptance only (ms)`, value: percentile(alone, 99), target: '< 20 ms', pass: percentile(alone, 99) < 20 },
      );
    }

    // C: peak memory while ingesting one 2-hour recording.
    if (PHASES.has('long')) {
    const c = await startService(path.join(root, 'c'), { CALLVAULT_WORKERS: '1' });
    // One five-minute recording first: the 2-hour one is measured on a service that has done an
    // ingest before (code loaded, buffers allocated), as a running service has.
    const warmAck = await post(c.service.url, event(1, `${pbx.url}/warm/1.wav`));
    if (warmAck.status !== 202) throw new Error(`warm-up recording refused: ${warmAck.status}`);
    await waitStored(c.db, 1, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    resetPeak(c.service.process.pid!);
    const idle = vmRssMb(c.service.process.pid!);
    const longStarted = performance.now();
    const ack = await post(c.service.url, event(0, `${pbx.url}/long/0.wav`));
    if (ack.status !== 202) throw new Error(`long recording refused: ${ack.status}`);
    await waitStored(c.db, 2, 600_000);
    const longSeconds = (performance.now() - longStarted) / 1000;
    const longPeak = vmHwmMb(c.service.process.pid!);
    await c.db.destroy();
    await c.service.kill('SIGTERM');
    const longBytes = 44 + LONG_HOURS * 3600 * 8000 * 2;
    rows.push(
      { figure: `peak RSS ingesting one ${LONG_HOURS}-hour recording (${(longBytes / MB).toFixed(0)} MB) (MB)`, value: longPeak, anchorName: 'same service idle, after one 5-min ingest (MB)', anchor: idle, target: '< 150 MB, flat', pass: longPeak < 150 },
      { figure: `${LONG_HOURS}-hour recording ingest time (s)`, value: longSeconds, target: '-', pass: true },
    );
    }
  } finally {
    await pbx.close();
    agent.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  }
  printTable('bench-ingest', rows);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
}

if (process.argv[2] === '--pbx') servePbx();
else main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
