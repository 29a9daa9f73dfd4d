import crypto from 'node:crypto';
import { PassThrough, Readable, Transform, pipeline } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { ManualClock } from '../../src/clock';
import { DEFAULT_CHUNK_SIZE } from '../../src/crypto/container';
import { Keyring, LocalMasterKey } from '../../src/crypto/keyring';
import { AppError } from '../../src/errors';
import { ObjectStore } from '../../src/storage/object-store';
import { RecordingVault } from '../../src/vault/recording-vault';
import { StorageAdapterError, type StorageAdapter } from '../../storage-adapters/types';

/**
 * The one suite every storage adapter passes: the contract of storage-adapters/types.ts,
 * failures included, and the encrypted round trip through RecordingVault on top of it.
 * Each adapter's own test file calls runAdapterConformance, then adds what is specific to it.
 */

export interface ConformanceTarget {
  readonly name: string;
  /** A fresh, empty adapter. */
  create(): Promise<StorageAdapter>;
  /** Called after each test with the adapter create() returned. */
  destroy(adapter: StorageAdapter): Promise<void>;
}

function randomKey(prefix = 'conformance'): string {
  return `${prefix}/${crypto.randomUUID()}.bin`;
}

function streamOf(data: Buffer, piece = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += piece) parts.push(data.subarray(offset, offset + piece));
  return Readable.from(parts);
}

/** A stream of `size` pseudo-random bytes generated as it is read (nothing held in memory). */
export function generatedStream(size: number, seed = 1): { stream: Readable; sha256: () => string } {
  const hash = crypto.createHash('sha256');
  let produced = 0;
  let counter = seed;
  const block = 256 * 1024;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(block, size - produced);
      const part = crypto.createHash('sha512').update(String(counter++)).digest();
      const out = Buffer.allocUnsafe(length);
      for (let offset = 0; offset < length; offset += part.length) part.copy(out, offset, 0, Math.min(part.length, length - offset));
      // Mix in the position so no 64-byte run repeats within the stream.
      if (length >= 4) out.writeUInt32BE(produced >>> 0, 0);
      hash.update(out);
      produced += length;
      this.push(out);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

export function runAdapterConformance(target: ConformanceTarget): void {
  describe(`${target.name} adapter conformance`, () => {
    let adapter: StorageAdapter;

    beforeEach(async () => {
      adapter = await target.create();
    });

    afterEach(async () => {
      await target.destroy(adapter);
    });

    it('stores and returns bytes exactly, and reports their size', async () => {
      const key = randomKey();
      const data = crypto.randomBytes(300_000);
      const result = await adapter.put(key, streamOf(data));
      expect(result.size).toBe(data.length);
      expect((await buffer(await adapter.get(key))).equals(data)).toBe(true);
      expect((await adapter.head(key))?.size).toBe(data.length);
    });

    it('stores an empty object', async () => {
      const key = randomKey();
      expect((await adapter.put(key, Readable.from([]))).size).toBe(0);
      expect((await buffer(await adapter.get(key))).length).toBe(0);
    });

    it('replaces an object written twice under one key', async () => {
      const key = randomKey();
      await adapter.put(key, streamOf(Buffer.from('first version')));
      await adapter.put(key, streamOf(Buffer.from('second')));
      expect((await buffer(await adapter.get(key))).toString()).toBe('second');
    });

    it('a missing key: get throws not-found, head returns null, delete succeeds', async () => {
      const key = randomKey();
      const error = await rejection(adapter.get(key));
      expect(error).toBeInstanceOf(StorageAdapterError);
      expect((error as StorageAdapterError).kind).toBe('not-found');
      expect(await adapter.head(key)).toBeNull();
      await expect(adapter.delete(key)).resolves.toBeUndefined();
    });

    it('deletes idempotently, and a deleted object is gone', async () => {
      const key = randomKey();
      await adapter.put(key, streamOf(Buffer.from('to be deleted')));
      await adapter.delete(key);
      await adapter.delete(key);
      expect(await adapter.head(key)).toBeNull();
      expect(((await rejection(adapter.get(key))) as StorageAdapterError).kind).toBe('not-found');
    });

    it('range reads return exactly the requested bytes', async () => {
      const key = randomKey();
      const data = crypto.randomBytes(200_000);
      await adapter.put(key, streamOf(data));
      for (const [start, end] of [
        [0, 0],
        [0, 99],
        [1000, 70_000],
        [199_999, 199_999],
      ] as Array<[number, number]>) {
        expect((await buffer(await adapter.get(key, { start, end }))).equals(data.subarray(start, end + 1))).toBe(true);
      }
      expect((await buffer(await adapter.get(key, { start: 150_000 }))).equals(data.subarray(150_000))).toBe(true);
    });

    it('a range starting past the end is refused', async () => {
      const key = randomKey();
      await adapter.put(key, streamOf(Buffer.from('short')));
      const error = await rejection(adapter.get(key, { start: 100, end: 200 }));
      expect((error as StorageAdapterError).kind).toBe('range');
    });

    it('an aborted upload leaves no object', async () => {
      const key = randomKey();
      const body = new PassThrough();
      const controller = new AbortController();
      const pending = adapter.put(key, body, { signal: controller.signal });
      body.write(crypto.randomBytes(100_000));
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      const error = await rejection(pending);
      expect(error).toBeInstanceOf(StorageAdapterError);
      expect((error as StorageAdapterError).kind).toBe('aborted');
      expect(await adapter.head(key)).toBeNull();
    });

    it('a body that fails part-way: put rethrows the body error and leaves no object', async () => {
      const key = randomKey();
      const bodyError = new AppError('E_FETCH_TRUNCATED', 'download ended early');
      const body = new Readable({ read() {} });
      body.push(crypto.randomBytes(64 * 1024));
      setTimeout(() => body.destroy(bodyError), 20);
      const error = await rejection(adapter.put(key, body));
      expect(error).toBe(bodyError);
      expect(await adapter.head(key)).toBeNull();
    });

    it('lists objects under a prefix, with sizes, and nothing else', async () => {
      const prefix = `list-${crypto.randomUUID().slice(0, 8)}/`;
      const keys = [`${prefix}a/1.bin`, `${prefix}a/2.bin`, `${prefix}b/3.bin`];
      for (const [index, key] of keys.entries()) await adapter.put(key, streamOf(Buffer.alloc(index + 1, 7)));
      await adapter.put(randomKey('other'), streamOf(Buffer.from('x')));
      const listed: Array<{ key: string; size: number }> = [];
      for await (const item of adapter.list(prefix)) listed.push({ key: item.key, size: item.size });
      expect(listed.sort((a, b) => a.key.localeCompare(b.key))).toEqual(keys.map((key, index) => ({ key, size: index + 1 })));
      const underA: string[] = [];
      for await (const item of adapter.list(`${prefix}a/`)) underA.push(item.key);
      expect(underA.sort()).toEqual(keys.slice(0, 2));
    });

    it('lists more objects than one page holds', async () => {
      const prefix = `page-${crypto.randomUUID().slice(0, 8)}/`;
      const count = 1005;
      const keys = Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}.bin`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((key) => adapter.put(key, streamOf(Buffer.from('p')))));
      }
      let seen = 0;
      for await (const item of adapter.list(prefix)) {
        expect(item.key.startsWith(prefix)).toBe(true);
        seen += 1;
      }
      expect(seen).toBe(count);
      const result = await adapter.deleteMany(keys);
      expect(result.failed).toEqual([]);
      expect(result.deleted.length).toBe(count);
      let left = 0;
      for await (const _ of adapter.list(prefix)) left += 1;
      expect(left).toBe(0);
    });

    it('deleteMany removes every key, missing ones included', async () => {
      const keys = [randomKey(), randomKey(), randomKey()];
      await adapter.put(keys[0]!, streamOf(Buffer.from('a')));
      await adapter.put(keys[1]!, streamOf(Buffer.from('b')));
      const result = await adapter.deleteMany(keys);
      expect([...result.deleted].sort()).toEqual([...keys].sort());
      expect(result.failed).toEqual([]);
      for (const key of keys) expect(await adapter.head(key)).toBeNull();
    });

    it('refuses keys that could escape or are malformed', async () => {
      for (const key of ['../escape.bin', 'a/../../escape.bin', '/absolute.bin', 'a//b.bin', '', 'a/./b', 'white space', 'a\\b', '..']) {
        const error = await rejection(adapter.put(key, streamOf(Buffer.from('x'))));
        expect(error).toBeInstanceOf(StorageAdapterError);
        expect((error as StorageAdapterError).kind).toBe('invalid-key');
        expect(((await rejection(adapter.get(key))) as StorageAdapterError).kind).toBe('invalid-key');
      }
    });

    describe('encrypted round trip through RecordingVault', () => {
      const masterKey = new LocalMasterKey('lk_20260101_00000000', crypto.randomBytes(32), new ManualClock('2026-01-01').now());
      const chunkSize = DEFAULT_CHUNK_SIZE;
      const sizes = [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 50 * 1024 * 1024];

      it.each(sizes)('%i bytes: same bytes and SHA-256 back; the stored object is not the plaintext', async (size) => {
        const vault = new RecordingVault(new ObjectStore(adapter), new Keyring([masterKey], masterKey.id), chunkSize);
        const key = `recordings/${crypto.randomUUID()}.cv`;
        const generated = generatedStream(size);
        const hash = crypto.createHash('sha256');
        let firstBytes = Buffer.alloc(0);
        let first = true;
        // A WAV-like start, so "no RIFF header in the object" means something; the tap records what went in.
        const plaintext = pipeline(
          generated.stream,
          new Transform({
            transform(chunk: Buffer, _encoding, callback) {
              let part = chunk;
              if (first && part.length >= 12) {
                part = Buffer.from(part);
                part.write('RIFF', 0, 'latin1');
                part.write('WAVE', 8, 'latin1');
              }
              first = false;
              hash.update(part);
              if (firstBytes.length < 4096) firstBytes = Buffer.concat([firstBytes, part]).subarray(0, 4096);
              callback(null, part);
            },
          }),
          () => undefined,
        );
        const sealed = await vault.writeVerified(key, plaintext);
        expect(sealed.plaintextSize).toBe(size);
        expect(sealed.sha256).toBe(hash.digest('hex'));

        const back = crypto.createHash('sha256');
        let backSize = 0;
        for await (const part of await vault.open(sealed)) {
          back.update(part as Buffer);
          backSize += (part as Buffer).length;
        }
        expect(backSize).toBe(size);
        expect(back.digest('hex')).toBe(sealed.sha256);
        await expect(vault.verify(sealed)).resolves.toEqual({ sha256: sealed.sha256, plaintextSize: size });

        if (size <= 1024 * 1024) {
          const stored = await buffer(await adapter.get(key));
          expect(stored.includes(Buffer.from('RIFF'))).toBe(false);
          for (let offset = 0; offset + 64 <= firstBytes.length; offset += 64) {
            expect(stored.includes(firstBytes.subarray(offset, offset + 64))).toBe(false);
          }
        } else {
          let head = Buffer.alloc(0);
          for await (const part of await adapter.get(key, { start: 0, end: 8191 })) head = Buffer.concat([head, part as Buffer]);
          expect(head.includes(Buffer.from('RIFF'))).toBe(false);
          expect(head.includes(firstBytes.subarray(64, 128))).toBe(false);
        }
      });
    });
  });
}
