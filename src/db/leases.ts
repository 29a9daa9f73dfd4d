import type { Database } from './database';

/**
 * Named leases in the database: a way for one of several processes (sharing one SQLite file or
 * one PostgreSQL database) to do something alone, such as a retention sweep. A lease expires by
 * itself, so a process that dies holding one blocks the others only until then.
 */
export class LeaseStore {
  constructor(private readonly db: Database) {}

  /** True when this owner now holds the lease (it was free, expired, or already ours). */
  async acquire(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean> {
    const { codec, knex } = this.db;
    const expires = codec.time(new Date(now.getTime() + ttlMs));
    await knex('leases').insert({ name, owner, expires_at: expires, acquired_at: codec.time(now) }).onConflict('name').ignore();
    const updated = await knex('leases')
      .where({ name })
      .andWhere((q) => q.where({ owner }).orWhere('expires_at', '<', codec.time(now)))
      .update({ owner, expires_at: expires, acquired_at: codec.time(now) });
    return updated === 1;
  }

  /** Takes a lease from a holder known to be dead (conditional on it still being that holder's). */
  async takeOver(name: string, deadOwner: string, owner: string, ttlMs: number, now: Date): Promise<boolean> {
    const { codec, knex } = this.db;
    const updated = await knex('leases')
      .where({ name, owner: deadOwner })
      .update({ owner, expires_at: codec.time(new Date(now.getTime() + ttlMs)), acquired_at: codec.time(now) });
    return updated === 1;
  }

  /** Extends the lease; false when it was lost (expired and taken by another). */
  async renew(name: string, owner: string, ttlMs: number, now: Date): Promise<boolean> {
    const { codec, knex } = this.db;
    const updated = await knex('leases').where({ name, owner }).update({ expires_at: codec.time(new Date(now.getTime() + ttlMs)) });
    return updated === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.db.knex('leases').where({ name, owner }).delete();
  }

  async holder(name: string): Promise<{ owner: string; expiresAt: Date } | null> {
    const row = await this.db.knex('leases').where({ name }).first();
    return row ? { owner: row.owner as string, expiresAt: this.db.codec.readTime(row.expires_at)! } : null;
  }
}
