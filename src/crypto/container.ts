import crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../errors';

/**
 * The callvault container: audio encrypted with AES-256-GCM in independently authenticated
 * chunks, so that it can be streamed in and out with constant memory and a byte range can be
 * decrypted without reading the whole object.
 *
 *   header (36 bytes)
 *     0  4  magic "CVLT"
 *     4  1  format version (1)
 *     5  1  algorithm (1 = AES-256-GCM, chunked)
 *     6  2  header length, big-endian (36; lets a later version grow the header)
 *     8  4  plaintext chunk size, big-endian
 *    12  7  nonce prefix (random per object)
 *    19  1  reserved (0)
 *    20 16  key check: HMAC-SHA256(data key, "callvault/key-check/v1" || bytes 0..19), first 16 bytes
 *   chunks, in order: ciphertext (chunk size bytes; the last one 0..chunk size) || 16-byte GCM tag
 *
 * Chunk i uses nonce = prefix(7) || i (uint32 BE) || last (0 or 1), and authenticates as AAD the
 * header bytes, i and the last flag. So a changed byte fails its tag; a dropped, duplicated or
 * reordered chunk fails (wrong index in nonce and AAD); a truncated object fails (no chunk carries
 * the last flag where the stream ends); a chunk from another recording fails (different data key
 * and nonce prefix); a changed header fails every chunk.
 *
 * The data key is fresh per recording. Its wrapped form (under the master key) is kept in the
 * index, not in this header: rotation re-wraps it without rewriting the object, and destroying
 * it makes every copy of the object (backups, old versions) undecryptable: crypto-shredding.
 * The key check lets a wrong key fail at once with a clear error instead of at the first tag.
 */

export const MAGIC = Buffer.from('CVLT', 'ascii');
export const FORMAT_VERSION = 1;
export const ALGORITHM_AES256_GCM_CHUNKED = 1;
export const HEADER_LENGTH = 36;
export const TAG_LENGTH = 16;
export const DATA_KEY_LENGTH = 32;
export const DEFAULT_CHUNK_SIZE = 256 * 1024;
const NONCE_PREFIX_LENGTH = 7;
const KEY_CHECK_LABEL = Buffer.from('callvault/key-check/v1', 'ascii');

export interface ContainerHeader {
  readonly version: number;
  readonly chunkSize: number;
  readonly noncePrefix: Buffer;
  readonly keyCheck: Buffer;
  /** The header exactly as stored; it is part of every chunk's AAD. */
  readonly bytes: Buffer;
}

export function generateDataKey(): Buffer {
  return crypto.randomBytes(DATA_KEY_LENGTH);
}

function keyCheck(dataKey: Buffer, headerPrefix: Buffer): Buffer {
  return crypto.createHmac('sha256', dataKey).update(KEY_CHECK_LABEL).update(headerPrefix).digest().subarray(0, 16);
}

export function createHeader(dataKey: Buffer, chunkSize: number): ContainerHeader {
  assertDataKey(dataKey);
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 0xffffffff) {
    throw new RangeError(`chunk size must be a positive 32-bit integer, got ${chunkSize}`);
  }
  const bytes = Buffer.alloc(HEADER_LENGTH);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt8(FORMAT_VERSION, 4);
  bytes.writeUInt8(ALGORITHM_AES256_GCM_CHUNKED, 5);
  bytes.writeUInt16BE(HEADER_LENGTH, 6);
  bytes.writeUInt32BE(chunkSize, 8);
  const noncePrefix = crypto.randomBytes(NONCE_PREFIX_LENGTH);
  noncePrefix.copy(bytes, 12);
  const check = keyCheck(dataKey, bytes.subarray(0, 20));
  check.copy(bytes, 20);
  return { version: FORMAT_VERSION, chunkSize, noncePrefix, keyCheck: check, bytes };
}

/** Parses and checks a header; with a data key, also checks that it is the right key. */
export function parseHeader(bytes: Buffer, dataKey?: Buffer): ContainerHeader {
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) {
    throw new AppError('E_CRYPTO_FORMAT', 'not a callvault container (bad magic)');
  }
  const version = bytes.readUInt8(4);
  if (version !== FORMAT_VERSION) throw new AppError('E_CRYPTO_FORMAT', `unsupported container version ${version}`);
  if (bytes.readUInt8(5) !== ALGORITHM_AES256_GCM_CHUNKED) throw new AppError('E_CRYPTO_FORMAT', 'unsupported container algorithm');
  const length = bytes.readUInt16BE(6);
  if (length !== HEADER_LENGTH || bytes.length < HEADER_LENGTH) throw new AppError('E_CRYPTO_FORMAT', 'container header is truncated or malformed');
  const chunkSize = bytes.readUInt32BE(8);
  if (chunkSize === 0) throw new AppError('E_CRYPTO_FORMAT', 'container chunk size is zero');
  const header: ContainerHeader = {
    version,
    chunkSize,
    noncePrefix: Buffer.from(bytes.subarray(12, 19)),
    keyCheck: Buffer.from(bytes.subarray(20, 36)),
    bytes: Buffer.from(bytes.subarray(0, HEADER_LENGTH)),
  };
  if (dataKey) {
    assertDataKey(dataKey);
    if (!crypto.timingSafeEqual(keyCheck(dataKey, header.bytes.subarray(0, 20)), header.keyCheck)) {
      throw new AppError('E_CRYPTO_AUTH', 'the data key does not match this object (wrong key or damaged header)');
    }
  }
  return header;
}

function assertDataKey(dataKey: Buffer): void {
  if (dataKey.length !== DATA_KEY_LENGTH) throw new RangeError('data key must be 32 bytes');
}

/**
 * Nonce and AAD for each chunk, written into buffers reused from chunk to chunk (Node copies
 * both when a cipher is created), so the per-chunk cost is the cipher itself.
 *   nonce = prefix(7) || index (uint32 BE) || last (1 byte)
 *   AAD   = header(36) || index (uint32 BE) || last (1 byte)
 */
class ChunkFrame {
  private readonly nonceBuffer = Buffer.alloc(12);
  private readonly aadBuffer = Buffer.alloc(HEADER_LENGTH + 5);

  constructor(header: ContainerHeader) {
    header.noncePrefix.copy(this.nonceBuffer, 0);
    header.bytes.copy(this.aadBuffer, 0);
  }

  nonce(index: number, last: boolean): Buffer {
    this.nonceBuffer.writeUInt32BE(index, 7);
    this.nonceBuffer.writeUInt8(last ? 1 : 0, 11);
    return this.nonceBuffer;
  }

  aad(index: number, last: boolean): Buffer {
    this.aadBuffer.writeUInt32BE(index, HEADER_LENGTH);
    this.aadBuffer.writeUInt8(last ? 1 : 0, HEADER_LENGTH + 4);
    return this.aadBuffer;
  }
}

/** Size of the container holding `plaintextSize` bytes. */
export function ciphertextSize(plaintextSize: number, chunkSize: number): number {
  return HEADER_LENGTH + plaintextSize + chunkCount(plaintextSize, chunkSize) * TAG_LENGTH;
}

/** Number of chunks for a plaintext size: at least one, so even empty audio carries a last chunk. */
export function chunkCount(plaintextSize: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(plaintextSize / chunkSize));
}

/** Plaintext size from a container's total size; throws if no valid layout has that size. */
export function plaintextSizeOf(containerSize: number, chunkSize: number): number {
  const body = containerSize - HEADER_LENGTH;
  const full = chunkSize + TAG_LENGTH;
  const chunks = Math.max(1, Math.ceil(body / full));
  const size = body - chunks * TAG_LENGTH;
  if (body < TAG_LENGTH || size < 0 || size > chunks * chunkSize || (size <= (chunks - 1) * chunkSize && chunks > 1)) {
    throw new AppError('E_CRYPTO_AUTH', 'container size does not match any valid layout (truncated or extended)');
  }
  return size;
}

/**
 * Encrypts a plaintext stream into a container. Memory is one chunk, whatever the length: a
 * full chunk is held back until the next byte (or the end) shows whether it is the last one.
 */
export class EncryptStream extends Transform {
  readonly header: ContainerHeader;
  private readonly dataKey: Buffer;
  private readonly chunkSize: number;
  private readonly pending: Buffer;
  private readonly frame: ChunkFrame;
  private filled = 0;
  private index = 0;
  private headerSent = false;

  constructor(dataKey: Buffer, chunkSize: number = DEFAULT_CHUNK_SIZE) {
    super({ highWaterMark: chunkSize * 2, readableHighWaterMark: chunkSize * 2 });
    this.header = createHeader(dataKey, chunkSize);
    this.dataKey = dataKey;
    this.chunkSize = chunkSize;
    this.pending = Buffer.allocUnsafe(chunkSize);
    this.frame = new ChunkFrame(this.header);
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.sendHeader();
      let offset = 0;
      while (offset < data.length) {
        if (this.filled === this.chunkSize) {
          // More input exists, so the held chunk is not the last one.
          this.seal(this.pending, false);
          this.filled = 0;
        }
        if (this.filled === 0 && data.length - offset > this.chunkSize) {
          // Fast path: a whole chunk is in the input with more after it; encrypt it in place.
          this.seal(data.subarray(offset, offset + this.chunkSize), false);
          offset += this.chunkSize;
          continue;
        }
        const take = Math.min(this.chunkSize - this.filled, data.length - offset);
        data.copy(this.pending, this.filled, offset, offset + take);
        this.filled += take;
        offset += take;
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.sendHeader();
      this.seal(this.pending.subarray(0, this.filled), true);
      this.filled = 0;
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(this.header.bytes);
  }

  private seal(plaintext: Buffer, last: boolean): void {
    if (this.index > 0xffffffff) throw new AppError('E_CRYPTO_FORMAT', 'recording too long for one container');
    const cipher = crypto.createCipheriv('aes-256-gcm', this.dataKey, this.frame.nonce(this.index, last), { authTagLength: TAG_LENGTH });
    cipher.setAAD(this.frame.aad(this.index, last));
    const ciphertext = cipher.update(plaintext);
    cipher.final();
    this.push(ciphertext);
    this.push(cipher.getAuthTag());
    this.index += 1;
  }
}

export interface ChunkWindow {
  /** Index of the first chunk in the incoming bytes. */
  firstChunk: number;
  /** Range reads: index of the last chunk in the incoming bytes. Whole-object reads leave it out. */
  endChunk?: number;
  /** Range reads: whether `endChunk` is the container's final chunk (sealed with the last flag). */
  endIsFinal?: boolean;
  /** Plaintext bytes to drop from the start of the first chunk. */
  skip?: number;
  /** Plaintext bytes to emit at most. */
  limit?: number;
}

/**
 * Decrypts chunks. Emits only authenticated plaintext: a chunk is released after its tag
 * verifies, so a consumer never sees a byte that did not come from the encryptor; tampering,
 * truncation and reordering end the stream with an E_CRYPTO_AUTH error.
 */
export class ChunkDecryptStream extends Transform {
  private readonly dataKey: Buffer;
  private full: number;
  private readonly endChunk: number | undefined;
  private readonly endIsFinal: boolean;
  private sawEnd = false;
  private header: ContainerHeader | undefined;
  private frame!: ChunkFrame;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private index: number;
  private toSkip: number;
  private remaining: number;

  /** Without a header, the stream starts with one (a whole object); with one, it starts at a chunk. */
  constructor(dataKey: Buffer, header?: ContainerHeader, window: ChunkWindow = { firstChunk: 0 }) {
    super({ readableHighWaterMark: (header?.chunkSize ?? DEFAULT_CHUNK_SIZE) * 2 });
    assertDataKey(dataKey);
    this.dataKey = dataKey;
    this.header = header;
    if (header) this.frame = new ChunkFrame(header);
    this.full = header ? header.chunkSize + TAG_LENGTH : 0;
    this.index = window.firstChunk;
    this.endChunk = window.endChunk;
    this.endIsFinal = window.endIsFinal ?? false;
    this.toSkip = window.skip ?? 0;
    this.remaining = window.limit ?? Number.POSITIVE_INFINITY;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.queue.push(data);
      this.queued += data.length;
      if (!this.header && !this.readHeader()) return callback();
      this.drain(false);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.header) throw new AppError('E_CRYPTO_AUTH', 'object is truncated (incomplete header)');
      this.drain(true);
      if (!this.sawEnd) throw new AppError('E_CRYPTO_AUTH', 'object is truncated (no final chunk)');
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private readHeader(): boolean {
    if (this.queued < HEADER_LENGTH) return false;
    const bytes = Buffer.concat(this.takeParts(HEADER_LENGTH));
    this.header = parseHeader(bytes, this.dataKey);
    this.full = this.header.chunkSize + TAG_LENGTH;
    this.frame = new ChunkFrame(this.header);
    return true;
  }

  private drain(ending: boolean): void {
    for (;;) {
      if (this.sawEnd) {
        if (this.queued > 0) throw new AppError('E_CRYPTO_AUTH', 'object has data after its final chunk');
        return;
      }
      if (this.endChunk === undefined) {
        // Whole-object read: a full chunk is the final one only if nothing follows it.
        if (this.queued > this.full) {
          this.open(this.takeParts(this.full), this.full, false);
          continue;
        }
        if (!ending || this.queued === 0) return; // at the end with nothing left: truncated at a chunk boundary; _flush reports it
        if (this.queued < TAG_LENGTH) throw new AppError('E_CRYPTO_AUTH', 'final chunk is truncated');
        this.openLast();
        continue;
      }
      if (this.index === this.endChunk && this.endIsFinal) {
        // The final chunk may be short; it is whatever arrives until the end of the range.
        if (!ending) return;
        if (this.queued < TAG_LENGTH || this.queued > this.full) throw new AppError('E_CRYPTO_AUTH', 'final chunk is truncated or oversized');
        this.openLast();
        continue;
      }
      if (this.queued >= this.full) {
        this.open(this.takeParts(this.full), this.full, false);
        continue;
      }
      if (ending && this.queued > 0) throw new AppError('E_CRYPTO_AUTH', 'chunk is truncated');
      return;
    }
  }

  /**
   * Authenticates and decrypts one chunk given as the input pieces that hold it (no copy into
   * one buffer; only the 16-byte tag is gathered). Plaintext is pushed only after the tag checks.
   */
  private open(sealed: Buffer[], length: number, last: boolean): void {
    const header = this.header!;
    const bodyLength = length - TAG_LENGTH;
    if (!last && bodyLength !== header.chunkSize) throw new AppError('E_CRYPTO_AUTH', 'chunk has the wrong length');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.dataKey, this.frame.nonce(this.index, last), { authTagLength: TAG_LENGTH });
    decipher.setAAD(this.frame.aad(this.index, last));
    const tag = Buffer.allocUnsafe(TAG_LENGTH);
    const plaintext: Buffer[] = [];
    let offset = 0;
    for (const piece of sealed) {
      const bodyEnd = Math.max(0, Math.min(piece.length, bodyLength - offset));
      if (bodyEnd > 0) plaintext.push(decipher.update(bodyEnd === piece.length ? piece : piece.subarray(0, bodyEnd)));
      if (bodyEnd < piece.length) piece.copy(tag, Math.max(0, offset - bodyLength), bodyEnd);
      offset += piece.length;
    }
    decipher.setAuthTag(tag);
    try {
      decipher.final();
    } catch (cause) {
      throw new AppError('E_CRYPTO_AUTH', `chunk ${this.index} failed authentication (tampered, truncated, reordered or wrong key)`, { cause });
    }
    if (last || this.index === this.endChunk) this.sawEnd = true;
    this.index += 1;
    for (let part of plaintext) {
      if (this.toSkip > 0) {
        const skipped = Math.min(this.toSkip, part.length);
        part = part.subarray(skipped);
        this.toSkip -= skipped;
      }
      if (part.length > this.remaining) part = part.subarray(0, this.remaining);
      this.remaining -= part.length;
      if (part.length > 0) this.push(part);
    }
  }

  /** The final chunk is whatever is left: its length is only known at the end of input. */
  private openLast(): void {
    const length = this.queued;
    this.open(this.takeParts(length), length, true);
  }

  /** Removes exactly n queued bytes as views of the input buffers (no copy). */
  private takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    let needed = n;
    while (needed > 0) {
      const head = this.queue[0]!;
      if (head.length <= needed) {
        parts.push(head);
        this.queue.shift();
        needed -= head.length;
      } else {
        parts.push(head.subarray(0, needed));
        this.queue[0] = head.subarray(needed);
        needed = 0;
      }
    }
    this.queued -= n;
    return parts;
  }
}

export interface CiphertextRange {
  /** Inclusive byte offsets in the container. */
  readonly start: number;
  readonly end: number;
  readonly window: ChunkWindow;
}

/**
 * Which container bytes hold plaintext bytes [start, end] (inclusive), and how to cut the
 * decrypted chunks down to exactly that range.
 */
export function ciphertextRangeFor(header: ContainerHeader, plaintextSize: number, start: number, end: number): CiphertextRange {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end >= plaintextSize) {
    throw new AppError('E_CRYPTO_RANGE', `range ${start}-${end} is outside the recording (0-${plaintextSize - 1})`);
  }
  const chunkSize = header.chunkSize;
  const full = chunkSize + TAG_LENGTH;
  const lastChunk = chunkCount(plaintextSize, chunkSize) - 1;
  const firstChunk = Math.floor(start / chunkSize);
  const endChunk = Math.floor(end / chunkSize);
  const endChunkLength = endChunk === lastChunk ? plaintextSize - lastChunk * chunkSize : chunkSize;
  return {
    start: HEADER_LENGTH + firstChunk * full,
    end: HEADER_LENGTH + endChunk * full + endChunkLength + TAG_LENGTH - 1,
    window: { firstChunk, endChunk, endIsFinal: endChunk === lastChunk, skip: start - firstChunk * chunkSize, limit: end - start + 1 },
  };
}
