import type { Readable } from 'node:stream';

/**
 * The one interface every storage back end implements. Adapters move opaque bytes (always
 * callvault ciphertext: encryption happens before the adapter sees anything) and never buffer a
 * whole object. Key validation, error wrapping and logging live once, in the facade
 * (`src/storage/object-store.ts`); adapters still refuse keys they cannot store safely.
 *
 * Errors: adapters throw StorageAdapterError with one of the kinds below, so that the facade
 * and the operator see the same reason whichever back end is in use.
 */

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive; to the end of the object when absent. */
  readonly end?: number;
}

export interface PutOptions {
  /** Known length, when the caller has it (lets S3 skip multipart for small objects). */
  readonly contentLength?: number;
  /** Aborting removes whatever was written; no partial object is ever visible under the key. */
  readonly signal?: AbortSignal;
}

export interface PutResult {
  readonly size: number;
  readonly etag?: string;
}

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
  readonly etag?: string;
}

export interface DeleteManyResult {
  readonly deleted: readonly string[];
  readonly failed: ReadonlyArray<{ readonly key: string; readonly error: StorageAdapterError }>;
}

export interface StorageAdapter {
  /** "local" or "s3"; shown in logs and `storage check`. */
  readonly name: string;

  /**
   * Streams `body` to `key`, replacing any object there. The object appears under its key only
   * once complete (atomic rename / multipart complete).
   * @throws StorageAdapterError kind `invalid-key`, `unavailable`, `bucket`, `credentials`, `permission`, `aborted`
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;

  /**
   * Opens the object (or a byte range of it) for reading.
   * @throws StorageAdapterError kind `not-found` when there is no such object; `range` when the range starts past its end
   */
  get(key: string, range?: ByteRange): Promise<Readable>;

  /** Size and date of the object, or null when there is none. @throws on any failure other than absence */
  head(key: string): Promise<ObjectInfo | null>;

  /** Removes the object. Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;

  /** Removes many objects in as few requests as the back end allows (S3: 1,000 per request). */
  deleteMany(keys: readonly string[]): Promise<DeleteManyResult>;

  /** Every object whose key starts with `prefix`, in key order, paged internally. */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Releases connections; the adapter is unusable afterwards. */
  close(): Promise<void>;
}

export type StorageErrorKind =
  | 'not-found'
  | 'invalid-key'
  | 'range'
  | 'aborted'
  | 'unavailable'
  | 'bucket'
  | 'credentials'
  | 'permission'
  | 'unknown';

export class StorageAdapterError extends Error {
  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageAdapterError';
  }
}

/**
 * The key syntax every adapter accepts: relative, '/'-separated segments of letters, digits,
 * '.', '_' and '-', no empty, '.' or '..' segment. Callvault's own keys are random ids (never a
 * number or a name), so this costs nothing and rules out traversal by construction.
 */
export function isSafeKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false;
  if (!/^[A-Za-z0-9._\-/]+$/.test(key)) return false;
  return key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Same rule for list prefixes, which may be empty or end with '/'. */
export function isSafePrefix(prefix: string): boolean {
  if (prefix === '') return true;
  return isSafeKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}
