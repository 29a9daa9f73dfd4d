/**
 * Container encrypt and decrypt throughput on 1 GiB, beside `openssl speed -evp aes-256-gcm`
 * measured in the same run (the anchor), and peak RSS while encrypting a 2 GiB stream (which
 * must stay flat: memory must not grow with the length of a recording).
 *
 *   npm run bench:crypto            (after npm run build)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChunkDecryptStream, DEFAULT_CHUNK_SIZE, EncryptStream, generateDataKey } from '../src/crypto/container';
import { printTable, type BenchRow } from './bench-table';

const GiB = 1024 ** 3;
const MB = 1e6;
const CHUNK = Number(process.env.BENCH_CHUNK ?? DEFAULT_CHUNK_SIZE);

/** A stream of `total` bytes that repeats one random 1 MiB block (no time spent making data). */
function patternStream(total: number): Readable {
  const block = crypto.randomBytes(1024 * 1024);
  let sent = 0;
  return new Readable({
    highWaterMark: 4 * 1024 * 1024,
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(block.length, total - sent);
      sent += size;
      this.push(size === block.length ? block : block.subarray(0, size));
    },
  });
}

function sliceStream(data: Buffer, piece: number): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: 4 * 1024 * 1024,
    read() {
      if (offset >= data.length) return void this.push(null);
      this.push(data.subarray(offset, offset + piece));
      offset += piece;
    },
  });
}

function sink(onChunk?: (chunk: Buffer) => void): Writable {
  return new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _encoding, done) {
      onChunk?.(chunk);
      done();
    },
  });
}

function opensslSpeed(): number {
  const out = execFileSync('openssl', ['speed', '-evp', 'aes-256-gcm', '-bytes', String(CHUNK), '-seconds', '3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const line = out.split('\n').find((l) => /^AES-256-GCM/i.test(l.trim()));
  const match = line && /([\d.]+)k\s*$/.exec(line.trim());
  if (!match) throw new Error(`could not read openssl speed output:\n${out}`);
  return (Number(match[1]) * 1000) / MB;
}

async function containerThroughput(): Promise<{ encrypt: number; decrypt: number; nodeLoop: number }> {
  const key = generateDataKey();
  // Real audio arrives from the network or disk, not from a cache-hot buffer: both directions
  // read 1 GiB of distinct memory, in 256 KiB pieces as the storage adapters deliver it.
  const plaintext = crypto.randomBytes(GiB);
  let started = performance.now();
  await pipeline(sliceStream(plaintext, 256 * 1024), new EncryptStream(key, CHUNK), sink());
  const encrypt = GiB / MB / ((performance.now() - started) / 1000);

  // Decryption needs a real container; make one in memory first (not timed).
  const pieces: Buffer[] = [];
  await pipeline(sliceStream(plaintext, 256 * 1024), new EncryptStream(key, CHUNK), sink((chunk) => pieces.push(chunk)));
  const container = Buffer.concat(pieces);
  pieces.length = 0;
  let plain = 0;
  started = performance.now();
  await pipeline(sliceStream(container, 256 * 1024), new ChunkDecryptStream(key), sink((chunk) => (plain += chunk.length)));
  const decrypt = GiB / MB / ((performance.now() - started) / 1000);
  if (plain !== GiB) throw new Error(`decrypted ${plain} bytes, expected ${GiB}`);
  return { encrypt, decrypt, nodeLoop: nodeCryptoLoop(plaintext) };
}

/**
 * node:crypto's own cost on the same data, without streams or the container: one cipher per
 * chunk, update + final + tag. This is the ceiling any Node.js container can reach (each update
 * allocates its output, where openssl speed reuses one buffer); shown so the gap is attributed.
 */
function nodeCryptoLoop(data: Buffer): number {
  const key = generateDataKey();
  const iv = Buffer.alloc(12);
  const started = performance.now();
  for (let offset = 0, i = 0; offset < data.length; offset += CHUNK, i += 1) {
    iv.writeUInt32BE(i, 8);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    cipher.update(data.subarray(offset, offset + CHUNK));
    cipher.final();
    cipher.getAuthTag();
  }
  return data.length / MB / ((performance.now() - started) / 1000);
}

/** Runs in a child process so its RSS is not inflated by the 1 GiB test above. */
async function peakRssWhileEncrypting(bytes: number): Promise<number> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  await pipeline(patternStream(bytes), new EncryptStream(generateDataKey()), sink());
  clearInterval(timer);
  return Math.max(peak, process.memoryUsage().rss);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--rss-child') {
    const peak = await peakRssWhileEncrypting(Number(process.argv[3]));
    process.stdout.write(JSON.stringify({ peak }));
    return;
  }
  process.stdout.write('bench-crypto: measuring openssl, then the container on 1 GiB, then peak RSS on a 2 GiB stream...\n');
  const openssl = opensslSpeed();
  const { encrypt, decrypt, nodeLoop } = await containerThroughput();
  const child = spawnSync(process.execPath, [__filename, '--rss-child', String(2 * GiB)], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`RSS child failed: ${child.stderr}`);
  const peakRssMb = (JSON.parse(child.stdout) as { peak: number }).peak / 1024 / 1024;

  const rows: BenchRow[] = [
    { figure: 'container encrypt, 1 GiB (MB/s)', value: encrypt, anchorName: `openssl speed -evp aes-256-gcm, ${CHUNK / 1024} KiB blocks (MB/s)`, anchor: openssl, target: '>= 60% of openssl', pass: encrypt / openssl >= 0.6 },
    { figure: 'container decrypt, 1 GiB (MB/s)', value: decrypt, anchorName: `openssl speed -evp aes-256-gcm, ${CHUNK / 1024} KiB blocks (MB/s)`, anchor: openssl, target: '>= 60% of openssl', pass: decrypt / openssl >= 0.6 },
    { figure: 'for reference: node:crypto AES-256-GCM loop, no streams (MB/s)', value: nodeLoop, anchorName: 'openssl (MB/s)', anchor: openssl, target: '-', pass: true },
    { figure: 'container encrypt / node:crypto loop', value: encrypt, anchorName: 'node:crypto loop (MB/s)', anchor: nodeLoop, target: '-', pass: true },
    { figure: 'peak RSS encrypting a 2 GiB stream (MB)', value: peakRssMb, target: '< 150 MB, flat', pass: peakRssMb < 150 },
  ];
  printTable('bench-crypto', rows);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
