import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Adapter } from '../../storage-adapters/s3';
import type { StorageAdapter } from '../../storage-adapters/types';
import { checkStorage } from '../../src/storage/check';
import { ObjectStore } from '../../src/storage/object-store';
import { startS3Server, type S3Server } from '../helpers/s3rver';
import { generatedStream, runAdapterConformance } from './conformance';

let server: S3Server;

beforeAll(async () => {
  server = await startS3Server({ bucket: 'conformance' });
});

afterAll(async () => {
  await server.close();
});

runAdapterConformance({
  name: 's3 (s3rver)',
  async create() {
    // A fresh prefix per test keeps tests apart inside the one bucket.
    return new S3Adapter({ ...server.adapterOptions, prefix: `t-${crypto.randomUUID().slice(0, 8)}`, partSizeBytes: 5 * 1024 * 1024 });
  },
  async destroy(adapter) {
    await adapter.close();
  },
});

describe('s3 adapter specifics', () => {
  let adapter: StorageAdapter;

  beforeEach(() => {
    adapter = new S3Adapter({ ...server.adapterOptions, prefix: `s-${crypto.randomUUID().slice(0, 8)}`, partSizeBytes: 5 * 1024 * 1024 });
  });
  afterEach(async () => adapter.close());

  it('uploads a stream of unknown length in several parts and reads it back intact', async () => {
    const size = 23 * 1024 * 1024 + 17;
    const generated = generatedStream(size, 7);
    const result = await adapter.put('multipart/object.bin', generated.stream);
    expect(result.size).toBe(size);
    const expected = generated.sha256();
    const hash = crypto.createHash('sha256');
    for await (const part of await adapter.get('multipart/object.bin')) hash.update(part as Buffer);
    expect(hash.digest('hex')).toBe(expected);
  });

  it('keeps the key prefix: objects of one prefix are invisible under another', async () => {
    const other = new S3Adapter({ ...server.adapterOptions, prefix: 'somewhere-else' });
    await adapter.put('a/b.bin', Readable.from([Buffer.from('x')]));
    expect(await other.head('a/b.bin')).toBeNull();
    await other.close();
  });

  it('maps a missing bucket and an unknown access key id to their own error kinds', async () => {
    const noBucket = new S3Adapter({ ...server.adapterOptions, bucket: 'no-such-bucket' });
    await expect(noBucket.put('x.bin', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ kind: 'bucket' });
    await noBucket.close();
    const badKey = new S3Adapter({ ...server.adapterOptions, accessKeyId: 'UNKNOWNKEY', secretAccessKey: 'nope' });
    await expect(badKey.put('x.bin', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ kind: 'credentials' });
    await badKey.close();
  });

  it('a failed upload tears its body down, so the producer stops instead of waiting forever', async () => {
    const noBucket = new S3Adapter({ ...server.adapterOptions, bucket: 'no-such-bucket', partSizeBytes: 5 * 1024 * 1024 });
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 1));
      },
    });
    await expect(noBucket.put('endless.bin', endless)).rejects.toMatchObject({ kind: 'bucket' });
    expect(endless.destroyed).toBe(true);
    const producedAtFailure = produced;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(produced).toBe(producedAtFailure);
    await noBucket.close();
  });

  it('reports an unreachable endpoint as unavailable', async () => {
    const nowhere = new S3Adapter({ ...server.adapterOptions, endpoint: 'http://127.0.0.1:1' });
    await expect(nowhere.head('x.bin')).rejects.toMatchObject({ kind: 'unavailable' });
    await nowhere.close();
  });
});

describe('storage check against s3rver', () => {
  it('passes with the right bucket and credentials', async () => {
    const store = new ObjectStore(new S3Adapter(server.adapterOptions));
    const report = await checkStorage(store, { target: `bucket conformance at ${server.endpoint}` });
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['write', 'read', 'compare', 'delete', 'confirm-deleted']);
    await store.close();
  });

  it('says the bucket is missing when it is', async () => {
    const store = new ObjectStore(new S3Adapter({ ...server.adapterOptions, bucket: 'wrong-bucket' }));
    const report = await checkStorage(store, { target: 'bucket wrong-bucket' });
    expect(report.ok).toBe(false);
    expect(report.advice).toMatch(/bucket does not exist/);
    expect(report.advice).toMatch(/CALLVAULT_S3_BUCKET/);
    await store.close();
  });

  it('says the credentials are wrong for an unknown access key id', async () => {
    const store = new ObjectStore(new S3Adapter({ ...server.adapterOptions, accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }));
    const report = await checkStorage(store, { target: 'bucket conformance' });
    expect(report.ok).toBe(false);
    expect(report.advice).toMatch(/credentials are wrong/);
    expect(report.advice).toMatch(/CALLVAULT_S3_ACCESS_KEY_ID/);
    await store.close();
  });

  it('says the endpoint cannot be reached when nothing listens there', async () => {
    const store = new ObjectStore(new S3Adapter({ ...server.adapterOptions, endpoint: 'http://127.0.0.1:1' }));
    const report = await checkStorage(store, { target: 'http://127.0.0.1:1' });
    expect(report.ok).toBe(false);
    expect(report.advice).toMatch(/cannot be reached/);
    await store.close();
  });
});
