import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import { AppError, type ErrorCode } from '../errors';
import {
  StorageAdapterError,
  isSafeKey,
  type ByteRange,
  type DeleteManyResult,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type StorageAdapter,
  type StorageErrorKind,
} from '../../storage-adapters/types';

/**
 * The facade the rest of callvault uses instead of an adapter: it makes object keys, checks
 * every key once, and turns adapter errors into AppErrors with stable codes (keeping the
 * adapter's error as `cause`). Object keys are random ids, never derived from a number, a
 * name or a provider's recording id, so the bucket listing reveals nothing about the calls.
 */

export const RECORDINGS_PREFIX = 'recordings/';

const KIND_TO_CODE: Record<StorageErrorKind, ErrorCode> = {
  'not-found': 'E_STORAGE_NOT_FOUND',
  'invalid-key': 'E_STORAGE_KEY_INVALID',
  range: 'E_CRYPTO_RANGE',
  aborted: 'E_STORAGE_UNAVAILABLE',
  unavailable: 'E_STORAGE_UNAVAILABLE',
  bucket: 'E_STORAGE_BUCKET',
  credentials: 'E_STORAGE_CREDENTIALS',
  permission: 'E_STORAGE_PERMISSION',
  unknown: 'E_STORAGE_UNAVAILABLE',
};

export function toStorageError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof StorageAdapterError) {
    return new AppError(KIND_TO_CODE[error.kind], error.message, { cause: error });
  }
  return new AppError('E_STORAGE_UNAVAILABLE', `storage failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/** Told about every failed storage operation (for metrics); must not throw. */
export type StorageErrorObserver = (operation: 'put' | 'get' | 'head' | 'delete' | 'delete_many' | 'list', error: AppError) => void;

export class ObjectStore {
  constructor(
    readonly adapter: StorageAdapter,
    private readonly onError?: StorageErrorObserver,
  ) {}

  get name(): string {
    return this.adapter.name;
  }

  /** The same facade (and error observer) over another adapter, e.g. one wrapping this one in a test. */
  withAdapter(wrap: (adapter: StorageAdapter) => StorageAdapter): ObjectStore {
    return new ObjectStore(wrap(this.adapter), this.onError);
  }

  /** A fresh object key: recordings/<2 hex>/<uuid>.cv (the fan-out keeps local folders small). */
  newRecordingKey(): string {
    const id = crypto.randomUUID();
    return `${RECORDINGS_PREFIX}${id.slice(0, 2)}/${id}.cv`;
  }

  /** @throws AppError E_STORAGE_* ; errors of `body` itself are rethrown unchanged */
  async put(key: string, body: Readable, options?: PutOptions): Promise<PutResult> {
    this.check(key);
    try {
      return await this.adapter.put(key, body, options);
    } catch (error) {
      // Adapters rethrow the body's own failure (a download cut short, a file that is not audio)
      // unchanged; only their own StorageAdapterErrors are storage faults.
      if (error instanceof StorageAdapterError) throw this.failed('put', error);
      throw error;
    }
  }

  /** @throws AppError E_STORAGE_NOT_FOUND when absent */
  async get(key: string, range?: ByteRange): Promise<Readable> {
    this.check(key);
    try {
      return await this.adapter.get(key, range);
    } catch (error) {
      throw this.failed('get', error);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    this.check(key);
    try {
      return await this.adapter.head(key);
    } catch (error) {
      throw this.failed('head', error);
    }
  }

  /** Idempotent. */
  async delete(key: string): Promise<void> {
    this.check(key);
    try {
      await this.adapter.delete(key);
    } catch (error) {
      throw this.failed('delete', error);
    }
  }

  async deleteMany(keys: readonly string[]): Promise<DeleteManyResult> {
    for (const key of keys) this.check(key);
    try {
      return await this.adapter.deleteMany(keys);
    } catch (error) {
      throw this.failed('delete_many', error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    try {
      yield* this.adapter.list(prefix);
    } catch (error) {
      throw this.failed('list', error);
    }
  }

  async close(): Promise<void> {
    await this.adapter.close();
  }

  private failed(operation: Parameters<StorageErrorObserver>[0], error: unknown): AppError {
    const appError = toStorageError(error);
    this.onError?.(operation, appError);
    return appError;
  }

  private check(key: string): void {
    if (!isSafeKey(key)) throw new AppError('E_STORAGE_KEY_INVALID', `invalid object key "${key}"`);
  }
}
