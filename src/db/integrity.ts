import type { SealedRef } from '../vault/recording-vault';
import type { Database } from './database';

/**
 * What `callvault verify` needs from the index: the stored recordings (all, or a random
 * sample) with what it takes to decrypt them, and which object keys the index or an unfinished
 * ingest job still refers to.
 */

export interface StoredRecordingRef extends SealedRef {
  readonly id: string;
}

/** SQLite binds at most 999 values per statement; stay well below. */
const IN_LIST = 400;

export class IntegrityRepository {
  constructor(private readonly db: Database) {}

  async storedTotals(): Promise<{ count: number; bytes: number }> {
    const [row] = (await this.db.knex('recordings').where({ status: 'stored' }).count({ n: '*' }).sum({ bytes: 'plaintext_size' })) as Array<{ n: unknown; bytes: unknown }>;
    return { count: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) };
  }

  /** Every stored recording, in id order, a page at a time (memory does not grow with the index). */
  async *allStored(pageSize = 500): AsyncGenerator<StoredRecordingRef> {
    let afterId: string | null = null;
    for (;;) {
      const query = this.storedQuery().orderBy('id').limit(pageSize);
      if (afterId !== null) query.where('id', '>', afterId);
      const rows = (await query) as Array<Record<string, unknown>>;
      for (const row of rows) yield this.fromRow(row);
      if (rows.length < pageSize) return;
      afterId = rows[rows.length - 1]!.id as string;
    }
  }

  /** `size` stored recordings chosen at random (random() exists in SQLite and PostgreSQL). */
  async sampleStored(size: number): Promise<StoredRecordingRef[]> {
    const rows = (await this.storedQuery().orderByRaw('random()').limit(size)) as Array<Record<string, unknown>>;
    return rows.map((row) => this.fromRow(row));
  }

  /** Stored recordings whose object key lies directly in `folder` (e.g. "recordings/3f/"): key -> recording id. */
  async storedInFolder(folder: string): Promise<Map<string, string>> {
    const rows = (await this.db
      .knex('recordings')
      .select('id', 'storage_key')
      .where({ status: 'stored' })
      .whereRaw("storage_key like ? escape '\\'", [`${escapeLike(folder)}%`])) as Array<{ id: string; storage_key: string }>;
    return new Map(rows.filter((row) => folderOf(row.storage_key) === folder).map((row) => [row.storage_key, row.id]));
  }

  /** Keys, among `keys`, that a stored recording points to, or that an unfinished ingest job is writing or will clean up. */
  async referencedKeys(keys: readonly string[]): Promise<{ indexed: Set<string>; inProgress: Set<string> }> {
    const indexed = new Set<string>();
    const inProgress = new Set<string>();
    for (let start = 0; start < keys.length; start += IN_LIST) {
      const slice = keys.slice(start, start + IN_LIST);
      const rows = (await this.db.knex('recordings').select('storage_key').where({ status: 'stored' }).whereIn('storage_key', slice)) as Array<{ storage_key: string }>;
      for (const row of rows) indexed.add(row.storage_key);
      // A job that is not finished owns its pending object (being written) and its abandoned one
      // (the next attempt deletes it): work in progress, never an orphan.
      const jobs = (await this.db
        .knex('jobs')
        .select('pending_object_key', 'abandoned_object_key')
        .whereIn('status', ['queued', 'running'])
        .andWhere((q) => q.whereIn('pending_object_key', slice).orWhereIn('abandoned_object_key', slice))) as Array<{ pending_object_key: string | null; abandoned_object_key: string | null }>;
      for (const job of jobs) {
        if (job.pending_object_key && slice.includes(job.pending_object_key)) inProgress.add(job.pending_object_key);
        if (job.abandoned_object_key && slice.includes(job.abandoned_object_key)) inProgress.add(job.abandoned_object_key);
      }
    }
    return { indexed, inProgress };
  }

  /** Whether the recording is still stored at that key (it may have been destroyed since it was listed). */
  async isStoredAt(recordingId: string, storageKey: string): Promise<boolean> {
    const row = await this.db.knex('recordings').where({ id: recordingId, storage_key: storageKey, status: 'stored' }).first('id');
    return row !== undefined;
  }

  private storedQuery() {
    return this.db.knex('recordings').select('id', 'storage_key', 'key_id', 'wrapped_key', 'plaintext_size', 'sha256').where({ status: 'stored' });
  }

  private fromRow(row: Record<string, unknown>): StoredRecordingRef {
    const { codec } = this.db;
    return {
      id: row.id as string,
      storageKey: row.storage_key as string,
      keyId: row.key_id as string,
      wrappedKey: codec.readBuffer(row.wrapped_key)!,
      plaintextSize: codec.readNumber(row.plaintext_size)!,
      sha256: row.sha256 as string,
    };
  }
}

/** "recordings/3f/" for "recordings/3f/3f0c....cv": the folder part of an object key, with its slash. */
export function folderOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
