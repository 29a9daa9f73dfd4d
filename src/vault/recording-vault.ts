import crypto from 'node:crypto';
import { pipeline, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { AppError } from '../errors';
import {
  ChunkDecryptStream,
  EncryptStream,
  HEADER_LENGTH,
  ciphertextRangeFor,
  generateDataKey,
  parseHeader,
} from '../crypto/container';
import type { Keyring } from '../crypto/keyring';
import type { ObjectStore } from '../storage/object-store';

/**
 * Where plaintext audio becomes a stored, encrypted object and back. Nothing here ever writes
 * plaintext anywhere: bytes go hash -> encrypt -> storage adapter as one stream.
 */

export interface SealedObject {
  readonly storageKey: string;
  readonly keyId: string;
  readonly wrappedKey: Buffer;
  readonly plaintextSize: number;
  readonly ciphertextSize: number;
  readonly chunkSize: number;
  /** SHA-256 of the plaintext, hex. */
  readonly sha256: string;
}

/** What the vault needs from an index row to read a recording back. */
export interface SealedRef {
  readonly storageKey: string;
  readonly keyId: string;
  readonly wrappedKey: Buffer;
  readonly plaintextSize: number;
  readonly sha256: string;
}

export interface WriteOptions {
  /** Plaintext larger than this fails with E_AUDIO_TOO_LARGE and leaves no object. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  /** Called once the object is written, before it is read back (crash-safety tests hook in here). */
  readonly onStored?: () => void;
}

export interface VerifyResult {
  readonly sha256: string;
  readonly plaintextSize: number;
}

export class RecordingVault {
  constructor(
    private readonly store: ObjectStore,
    private readonly keyring: Keyring,
    private readonly chunkSize: number,
  ) {}

  /**
   * Encrypts `plaintext` under a fresh data key and stores it at `storageKey`, then reads the
   * object back and authenticates every chunk (with the data key still in memory, so an
   * ingest-only RSA node can verify what it cannot later read). Returns what the index must
   * keep, including the plaintext SHA-256. On any failure nothing is left at `storageKey`.
   */
  async writeVerified(storageKey: string, plaintext: Readable, options: WriteOptions = {}): Promise<SealedObject> {
    const dataKey = generateDataKey();
    try {
      const wrapped = this.keyring.wrap(dataKey);
      if (this.keyring.canUnwrap(wrapped.keyId) && !this.keyring.unwrap(wrapped.keyId, wrapped.wrappedKey).equals(dataKey)) {
        throw new AppError('E_KEY_UNWRAP', 'the master key did not give back the data key it wrapped');
      }
      const digest = new DigestStream(options.maxBytes);
      const encrypt = new EncryptStream(dataKey, this.chunkSize);
      const ciphertext = pipeline(plaintext, digest, encrypt, () => undefined);
      // put leaves nothing behind on failure; an error of the plaintext side comes back unchanged.
      const stored = await this.store.put(storageKey, ciphertext, { signal: options.signal });
      options.onStored?.();
      const sealed: SealedObject = {
        storageKey,
        keyId: wrapped.keyId,
        wrappedKey: wrapped.wrappedKey,
        plaintextSize: digest.size,
        ciphertextSize: stored.size,
        chunkSize: this.chunkSize,
        sha256: digest.hex(),
      };
      try {
        // Read back in full and authenticate every chunk under the data key. A 128-bit tag per
        // chunk, bound to its index and the last-chunk flag, proves the stored bytes are exactly
        // what was encrypted, so the plaintext need not be hashed a second time here.
        const readBack = await this.authenticatedSize(storageKey, dataKey);
        if (readBack !== sealed.plaintextSize) {
          throw new AppError('E_INTEGRITY', `object ${storageKey} read back holds ${readBack} bytes, ${sealed.plaintextSize} were written`);
        }
      } catch (error) {
        await this.store.delete(storageKey).catch(() => undefined);
        throw error;
      }
      return sealed;
    } finally {
      dataKey.fill(0);
    }
  }

  /** Decrypts the whole object and checks its SHA-256 against the index. */
  async verify(ref: SealedRef): Promise<VerifyResult> {
    const dataKey = this.keyring.unwrap(ref.keyId, ref.wrappedKey);
    try {
      const result = await this.digestObject(ref.storageKey, dataKey);
      if (result.sha256 !== ref.sha256 || result.plaintextSize !== ref.plaintextSize) {
        throw new AppError('E_INTEGRITY', `recording decrypts to ${result.plaintextSize} bytes with SHA-256 ${result.sha256.slice(0, 12)}..., the index expects ${ref.plaintextSize} bytes with ${ref.sha256.slice(0, 12)}...`);
      }
      return result;
    } finally {
      dataKey.fill(0);
    }
  }

  /**
   * The plaintext, streamed; with a range, only the chunks that hold it are fetched and decrypted.
   * @param range inclusive plaintext byte offsets
   */
  async open(ref: SealedRef, range?: { start: number; end: number }): Promise<Readable> {
    const dataKey = this.keyring.unwrap(ref.keyId, ref.wrappedKey);
    if (!range) {
      const body = await this.store.get(ref.storageKey);
      return pipeline(body, new ChunkDecryptStream(dataKey), () => undefined);
    }
    const headerBytes = await readAll(await this.store.get(ref.storageKey, { start: 0, end: HEADER_LENGTH - 1 }));
    const header = parseHeader(headerBytes, dataKey);
    const span = ciphertextRangeFor(header, ref.plaintextSize, range.start, range.end);
    const body = await this.store.get(ref.storageKey, { start: span.start, end: span.end });
    return pipeline(body, new ChunkDecryptStream(dataKey, header, span.window), () => undefined);
  }

  private async authenticatedSize(storageKey: string, dataKey: Buffer): Promise<number> {
    let size = 0;
    await pipelineAsync(
      await this.store.get(storageKey),
      new ChunkDecryptStream(dataKey),
      new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          size += chunk.length;
          done();
        },
      }),
    );
    return size;
  }

  private async digestObject(storageKey: string, dataKey: Buffer): Promise<VerifyResult> {
    const digest = new DigestStream();
    await pipelineAsync(await this.store.get(storageKey), new ChunkDecryptStream(dataKey), digest, new Writable({ write: (_chunk, _encoding, done) => done() }));
    return { sha256: digest.hex(), plaintextSize: digest.size };
  }
}

/** Passes bytes through while hashing and counting them, and enforces a size limit. */
export class DigestStream extends Transform {
  private readonly hash = crypto.createHash('sha256');
  private digest: string | undefined;
  size = 0;

  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(new AppError('E_AUDIO_TOO_LARGE', `recording is larger than the limit of ${this.maxBytes} bytes`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  hex(): string {
    this.digest ??= this.hash.digest('hex');
    return this.digest;
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}
