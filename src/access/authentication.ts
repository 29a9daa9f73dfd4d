import crypto from 'node:crypto';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { UserRecord, UsersRepository } from '../db/users';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';
import type { AuditTrail } from './audit-trail';
import { hashPassword, needsRehash, verifyPassword } from './passwords';
import type { Principal } from './principal';
import type { Role } from './roles';

/**
 * Sign-in and bearer tokens. A token is 32 random bytes; only its SHA-256 is stored, so a copy
 * of the database lets nobody sign in. Tokens expire (CALLVAULT_SESSION_TTL_MINUTES) and are
 * revoked by logout, by disabling the user and by a password change.
 *
 * Repeated failures lock the account for a while. Every refusal looks the same from outside
 * (401 E_AUTH_FAILED, after a full scrypt computation even for an unknown name, a disabled or
 * a locked account), so sign-in reveals neither which usernames exist nor which are locked.
 */

const TOKEN_PREFIX = 'cvt_';

export function tokenHash(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

export interface SignedIn {
  readonly token: string;
  readonly expiresAt: Date;
  readonly principal: Principal;
}

export class Authentication {
  /** A hash of a random password at the current cost: unknown names are checked against it, so they take as long. */
  private dummyHash: Promise<string> | null = null;

  constructor(private readonly deps: { repo: UsersRepository; audit: AuditTrail; config: Config; clock: Clock; logger: Logger }) {}

  /** Computes the stand-in hash now (at server start) rather than during the first sign-in with an unknown name. */
  warm(): Promise<string> {
    return (this.dummyHash ??= hashPassword(crypto.randomBytes(24).toString('base64'), this.deps.config.access.passwordHashCost));
  }

  /** Checks a username and password (API sign-in and the command line's `--user`). */
  async checkCredentials(usernameText: string, password: string, channel: 'api' | 'cli'): Promise<Principal> {
    const { repo, config, clock, audit } = this.deps;
    const username = typeof usernameText === 'string' ? usernameText.trim().toLowerCase() : '';
    const found = username.length > 0 && username.length <= 64 ? await repo.withHash(username) : null;
    const matches = await verifyPassword(typeof password === 'string' ? password : '', found?.passwordHash ?? (await this.warm()));
    const now = clock.now();

    if (!found) {
      // The name typed is not recorded: a password typed into the username field must not end up in the trail.
      await audit.append({ actor: 'unknown', action: 'auth.login_failed', details: { channel, reason: 'unknown user' } });
      throw authFailed();
    }
    const { user } = found;
    const refusal = user.disabled ? 'disabled' : user.lockedUntil && user.lockedUntil > now ? 'locked' : !matches ? 'wrong password' : null;
    if (refusal) {
      await this.recordFailure(user, refusal, channel, now);
      throw authFailed();
    }
    await repo.recordSuccess(user.id, now);
    if (needsRehash(found.passwordHash, config.access.passwordHashCost)) {
      await repo.setPassword(user.id, await hashPassword(password, config.access.passwordHashCost), now, { rehashOnly: true });
    }
    return principalOf(user);
  }

  async signIn(username: string, password: string): Promise<SignedIn> {
    const principal = await this.checkCredentials(username, password, 'api');
    const { repo, config, clock, audit } = this.deps;
    const now = clock.now();
    const token = `${TOKEN_PREFIX}${crypto.randomBytes(32).toString('base64url')}`;
    const expiresAt = new Date(now.getTime() + config.access.sessionTtlMinutes * 60_000);
    await repo.createSession(tokenHash(token), principal.userId, now, expiresAt);
    await repo.purgeSessions(new Date(now.getTime() - 86_400_000));
    await audit.append({ actor: principal.username, actorRole: principal.role, action: 'auth.login', details: { channel: 'api', expiresAt } });
    return { token, expiresAt, principal };
  }

  /** The person behind a bearer token, or E_AUTH_REQUIRED saying why not. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token || !token.startsWith(TOKEN_PREFIX) || token.length > 200) throw new AppError('E_AUTH_REQUIRED', 'sign in: send Authorization: Bearer <token> from POST /api/auth/login');
    const session = await this.deps.repo.session(tokenHash(token));
    if (!session) throw new AppError('E_AUTH_REQUIRED', 'the token is not known here; sign in again');
    if (session.revokedAt) throw new AppError('E_AUTH_REQUIRED', 'the token was revoked (logout, password change or account disabled); sign in again');
    if (session.expiresAt <= this.deps.clock.now()) throw new AppError('E_AUTH_REQUIRED', 'the token has expired; sign in again');
    if (session.user.disabled) throw new AppError('E_AUTH_REQUIRED', 'the account is disabled');
    return principalOf(session.user);
  }

  async signOut(token: string, principal: Principal): Promise<void> {
    await this.deps.repo.revokeSession(tokenHash(token), this.deps.clock.now());
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'auth.logout' });
  }

  private async recordFailure(user: UserRecord, reason: string, channel: string, now: Date): Promise<void> {
    const { repo, config, audit, logger } = this.deps;
    // Attempts on a disabled or already locked account do not extend the lock.
    const counted = reason === 'wrong password';
    const lockedUntil = new Date(now.getTime() + config.access.loginLockoutSeconds * 1000);
    const { locked } = counted ? await repo.recordFailure(user.id, config.access.loginMaxFailures, lockedUntil, now) : { locked: false };
    await audit.append({ actor: user.username, actorRole: user.role, action: 'auth.login_failed', details: { channel, reason } });
    if (locked) {
      logger.warn('account locked after repeated failed sign-ins', { event: 'auth.locked', username: user.username, until: lockedUntil.toISOString() });
      await audit.append({ actor: user.username, actorRole: user.role, action: 'auth.locked', details: { until: lockedUntil, failures: config.access.loginMaxFailures } });
    }
  }
}

function authFailed(): AppError {
  return new AppError('E_AUTH_FAILED', 'wrong username or password, or the account is locked for a while after repeated failures');
}

function principalOf(user: UserRecord): Principal {
  return { userId: user.id, username: user.username, role: user.role as Role, extension: user.extension };
}
