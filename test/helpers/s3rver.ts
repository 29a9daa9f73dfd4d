import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// s3rver ships no types; the part used here is small.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};

/**
 * A real S3 protocol server (s3rver) in this process, on a free port, with a bucket. s3rver
 * needs path-style addressing and WHEN_REQUIRED checksums from the SDK (see STYLE.md), and
 * NODE_OPTIONS=--openssl-legacy-provider for ListObjectsV2 paging (set by scripts/test.sh).
 * It does not check signatures, except that it rejects unknown access key ids.
 */
export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly directory: string;
  /** Adapter options for this server (S3AdapterOptions). */
  readonly adapterOptions: {
    bucket: string;
    region: string;
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    forcePathStyle: boolean;
    checksum: 'when_required';
    maxAttempts: number;
  };
  /** Stops serving (simulates an outage); data stays on disk. */
  stop(): Promise<void>;
  /** Serves again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops and removes the data. */
  close(): Promise<void>;
}

export async function startS3Server(options: { bucket?: string; buckets?: string[]; port?: number } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'recordings';
  const buckets = [bucket, ...(options.buckets ?? [])];
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-s3rver-'));
  let instance: { run(): Promise<{ port: number }>; close(): Promise<void> } | null = null;
  let port = options.port ?? 0;

  const start = async (): Promise<void> => {
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory,
      resetOnClose: false,
      configureBuckets: buckets.map((name) => ({ name })),
      vhostBuckets: false,
    });
    const address = await server.run();
    port = address.port;
    instance = server;
  };
  await start();
  const endpoint = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (!instance) return;
    const current = instance;
    instance = null;
    await current.close();
  };

  return {
    endpoint,
    port,
    bucket,
    directory,
    adapterOptions: {
      bucket,
      region: 'us-east-1',
      endpoint,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      forcePathStyle: true,
      checksum: 'when_required',
      maxAttempts: 1,
    },
    stop,
    start,
    close: async () => {
      await stop();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
