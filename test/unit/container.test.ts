import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  ChunkDecryptStream,
  EncryptStream,
  HEADER_LENGTH,
  TAG_LENGTH,
  ciphertextRangeFor,
  ciphertextSize,
  generateDataKey,
  parseHeader,
  plaintextSizeOf,
} from '../../src/crypto/container';
import { AppError } from '../../src/errors';

const CHUNK = 1024;

/** Feeds `data` in pieces of `piece` bytes, so chunk boundaries fall anywhere in the input. */
function source(data: Buffer, piece = 777): Readable {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += piece) parts.push(data.subarray(offset, offset + piece));
  return Readable.from(parts);
}

async function encrypt(plaintext: Buffer, key: Buffer, chunkSize = CHUNK, piece?: number): Promise<Buffer> {
  return buffer(source(plaintext, piece).pipe(new EncryptStream(key, chunkSize)));
}

async function decrypt(container: Buffer, key: Buffer, piece?: number): Promise<Buffer> {
  return buffer(source(container, piece).pipe(new ChunkDecryptStream(key)));
}

async function expectCryptoFailure(promise: Promise<unknown>, code = 'E_CRYPTO_AUTH'): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

function chunkOffsets(container: Buffer, chunkSize = CHUNK): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let offset = HEADER_LENGTH; offset < container.length; offset += chunkSize + TAG_LENGTH) {
    out.push([offset, Math.min(offset + chunkSize + TAG_LENGTH, container.length)]);
  }
  return out;
}

describe('container round trip', () => {
  const key = generateDataKey();
  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17, 50_000];

  it.each(sizes)('returns exactly the %i bytes it was given, with the expected container size', async (size) => {
    const plaintext = crypto.randomBytes(size);
    const container = await encrypt(plaintext, key);
    expect(container.length).toBe(ciphertextSize(size, CHUNK));
    expect(plaintextSizeOf(container.length, CHUNK)).toBe(size);
    const decrypted = await decrypt(container, key);
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it('works whatever the input piece sizes (1 byte at a time, and chunk-aligned)', async () => {
    const plaintext = crypto.randomBytes(3 * CHUNK + 5);
    for (const piece of [1, CHUNK, CHUNK + 1, 4 * CHUNK]) {
      const container = await encrypt(plaintext, key, CHUNK, piece);
      expect((await decrypt(container, key, piece)).equals(plaintext)).toBe(true);
    }
  });

  it('never stores the plaintext: no RIFF header and no 64-byte run of the input in the container', async () => {
    const wav = Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), crypto.randomBytes(8 * CHUNK)]);
    const container = await encrypt(wav, key);
    expect(container.includes(Buffer.from('RIFF'))).toBe(false);
    expect(container.includes(Buffer.from('WAVE'))).toBe(false);
    for (let offset = 0; offset + 64 <= wav.length; offset += 61) {
      expect(container.includes(wav.subarray(offset, offset + 64))).toBe(false);
    }
  });

  it('uses a fresh nonce prefix per object, so the same audio never encrypts the same way twice', async () => {
    const plaintext = crypto.randomBytes(2 * CHUNK);
    const a = await encrypt(plaintext, key);
    const b = await encrypt(plaintext, key);
    expect(a.equals(b)).toBe(false);
  });
});

describe('container refuses anything that is not exactly what was written', () => {
  const key = generateDataKey();
  let plaintext: Buffer;
  let container: Buffer;

  beforeAll(async () => {
    plaintext = crypto.randomBytes(5 * CHUNK + 100);
    container = await encrypt(plaintext, key);
  });

  it('a flipped byte in any chunk body or tag', async () => {
    for (const position of [HEADER_LENGTH, HEADER_LENGTH + 500, HEADER_LENGTH + CHUNK + 3, container.length - 1, container.length - TAG_LENGTH - 1]) {
      const tampered = Buffer.from(container);
      tampered[position]! ^= 0x01;
      await expectCryptoFailure(decrypt(tampered, key));
    }
  });

  it('a changed header byte (chunk size, nonce prefix, key check)', async () => {
    for (const position of [9, 12, 18, 25]) {
      const tampered = Buffer.from(container);
      tampered[position]! ^= 0x01;
      const error = await decrypt(tampered, key).then(
        () => null,
        (e: AppError) => e,
      );
      expect(error).toBeInstanceOf(AppError);
      expect(['E_CRYPTO_AUTH', 'E_CRYPTO_FORMAT']).toContain(error!.code);
    }
  });

  it('bad magic or version is a format error', async () => {
    const badMagic = Buffer.from(container);
    badMagic[0] = 0x00;
    await expectCryptoFailure(decrypt(badMagic, key), 'E_CRYPTO_FORMAT');
    const badVersion = Buffer.from(container);
    badVersion[4] = 9;
    await expectCryptoFailure(decrypt(badVersion, key), 'E_CRYPTO_FORMAT');
  });

  it('truncation: mid-chunk, at a chunk boundary, inside the header, and to nothing', async () => {
    const [, secondEnd] = chunkOffsets(container)[1]!;
    for (const length of [container.length - 1, container.length - TAG_LENGTH, secondEnd, HEADER_LENGTH + 10, HEADER_LENGTH, 20, 0]) {
      await expectCryptoFailure(decrypt(container.subarray(0, length), key));
    }
  });

  it('a dropped, duplicated or reordered chunk', async () => {
    const chunks = chunkOffsets(container).map(([start, end]) => container.subarray(start, end));
    const header = container.subarray(0, HEADER_LENGTH);
    const dropped = Buffer.concat([header, chunks[0]!, ...chunks.slice(2)]);
    const duplicated = Buffer.concat([header, chunks[0]!, chunks[0]!, ...chunks.slice(1)]);
    const reordered = Buffer.concat([header, chunks[1]!, chunks[0]!, ...chunks.slice(2)]);
    const lastDropped = Buffer.concat([header, ...chunks.slice(0, -1)]);
    for (const variant of [dropped, duplicated, reordered, lastDropped]) {
      await expectCryptoFailure(decrypt(variant, key));
    }
  });

  it('a chunk swapped in from another recording, even one (wrongly) under the same data key', async () => {
    const other = await encrypt(crypto.randomBytes(plaintext.length), key);
    const [start, end] = chunkOffsets(container)[2]!;
    const swapped = Buffer.concat([container.subarray(0, start), other.subarray(start, end), container.subarray(end)]);
    await expectCryptoFailure(decrypt(swapped, key));
    const otherKey = await encrypt(crypto.randomBytes(plaintext.length), generateDataKey());
    const swappedOtherKey = Buffer.concat([container.subarray(0, start), otherKey.subarray(start, end), container.subarray(end)]);
    await expectCryptoFailure(decrypt(swappedOtherKey, key));
  });

  it('data appended after the final chunk', async () => {
    await expectCryptoFailure(decrypt(Buffer.concat([container, Buffer.from([0])]), key));
    await expectCryptoFailure(decrypt(Buffer.concat([container, container.subarray(HEADER_LENGTH, HEADER_LENGTH + CHUNK + TAG_LENGTH)]), key));
  });

  it('the wrong data key fails at once with a clear message', async () => {
    const error = await expectCryptoFailure(decrypt(container, generateDataKey()));
    expect(error.message).toMatch(/data key does not match/);
  });

  it('emits no plaintext from a chunk that fails authentication', async () => {
    const tampered = Buffer.from(container);
    tampered[chunkOffsets(container)[0]![0] + 10]! ^= 0x80;
    const received: Buffer[] = [];
    const stream = source(tampered).pipe(new ChunkDecryptStream(key));
    await new Promise<void>((resolve) => {
      stream.on('data', (part: Buffer) => received.push(part));
      stream.on('error', () => resolve());
      stream.on('end', () => resolve());
    });
    expect(Buffer.concat(received).length).toBe(0);
  });
});

describe('range decryption', () => {
  const key = generateDataKey();
  let plaintext: Buffer;
  let container: Buffer;

  beforeAll(async () => {
    plaintext = crypto.randomBytes(7 * CHUNK + 333);
    container = await encrypt(plaintext, key);
  });

  async function decryptRange(start: number, end: number): Promise<Buffer> {
    const header = parseHeader(container.subarray(0, HEADER_LENGTH), key);
    const span = ciphertextRangeFor(header, plaintext.length, start, end);
    return buffer(source(container.subarray(span.start, span.end + 1)).pipe(new ChunkDecryptStream(key, header, span.window)));
  }

  it('returns exactly the requested bytes for ranges inside, across and at the edges of chunks', async () => {
    const cases: Array<[number, number]> = [
      [0, 0],
      [0, CHUNK - 1],
      [CHUNK - 1, CHUNK],
      [CHUNK, 2 * CHUNK - 1],
      [100, 5 * CHUNK + 7],
      [plaintext.length - 1, plaintext.length - 1],
      [7 * CHUNK, plaintext.length - 1],
      [0, plaintext.length - 1],
    ];
    for (let i = 0; i < 40; i += 1) {
      const a = crypto.randomInt(plaintext.length);
      const b = crypto.randomInt(plaintext.length);
      cases.push([Math.min(a, b), Math.max(a, b)]);
    }
    for (const [start, end] of cases) {
      const got = await decryptRange(start, end);
      expect(got.equals(plaintext.subarray(start, end + 1))).toBe(true);
    }
  });

  it('fetches only the chunks that hold the range', () => {
    const header = parseHeader(container.subarray(0, HEADER_LENGTH), key);
    const span = ciphertextRangeFor(header, plaintext.length, 2 * CHUNK + 5, 2 * CHUNK + 10);
    expect(span.end - span.start + 1).toBe(CHUNK + TAG_LENGTH);
  });

  it('refuses a range outside the recording', () => {
    const header = parseHeader(container.subarray(0, HEADER_LENGTH), key);
    for (const [start, end] of [
      [0, plaintext.length],
      [-1, 5],
      [10, 5],
    ] as Array<[number, number]>) {
      expect(() => ciphertextRangeFor(header, plaintext.length, start, end)).toThrow(expect.objectContaining({ code: 'E_CRYPTO_RANGE' }));
    }
  });

  it('detects a tampered chunk inside the range', async () => {
    const header = parseHeader(container.subarray(0, HEADER_LENGTH), key);
    const span = ciphertextRangeFor(header, plaintext.length, CHUNK, 3 * CHUNK);
    const slice = Buffer.from(container.subarray(span.start, span.end + 1));
    slice[CHUNK + TAG_LENGTH + 3]! ^= 1;
    await expectCryptoFailure(buffer(source(slice).pipe(new ChunkDecryptStream(key, header, span.window))));
  });

  it('detects a range read that stops short of the final chunk', async () => {
    const header = parseHeader(container.subarray(0, HEADER_LENGTH), key);
    const span = ciphertextRangeFor(header, plaintext.length, 6 * CHUNK, plaintext.length - 1);
    await expectCryptoFailure(buffer(source(container.subarray(span.start, span.end - 3)).pipe(new ChunkDecryptStream(key, header, span.window))));
  });
});

describe('plaintextSizeOf', () => {
  it('rejects container sizes no valid layout can have', () => {
    expect(() => plaintextSizeOf(HEADER_LENGTH + 5, CHUNK)).toThrow(AppError);
    expect(() => plaintextSizeOf(HEADER_LENGTH + CHUNK + TAG_LENGTH + 3, CHUNK)).toThrow(AppError);
    expect(plaintextSizeOf(HEADER_LENGTH + TAG_LENGTH, CHUNK)).toBe(0);
  });
});
