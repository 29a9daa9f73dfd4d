/**
 * Export benchmark: a five-minute call (8 kHz 16-bit WAV, 4.8 MB) exported as MP3 through the API
 * of a real `callvault serve` process (decrypt -> ffmpeg -> SHA-256 -> HTTP, registered as a
 * release), beside the anchor measured in the same run: ffmpeg converting the plaintext WAV file
 * directly with the same settings. Runs alternate (API, direct, API, ...) so that a machine that
 * changes speed affects both alike; medians are compared. Then the service's memory (VmRSS,
 * sampled) while it exports a two-hour recording (115 MB) as WAV: the peak over the second half
 * of the transfer beside the peak over the first.
 *
 *   npm run bench:export          BENCH_EXPORT_RUNS=7 BENCH_EXPORT_LONG_HOURS=2
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MP3_SAMPLE_RATE } from '../src/export/transcoder';
import { freePort, runCli, spawnServe, type ChildServe } from '../test/helpers/child';
import { makeWav, wavStream } from '../test/helpers/wav';
import { printTable, type BenchRow } from './bench-table';

const RUNS = Number(process.env.BENCH_EXPORT_RUNS ?? 7);
const LONG_HOURS = Number(process.env.BENCH_EXPORT_LONG_HOURS ?? 2);
const CALL_SECONDS = 300;
const PASSWORDS = { manager1: 'bench export password 1', iglead1: 'bench export password 2' };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Resident memory of a process now (Linux VmRSS), MB. */
function currentRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function importCall(env: Record<string, string>, dir: string, name: string, audio: string): Promise<string> {
  const meta = path.join(dir, `${name}.json`);
  fs.writeFileSync(meta, JSON.stringify({ eventId: `e-${name}`, recordingId: `r-${name}`, from: '07700 900123', to: '+441632960001', startedAt: new Date().toISOString(), category: 'general' }));
  const result = await runCli(['import', audio, '--meta', meta, '--json'], env);
  if (result.code !== 0) throw new Error(result.stderr);
  return (JSON.parse(result.stdout) as { recordingId: string }).recordingId;
}

async function api(serve: ChildServe, method: string, route: string, token: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'x-access-reason': 'benchmark export' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${serve.url}/api${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return response;
}

/** Seconds until the last byte of the body has arrived (and been thrown away). */
async function timedDownload(response: Promise<Response>): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const res = await response;
  if (res.status !== 200) throw new Error(`export: ${res.status} ${await res.text()}`);
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  return { seconds: (performance.now() - started) / 1000, bytes };
}

function directFfmpeg(wavFile: string): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'wav', '-i', wavFile, '-vn', '-map_metadata', '-1', '-acodec', 'libmp3lame', '-b:a', '32k', '-ar', String(MP3_SAMPLE_RATE), '-f', 'mp3', 'pipe:1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let bytes = 0;
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve({ seconds: (performance.now() - started) / 1000, bytes }) : reject(new Error(`ffmpeg exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-bench-export-'));
  const env: Record<string, string> = { CALLVAULT_DATA_DIR: path.join(dir, 'data'), PORT: String(await freePort()), CALLVAULT_LOG_LEVEL: 'warn', CALLVAULT_WORKERS: '0', CALLVAULT_RETENTION_SCHEDULE: 'off' };
  let serve: ChildServe | null = null;
  try {
    const callFile = path.join(dir, 'call.wav');
    fs.writeFileSync(callFile, makeWav({ seconds: CALL_SECONDS }));
    const longFile = path.join(dir, 'long.wav');
    await pipeline(wavStream({ seconds: LONG_HOURS * 3600 }).stream, fs.createWriteStream(longFile));
    process.stdout.write(`bench-export: importing a ${CALL_SECONDS / 60}-minute call and a ${LONG_HOURS}-hour recording...\n`);
    const callId = await importCall(env, dir, 'call', callFile);
    const longId = await importCall(env, dir, 'long', longFile);
    for (const [user, role] of [['manager1', 'manager'], ['iglead1', 'ig_lead']] as const) {
      const added = await runCli(['users', 'add', user, '--role', role], env, PASSWORDS[user]);
      if (added.code !== 0) throw new Error(added.stderr);
    }

    serve = spawnServe(env);
    await serve.waitReady(60_000);
    const login = async (user: keyof typeof PASSWORDS): Promise<string> => ((await (await api(serve!, 'POST', '/auth/login', null, { username: user, password: PASSWORDS[user] })).json()) as { token: string }).token;
    const manager = await login('manager1');
    const iglead = await login('iglead1');
    const request = (await (await api(serve, 'POST', '/access-requests', manager, { reason: 'benchmark export', recordingIds: [callId, longId], purpose: 'training', requester: 'benchmark', recipient: 'benchmark' })).json()) as { id: string };
    const approved = await api(serve, 'POST', `/access-requests/${request.id}/approve`, iglead, {});
    if (approved.status !== 200) throw new Error(await approved.text());

    // Warm up both paths (page cache, fluent-ffmpeg's one-off capability probe).
    await timedDownload(api(serve, 'GET', `/recordings/${callId}/audio?format=mp3`, manager));
    await directFfmpeg(callFile);
    const viaApi: number[] = [];
    const direct: number[] = [];
    let apiBytes = 0;
    let directBytes = 0;
    for (let run = 0; run < RUNS; run += 1) {
      const a = await timedDownload(api(serve, 'GET', `/recordings/${callId}/audio?format=mp3`, manager));
      const d = await directFfmpeg(callFile);
      viaApi.push(a.seconds);
      direct.push(d.seconds);
      apiBytes = a.bytes;
      directBytes = d.bytes;
    }
    if (Math.abs(apiBytes - directBytes) > 1024) throw new Error(`the API's MP3 (${apiBytes} bytes) and ffmpeg's (${directBytes}) differ more than expected`);

    // Memory while the two-hour recording is exported as WAV (the most bytes through the
    // service): sampled as it goes, the peak over the second half of the transfer beside the
    // peak over the first. Flat means the second is no higher: memory does not grow with length.
    const pid = serve.process.pid!;
    const samples: Array<{ fraction: number; rss: number }> = [];
    const expected = 44 + LONG_HOURS * 3600 * 8000 * 2;
    let received = 0;
    const sampler = setInterval(() => samples.push({ fraction: received / expected, rss: currentRss(pid) }), 50);
    const started = performance.now();
    const response = await api(serve, 'GET', `/recordings/${longId}/audio?format=wav`, manager);
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    clearInterval(sampler);
    const long = { seconds: (performance.now() - started) / 1000, bytes: received };
    const early = Math.max(...samples.filter((sample) => sample.fraction <= 0.5).map((sample) => sample.rss));
    const peak = Math.max(...samples.map((sample) => sample.rss));
    const peakAfter = Math.max(...samples.filter((sample) => sample.fraction > 0.5).map((sample) => sample.rss));
    if (process.env.BENCH_DEBUG) process.stdout.write(`${samples.map((sample) => `${sample.fraction.toFixed(2)}:${sample.rss.toFixed(0)}`).join(' ')}\n`);
    const apiRealtime = CALL_SECONDS / median(viaApi);
    const directRealtime = CALL_SECONDS / median(direct);
    const rows: BenchRow[] = [
      { figure: `MP3 export of a ${CALL_SECONDS / 60}-minute call via the API (x real time)`, value: apiRealtime, anchorName: 'x real time, ffmpeg on the plaintext WAV', anchor: directRealtime, target: '>= 50% of direct', pass: apiRealtime >= directRealtime * 0.5 },
      { figure: 'same, seconds to the last byte (median)', value: median(viaApi), anchorName: 's direct', anchor: median(direct), target: '-', pass: true },
      { figure: `RSS of the service exporting a ${LONG_HOURS}-hour recording as WAV: peak in the second half (MB)`, value: peakAfter, anchorName: 'MB peak in the first half', anchor: early, target: '< 150 MB, flat', pass: peak < 150 && peakAfter <= early + 5 },
      { figure: `${LONG_HOURS}-hour WAV export (MB/s)`, value: long.bytes / 1e6 / long.seconds, target: '-', pass: true },
    ];
    printTable(`bench-export (${RUNS} runs each, alternating; load average ${os.loadavg()[0]!.toFixed(1)})`, rows);
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
  } finally {
    await serve?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
