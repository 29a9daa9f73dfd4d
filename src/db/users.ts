import { AppError } from '../errors';
import type { Database } from './database';

/** The users and sessions tables. Passwords and tokens arrive here only as hashes. */

export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly role: string;
  readonly extension: string | null;
  readonly disabled: boolean;
  readonly failedLogins: number;
  readonly lockedUntil: Date | null;
  readonly createdAt: Date;
  readonly passwordChangedAt: Date;
}

export interface NewUser {
  readonly id: string;
  readonly username: string;
  readonly role: string;
  readonly extension: string | null;
  readonly passwordHash: string;
}

export class UsersRepository {
  constructor(private readonly db: Database) {}

  async insert(user: NewUser, now: Date): Promise<void> {
    const time = this.db.codec.time(now);
    const row = {
      id: user.id,
      username: user.username,
      role: user.role,
      extension: user.extension,
      password_hash: user.passwordHash,
      disabled: false,
      failed_logins: 0,
      created_at: time,
      updated_at: time,
      password_changed_at: time,
    };
    try {
      await this.db.knex('users').insert(row);
    } catch (error) {
      // Two operators adding the same name at once: the unique constraint decides.
      if (this.db.codec.isUniqueViolation(error)) throw new AppError('E_USER_EXISTS', `a user named ${user.username} already exists`);
      throw error;
    }
  }

  async withHash(username: string): Promise<{ user: UserRecord; passwordHash: string } | null> {
    const row = await this.db.knex('users').where({ username }).first();
    return row ? { user: this.fromRow(row), passwordHash: row.password_hash as string } : null;
  }

  async byUsername(username: string): Promise<UserRecord | null> {
    const row = await this.db.knex('users').where({ username }).first();
    return row ? this.fromRow(row) : null;
  }

  async byId(id: string): Promise<UserRecord | null> {
    const row = await this.db.knex('users').where({ id }).first();
    return row ? this.fromRow(row) : null;
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.db.knex('users').orderBy('username');
    return rows.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  async setDisabled(id: string, disabled: boolean, now: Date): Promise<void> {
    await this.db.knex('users').where({ id }).update({ disabled, updated_at: this.db.codec.time(now) });
  }

  /** A new password also clears any lockout. */
  async setPassword(id: string, passwordHash: string, now: Date, options: { rehashOnly?: boolean } = {}): Promise<void> {
    const time = this.db.codec.time(now);
    const changes: Record<string, unknown> = { password_hash: passwordHash, updated_at: time };
    if (!options.rehashOnly) Object.assign(changes, { password_changed_at: time, failed_logins: 0, locked_until: null });
    await this.db.knex('users').where({ id }).update(changes);
  }

  /**
   * Counts a failed sign-in in one transaction; the failure that reaches `maxFailures` locks the
   * account until `lockedUntil` and starts the count again for afterwards.
   */
  async recordFailure(id: string, maxFailures: number, lockedUntil: Date, now: Date): Promise<{ locked: boolean }> {
    const { codec } = this.db;
    return this.db.transaction(async (trx) => {
      await trx('users').where({ id }).update({ failed_logins: trx.raw('failed_logins + 1'), updated_at: codec.time(now) });
      const row = (await trx('users').where({ id }).first('failed_logins')) as { failed_logins: number | string } | undefined;
      if (!row || Number(row.failed_logins) < maxFailures) return { locked: false };
      await trx('users').where({ id }).update({ failed_logins: 0, locked_until: codec.time(lockedUntil) });
      return { locked: true };
    });
  }

  async recordSuccess(id: string, now: Date): Promise<void> {
    await this.db.knex('users').where({ id }).update({ failed_logins: 0, locked_until: null, updated_at: this.db.codec.time(now) });
  }

  async createSession(tokenHash: string, userId: string, now: Date, expiresAt: Date): Promise<void> {
    const { codec } = this.db;
    await this.db.knex('sessions').insert({ token_hash: tokenHash, user_id: userId, created_at: codec.time(now), expires_at: codec.time(expiresAt) });
  }

  /** The session and its user; the caller decides whether it is still valid. */
  async session(tokenHash: string): Promise<{ user: UserRecord; expiresAt: Date; revokedAt: Date | null } | null> {
    const row = await this.db
      .knex('sessions as s')
      .join('users as u', 'u.id', 's.user_id')
      .where('s.token_hash', tokenHash)
      .first('u.*', 's.expires_at as session_expires_at', 's.revoked_at as session_revoked_at');
    if (!row) return null;
    return { user: this.fromRow(row), expiresAt: this.db.codec.readTime(row.session_expires_at)!, revokedAt: this.db.codec.readTime(row.session_revoked_at) };
  }

  async revokeSession(tokenHash: string, now: Date): Promise<boolean> {
    const updated = await this.db.knex('sessions').where({ token_hash: tokenHash }).whereNull('revoked_at').update({ revoked_at: this.db.codec.time(now) });
    return updated > 0;
  }

  async revokeSessionsOf(userId: string, now: Date): Promise<number> {
    return this.db.knex('sessions').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: this.db.codec.time(now) });
  }

  /** Sessions that ended more than a day ago have nothing left to prove; the audit trail keeps the sign-ins. */
  async purgeSessions(before: Date): Promise<void> {
    await this.db.knex('sessions').where('expires_at', '<', this.db.codec.time(before)).delete();
  }

  private fromRow(row: Record<string, unknown>): UserRecord {
    const { codec } = this.db;
    return {
      id: row.id as string,
      username: row.username as string,
      role: row.role as string,
      extension: (row.extension as string | null) ?? null,
      disabled: codec.readBool(row.disabled),
      failedLogins: codec.readNumber(row.failed_logins) ?? 0,
      lockedUntil: codec.readTime(row.locked_until),
      createdAt: codec.readTime(row.created_at)!,
      passwordChangedAt: codec.readTime(row.password_changed_at)!,
    };
  }
}
