import type { Database } from './database';

/**
 * The wrapped data keys of the index, for key rotation: which recordings are not yet under a
 * given master key, and replacing a wrapped key only if nobody changed it meanwhile.
 */

export interface WrappedKeyRow {
  readonly id: string;
  readonly keyId: string;
  readonly wrappedKey: Buffer;
}

export interface Rewrap {
  readonly id: string;
  /** The master key the row must still be under for the update to apply. */
  readonly fromKeyId: string;
  readonly toKeyId: string;
  readonly wrappedKey: Buffer;
}

export class WrappedKeysRepository {
  constructor(private readonly db: Database) {}

  /** Recordings holding a wrapped data key under any master key other than `keyId`. */
  async countNotUnder(keyId: string): Promise<number> {
    const [row] = await this.db.knex('recordings').whereNotNull('wrapped_key').whereNot('key_id', keyId).count({ n: '*' });
    return Number(row?.n ?? 0);
  }

  /** The next page of such recordings, in id order after `afterId` (keyset paging: rows that fail stay behind, not in the way). */
  async pageNotUnder(keyId: string, afterId: string | null, limit: number): Promise<WrappedKeyRow[]> {
    const query = this.db.knex('recordings').select('id', 'key_id', 'wrapped_key').whereNotNull('wrapped_key').whereNot('key_id', keyId).orderBy('id').limit(limit);
    if (afterId !== null) query.where('id', '>', afterId);
    const rows = (await query) as Array<{ id: string; key_id: string; wrapped_key: unknown }>;
    return rows.map((row) => ({ id: row.id, keyId: row.key_id, wrappedKey: this.db.codec.readBuffer(row.wrapped_key)! }));
  }

  /**
   * Applies the rewraps in one transaction (one commit per batch). Each update is conditional
   * on the row still being under its old key with a wrapped key present, so a concurrent
   * rotation, or a destruction that removed the wrapped key, is never overwritten.
   * `beforeCommit` runs inside the transaction after the updates (crash tests kill the process there).
   * @returns how many rows were updated
   */
  async apply(rewraps: readonly Rewrap[], now: Date, beforeCommit?: () => void): Promise<number> {
    if (rewraps.length === 0) return 0;
    const { codec } = this.db;
    return this.db.transaction(async (trx) => {
      let updated = 0;
      for (const rewrap of rewraps) {
        updated += await trx('recordings')
          .where({ id: rewrap.id, key_id: rewrap.fromKeyId })
          .whereNotNull('wrapped_key')
          .update({ key_id: rewrap.toKeyId, wrapped_key: rewrap.wrappedKey, updated_at: codec.time(now) });
      }
      beforeCommit?.();
      return updated;
    });
  }
}
