import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
} from '../types';
import { watchSourceError } from '../source-error';

/**
 * Objects as files under one folder: the embedded default. Writes go to a temporary file in
 * the same folder tree, are flushed to disk, then renamed into place, so a crash or an aborted
 * upload never leaves a partial object under its key. Files are 0600 and folders 0700.
 */

export interface LocalAdapterOptions {
  readonly root: string;
}

const INCOMING = '.incoming';
/** Temporary files older than this are leftovers of a crash, whoever wrote them. */
const STALE_INCOMING_MS = 24 * 3600 * 1000;

export class LocalAdapter implements StorageAdapter {
  readonly name = 'local';
  private readonly root: string;

  constructor(options: LocalAdapterOptions) {
    this.root = path.resolve(options.root);
    fs.mkdirSync(path.join(this.root, INCOMING), { recursive: true, mode: 0o700 });
    this.removeStaleIncoming();
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const target = this.pathFor(key);
    // The writer's pid in the name lets a later start remove what a killed process left behind.
    const temp = path.join(this.root, INCOMING, `${process.pid}-${crypto.randomUUID()}.part`);
    // flush: the file is fsync'd before it is closed, so the rename below publishes durable bytes.
    const out = fs.createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 256 * 1024 });
    const sourceError = watchSourceError(body, out);
    try {
      await pipeline(body, out, { signal: options.signal } as { signal?: AbortSignal });
      const size = out.bytesWritten;
      await fsp.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await fsp.rename(temp, target);
      await syncDirectory(path.dirname(target));
      return { size };
    } catch (error) {
      // Best effort: when the folder itself is what failed, there is nothing to remove.
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      if (options.signal?.aborted) throw new StorageAdapterError('aborted', `upload of ${key} was aborted`, { cause: error });
      // A failure of the body itself (the download, the encryptor) is the caller's error, not storage's.
      if (sourceError.value) throw sourceError.value;
      throw translate(error, key);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathFor(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (error) {
      throw translate(error, key);
    }
    const { size } = await handle.stat();
    if (range && (range.start >= size || (range.end !== undefined && range.end < range.start))) {
      await handle.close();
      throw new StorageAdapterError('range', `range ${range.start}-${range.end ?? ''} is outside ${key} (${size} bytes)`);
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 256 * 1024 });
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const stat = await fsp.stat(this.pathFor(key));
      return stat.isFile() ? { key, size: stat.size, lastModified: stat.mtime } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw translate(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await fsp.unlink(this.pathFor(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw translate(error, key);
    }
  }

  async deleteMany(keys: readonly string[]): Promise<DeleteManyResult> {
    const deleted: string[] = [];
    const failed: Array<{ key: string; error: StorageAdapterError }> = [];
    const touched = new Set<string>();
    await inParallel(keys, DELETE_CONCURRENCY, async (key) => {
      try {
        await this.delete(key);
        deleted.push(key);
        touched.add(path.dirname(this.pathFor(key)));
      } catch (error) {
        failed.push({ key, error: error instanceof StorageAdapterError ? error : translate(error, key) });
      }
    });
    // Deletion is only final once the directory entries are on disk. Flushed together, the
    // filesystem commits them in a few journal transactions instead of one per folder.
    await inParallel([...touched], DELETE_CONCURRENCY, (dir) => syncDirectory(dir).catch(() => undefined));
    return { deleted, failed };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (!isSafePrefix(prefix)) throw new StorageAdapterError('invalid-key', `invalid list prefix "${prefix}"`);
    const slash = prefix.lastIndexOf('/');
    const startDir = slash >= 0 ? prefix.slice(0, slash) : '';
    yield* this.walk(startDir, prefix);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  private async *walk(relativeDir: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(path.join(this.root, relativeDir), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw translate(error, relativeDir);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (relativeDir === '' && entry.name === INCOMING) continue;
      const key = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix) || `${key}/`.startsWith(prefix)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const stat = await fsp.stat(path.join(this.root, key)).catch(() => null);
        if (stat) yield { key, size: stat.size, lastModified: stat.mtime };
      }
    }
  }

  /** Resolves a key to a path inside the root, refusing anything that could leave it. */
  private pathFor(key: string): string {
    if (!isSafeKey(key) || key === INCOMING || key.startsWith(`${INCOMING}/`)) {
      throw new StorageAdapterError('invalid-key', `invalid object key "${key}"`);
    }
    const resolved = path.resolve(this.root, key);
    const relative = path.relative(this.root, resolved);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw new StorageAdapterError('invalid-key', `object key "${key}" escapes the storage folder`);
    }
    return resolved;
  }

  /** Removes partial uploads whose writer is gone (a dead pid) or that are older than a day. */
  private removeStaleIncoming(): void {
    const dir = path.join(this.root, INCOMING);
    const cutoff = Date.now() - STALE_INCOMING_MS;
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      const writer = Number(/^(\d+)-/.exec(name)?.[1] ?? NaN);
      try {
        if (fs.statSync(file).mtimeMs < cutoff || (Number.isInteger(writer) && writer !== process.pid && !isRunning(writer))) fs.rmSync(file, { force: true });
      } catch {
        // Another process removed it first.
      }
    }
  }
}

const DELETE_CONCURRENCY = 16;

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function translate(error: unknown, key: string): StorageAdapterError {
  if (error instanceof StorageAdapterError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'EISDIR':
      return new StorageAdapterError('not-found', `no object ${key}`, { cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StorageAdapterError('permission', `no permission to write or read ${key} (${code})`, { cause: error });
    case 'ENOSPC':
    case 'EIO':
      return new StorageAdapterError('unavailable', `storage folder failed for ${key} (${code})`, { cause: error });
    default:
      return new StorageAdapterError('unknown', `storage error for ${key}: ${(error as Error).message}`, { cause: error });
  }
}

export function createLocalAdapter(options: LocalAdapterOptions): LocalAdapter {
  return new LocalAdapter(options);
}
