/**
 * Search benchmark: 1,000,000 recordings in SQLite (seeded straight into the table in bulk; the
 * set-up is not what is measured), searched through the API of a real `callvault serve` process
 * (defaults: synchronous=FULL), by caller number and by a one-day date range, each request signed
 * in, reasoned and written to the audit trail before it is answered. Latency p50/p95/p99 per kind,
 * beside two anchors measured in the same run: the same search straight through the repository
 * (no HTTP, no sign-in, no audit), and GET /healthz (the HTTP round trip alone).
 *
 *   npm run bench:search          BENCH_SEARCH_ROWS=1000000 BENCH_SEARCH_REQUESTS=2000
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { openDatabase } from '../src/db/database';
import { RecordingsRepository } from '../src/db/recordings';
import { freePort, runCli, spawnServe } from '../test/helpers/child';
import { printTable, type BenchRow } from './bench-table';

const ROWS = Number(process.env.BENCH_SEARCH_ROWS ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_SEARCH_REQUESTS ?? 2000);
/** About ten calls per caller number, spread over three years. */
const NUMBERS = Math.max(1, Math.floor(ROWS / 10));
const SPAN_SECONDS = 3 * 365 * 86_400;
const START = Date.parse('2023-01-01T00:00:00Z');
const PASSWORD = 'bench search password';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

function numberFor(i: number): string {
  return `+447700${String(i % NUMBERS).padStart(6, '0')}`;
}

/** The rows, generated inside SQLite by a recursive query: a few seconds for a million. */
async function seed(databaseUrl: string): Promise<void> {
  const db = openDatabase({ url: databaseUrl, sqliteSynchronous: 'NORMAL' });
  try {
    await db.migrate();
    const step = Math.floor(SPAN_SECONDS / ROWS);
    await db.knex.raw(
      `insert into recordings (id, source, source_recording_id, direction, from_number, to_number, extension, line, team, started_at, call_time, duration_sec, consent, category, retain_until, status, ingested_at, updated_at, metadata)
       with recursive n(i) as (select 0 union all select i + 1 from n where i < ?)
       select lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
              'bench', 'r-' || i, 'inbound', '+447700' || printf('%06d', i % ?), '+441632960001', printf('%d', 200 + i % 40), 'main', 'care-coordination',
              t, t, 120, 'recorded', 'general', '2099-01-01T00:00:00.000Z', 'stored', t, t, '{}'
       from (select i, strftime('%Y-%m-%dT%H:%M:%fZ', '2023-01-01', '+' || (i * ?) || ' seconds') as t from n)`,
      [ROWS - 1, NUMBERS, step],
    );
    await db.knex.raw('analyze');
  } finally {
    await db.close();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-bench-search-'));
  const port = await freePort();
  const env: Record<string, string> = { CALLVAULT_DATA_DIR: dir, PORT: String(port), CALLVAULT_LOG_LEVEL: 'warn', CALLVAULT_WORKERS: '0', CALLVAULT_RETENTION_SCHEDULE: 'off', CALLVAULT_SQLITE_SYNCHRONOUS: process.env.BENCH_SEARCH_SYNCHRONOUS ?? 'FULL' };
  const config = loadConfig(env);
  process.stdout.write(`bench-search: seeding ${ROWS} recordings...\n`);
  let started = performance.now();
  await seed(config.databaseUrl);
  process.stdout.write(`bench-search: seeded in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  const added = await runCli(['users', 'add', 'manager1', '--role', 'manager'], env, PASSWORD);
  if (added.code !== 0) throw new Error(added.stderr);

  const serve = spawnServe(env);
  try {
    await serve.waitReady(60_000);
    const login = await fetch(`${serve.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'manager1', password: PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const headers = { authorization: `Bearer ${token}`, 'x-access-reason': 'benchmark: complaint search' };

    const timed = async (url: string, init?: RequestInit): Promise<number> => {
      const t0 = performance.now();
      const response = await fetch(url, init);
      const body = await response.text();
      if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body}`);
      return performance.now() - t0;
    };
    const byNumber = (i: number): string => `${serve.url}/api/recordings?number=${encodeURIComponent(`0${numberFor(i * 7919).slice(3)}`)}`;
    const byDay = (i: number): string => {
      const from = new Date(START + ((i * 104_729) % (SPAN_SECONDS - 86_400)) * 1000);
      return `${serve.url}/api/recordings?from=${from.toISOString()}&to=${new Date(from.getTime() + 86_400_000).toISOString()}`;
    };

    // Warm up (page cache, statement cache, JIT).
    for (let i = 0; i < 200; i += 1) {
      await timed(byNumber(i), { headers });
      await timed(byDay(i), { headers });
    }
    const health: number[] = [];
    const numberLatency: number[] = [];
    const dayLatency: number[] = [];
    started = performance.now();
    for (let i = 0; i < REQUESTS; i += 1) {
      health.push(await timed(`${serve.url}/healthz`));
      numberLatency.push(await timed(byNumber(i + 1000), { headers }));
      dayLatency.push(await timed(byDay(i + 1000), { headers }));
    }
    process.stdout.write(`bench-search: ${REQUESTS * 3} requests in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

    // The anchor: the same searches through the repository, in this process, no HTTP, no sign-in, no audit.
    const db = openDatabase({ url: config.databaseUrl });
    const repository = new RecordingsRepository(db);
    const directNumber: number[] = [];
    const directDay: number[] = [];
    try {
      const statuses = ['stored', 'not_retained', 'unavailable'] as const;
      for (let i = 0; i < REQUESTS; i += 1) {
        let t0 = performance.now();
        await repository.search({ number: numberFor((i + 1000) * 7919), statuses, limit: 25 });
        directNumber.push(performance.now() - t0);
        const from = new Date(START + (((i + 1000) * 104_729) % (SPAN_SECONDS - 86_400)) * 1000);
        t0 = performance.now();
        await repository.search({ from, to: new Date(from.getTime() + 86_400_000), statuses, limit: 25 });
        directDay.push(performance.now() - t0);
      }
    } finally {
      await db.close();
    }

    const h = summary(health);
    const rows: BenchRow[] = [];
    for (const [kind, api, direct] of [
      ['by number', summary(numberLatency), summary(directNumber)],
      ['by one-day range', summary(dayLatency), summary(directDay)],
    ] as const) {
      rows.push({ figure: `search ${kind}, p50 (ms)`, value: api.p50, anchorName: 'repository p50', anchor: direct.p50, target: '-', pass: true });
      rows.push({ figure: `search ${kind}, p95 (ms)`, value: api.p95, anchorName: 'repository p95', anchor: direct.p95, target: '< 5 ms', pass: api.p95 < 5 });
      rows.push({ figure: `search ${kind}, p99 (ms)`, value: api.p99, anchorName: 'repository p99', anchor: direct.p99, target: '-', pass: true });
    }
    rows.push({ figure: 'GET /healthz round trip, p95 (ms)', value: h.p95, target: '-', pass: true });
    printTable(`bench-search (${ROWS.toLocaleString('en-GB')} recordings, SQLite, ${REQUESTS} requests per kind; load average ${os.loadavg()[0]!.toFixed(1)})`, rows);
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
  } finally {
    await serve.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
