import { pipeline, Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { watchSourceError } from '../source-error';
import {
  StorageAdapterError,
  isSafeKey,
  isSafePrefix,
  type ByteRange,
  type DeleteManyResult,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type StorageAdapter,
  type StorageErrorKind,
} from '../types';

/**
 * Any S3-compatible service (AWS, MinIO, Ceph, Wasabi). Uploads are multipart through
 * lib-storage's Upload, so memory is bounded by partSize x queueSize whatever the length, and
 * a failed or aborted upload is aborted at the server (no parts left behind).
 */

export interface S3AdapterOptions {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint?: string | null;
  readonly accessKeyId?: string | null;
  readonly secretAccessKey?: string | null;
  readonly forcePathStyle?: boolean;
  /** 'when_required' for servers that do not understand the newer flexible checksums. */
  readonly checksum?: 'when_supported' | 'when_required';
  /** Prepended to every key (a shared bucket); must end with '/' when set. */
  readonly prefix?: string;
  readonly partSizeBytes?: number;
  readonly queueSize?: number;
  /** SDK attempts per request (default 3). */
  readonly maxAttempts?: number;
}

const DELETE_BATCH = 1000;

export class S3Adapter implements StorageAdapter {
  readonly name = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3AdapterOptions) {
    const checksum = options.checksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      maxAttempts: options.maxAttempts ?? 3,
    };
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.accessKeyId && options.secretAccessKey) {
      config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
    }
    this.client = new S3Client(config);
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix ?? '');
    this.partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 2;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const objectKey = this.keyFor(key);
    const sourceError = watchSourceError(body);
    let size = 0;
    const counted = new Transform({
      highWaterMark: 256 * 1024,
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        callback(null, chunk);
      },
    });
    // Linked both ways: an error of the body ends the upload (which then aborts itself at the
    // server), and a failed upload tears the body down so its producer stops and lets go.
    pipeline(body, counted, () => undefined);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: counted, ContentType: 'application/octet-stream' },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    const onAbort = (): void => {
      void upload.abort();
      counted.destroy(new StorageAdapterError('aborted', `upload of ${key} was aborted`));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await upload.done();
      return { size, etag: 'ETag' in result && result.ETag ? result.ETag.replace(/"/g, '') : undefined };
    } catch (error) {
      const failure = options.signal?.aborted
        ? new StorageAdapterError('aborted', `upload of ${key} was aborted`, { cause: error })
        : (sourceError.value ?? translate(error, key));
      counted.destroy();
      body.destroy();
      throw failure;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const objectKey = this.keyFor(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
        }),
      );
      if (!(response.Body instanceof Readable)) throw new StorageAdapterError('unknown', 'S3 response body is not a stream');
      // Some S3-compatible servers ignore or widen a Range they do not like (the whole object with
      // a 200, or bytes=0-0 answered with everything); cut the answer to what was asked for rather
      // than hand back the wrong bytes.
      if (range) {
        const served = /^bytes (\d+)-(\d+)\//.exec(response.ContentRange ?? '');
        const servedStart = served ? Number(served[1]) : 0;
        const servedEnd = served ? Number(served[2]) : Number.POSITIVE_INFINITY;
        if (servedStart !== range.start || (range.end !== undefined && servedEnd !== range.end)) {
          return sliceStream(response.Body, range.start - servedStart, range.end === undefined ? undefined : range.end - servedStart);
        }
      }
      return response.Body;
    } catch (error) {
      throw translate(error, key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const objectKey = this.keyFor(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return {
        key,
        size: response.ContentLength ?? 0,
        lastModified: response.LastModified ?? new Date(0),
        etag: response.ETag?.replace(/"/g, ''),
      };
    } catch (error) {
      const translated = translate(error, key);
      if (translated.kind === 'not-found') return null;
      throw translated;
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.keyFor(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      const translated = translate(error, key);
      if (translated.kind !== 'not-found') throw translated;
    }
  }

  async deleteMany(keys: readonly string[]): Promise<DeleteManyResult> {
    const deleted: string[] = [];
    const failed: Array<{ key: string; error: StorageAdapterError }> = [];
    for (let offset = 0; offset < keys.length; offset += DELETE_BATCH) {
      const batch = keys.slice(offset, offset + DELETE_BATCH);
      let outcome = await this.deleteBatch(batch);
      if (outcome.requestError && outcome.requestError.kind !== 'credentials' && outcome.requestError.kind !== 'bucket') {
        // The whole request failed (a 5xx, a dropped connection): try once more, then key by key,
        // so one bad moment or one bad key does not hold back a thousand others.
        outcome = await this.deleteBatch(batch);
        if (outcome.requestError) outcome = await this.deleteOneByOne(batch);
      }
      deleted.push(...outcome.deleted);
      failed.push(...outcome.failed);
    }
    return { deleted, failed };
  }

  private async deleteBatch(batch: readonly string[]): Promise<DeleteManyResult & { requestError?: StorageAdapterError }> {
    const byObjectKey = new Map(batch.map((key) => [this.keyFor(key), key]));
    try {
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: [...byObjectKey.keys()].map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const errors = new Map((response.Errors ?? []).map((entry) => [entry.Key ?? '', entry]));
      const deleted: string[] = [];
      const failed: Array<{ key: string; error: StorageAdapterError }> = [];
      for (const [objectKey, key] of byObjectKey) {
        const problem = errors.get(objectKey);
        if (!problem || problem.Code === 'NoSuchKey') deleted.push(key);
        else failed.push({ key, error: new StorageAdapterError(kindForCode(problem.Code), `delete of ${key} failed: ${problem.Code ?? 'error'}`) });
      }
      return { deleted, failed };
    } catch (error) {
      const requestError = translate(error, batch[0] ?? '');
      return { deleted: [], failed: batch.map((key) => ({ key, error: requestError })), requestError };
    }
  }

  private async deleteOneByOne(batch: readonly string[]): Promise<DeleteManyResult> {
    const deleted: string[] = [];
    const failed: Array<{ key: string; error: StorageAdapterError }> = [];
    for (const key of batch) {
      try {
        await this.delete(key);
        deleted.push(key);
      } catch (error) {
        failed.push({ key, error: translate(error, key) });
      }
    }
    return { deleted, failed };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (!isSafePrefix(prefix)) throw new StorageAdapterError('invalid-key', `invalid list prefix "${prefix}"`);
    let token: string | undefined;
    do {
      let response;
      try {
        response = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.prefix}${prefix}`, ContinuationToken: token, MaxKeys: 1000 }),
        );
      } catch (error) {
        throw translate(error, prefix);
      }
      for (const item of response.Contents ?? []) {
        if (!item.Key) continue;
        yield {
          key: item.Key.slice(this.prefix.length),
          size: item.Size ?? 0,
          lastModified: item.LastModified ?? new Date(0),
          etag: item.ETag?.replace(/"/g, ''),
        };
      }
      token = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private keyFor(key: string): string {
    if (!isSafeKey(key)) throw new StorageAdapterError('invalid-key', `invalid object key "${key}"`);
    return `${this.prefix}${key}`;
  }
}

function sliceStream(source: Readable, start: number, end: number | undefined): Readable {
  async function* slice(): AsyncGenerator<Buffer> {
    let position = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const chunkStart = position;
      position += chunk.length;
      const from = Math.max(start - chunkStart, 0);
      const to = end === undefined ? chunk.length : Math.min(end + 1 - chunkStart, chunk.length);
      if (to > from) yield chunk.subarray(from, to);
      if (end !== undefined && position > end) return; // leaving the loop destroys the source
    }
  }
  return Readable.from(slice(), { objectMode: false });
}

function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+/, '');
  if (trimmed === '') return '';
  const withSlash = trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
  if (!isSafePrefix(withSlash)) throw new StorageAdapterError('invalid-key', `invalid S3 key prefix "${prefix}"`);
  return withSlash;
}

function kindForCode(code: string | undefined): StorageErrorKind {
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return 'not-found';
    case 'NoSuchBucket':
      return 'bucket';
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'InvalidToken':
    case 'ExpiredToken':
    case 'CredentialsProviderError':
      return 'credentials';
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return 'permission';
    case 'InvalidRange':
      return 'range';
    default:
      return 'unknown';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout']);

function translate(error: unknown, key: string): StorageAdapterError {
  if (error instanceof StorageAdapterError) return error;
  const err = error as { name?: string; Code?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const code = err.Code ?? err.name;
  const status = err.$metadata?.httpStatusCode;
  let kind = kindForCode(code);
  if (kind === 'unknown') {
    if (NETWORK_CODES.has(err.code ?? '') || NETWORK_CODES.has(err.name ?? '')) kind = 'unavailable';
    else if (status === 404) kind = 'not-found';
    else if (status === 403) kind = 'permission';
    else if (status === 416) kind = 'range';
    else if (status !== undefined && status >= 500) kind = 'unavailable';
    else if (status === undefined) kind = 'unavailable';
  }
  return new StorageAdapterError(kind, `S3 ${code ?? 'error'} for ${key}${err.message ? `: ${err.message}` : ''}`, { cause: error });
}

export function createS3Adapter(options: S3AdapterOptions): S3Adapter {
  return new S3Adapter(options);
}
