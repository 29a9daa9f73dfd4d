import crypto from 'node:crypto';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { UserRecord, UsersRepository } from '../db/users';
import { AppError } from '../errors';
import type { AuditTrail } from './audit-trail';
import { hashPassword } from './passwords';
import { isRole, ROLES, type Role } from './roles';

/**
 * Adding, disabling and re-passwording users (the `callvault users` commands). Every change is
 * in the audit trail with who made it; disabling a user or changing their password ends their
 * sessions at once.
 */

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const EXTENSION = /^[0-9A-Za-z*#+-]{1,32}$/;

export interface UserView {
  readonly username: string;
  readonly role: Role;
  readonly extension: string | null;
  readonly disabled: boolean;
  readonly lockedUntil: Date | null;
  readonly createdAt: Date;
  readonly passwordChangedAt: Date;
}

export class UserService {
  constructor(private readonly deps: { repo: UsersRepository; audit: AuditTrail; config: Config; clock: Clock }) {}

  async add(input: { username: string; role: string; extension?: string | null; password: string }, actor: string): Promise<UserView> {
    const username = input.username.trim().toLowerCase();
    if (!USERNAME.test(username)) throw new AppError('E_VALIDATION', 'username: 2-64 characters, lower-case letters, digits, dot, dash or underscore, starting with a letter or digit');
    if (!isRole(input.role)) throw new AppError('E_VALIDATION', `role: must be one of ${ROLES.join(', ')}`);
    const extension = input.extension?.trim() || null;
    if (extension !== null && !EXTENSION.test(extension)) throw new AppError('E_VALIDATION', 'extension: up to 32 digits or letters');
    this.checkPolicy(input.password);
    if (await this.deps.repo.byUsername(username)) throw new AppError('E_USER_EXISTS', `a user named ${username} already exists`);
    const passwordHash = await hashPassword(input.password, this.deps.config.access.passwordHashCost);
    await this.deps.repo.insert({ id: crypto.randomUUID(), username, role: input.role, extension, passwordHash }, this.deps.clock.now());
    await this.deps.audit.append({ actor, action: 'user.added', details: { username, role: input.role, extension } });
    return view((await this.deps.repo.byUsername(username))!);
  }

  async disable(usernameText: string, actor: string): Promise<{ sessionsEnded: number }> {
    const user = await this.require(usernameText);
    const now = this.deps.clock.now();
    await this.deps.repo.setDisabled(user.id, true, now);
    const sessionsEnded = await this.deps.repo.revokeSessionsOf(user.id, now);
    await this.deps.audit.append({ actor, action: 'user.disabled', details: { username: user.username, sessionsEnded } });
    return { sessionsEnded };
  }

  async setPassword(usernameText: string, password: string, actor: string): Promise<{ sessionsEnded: number }> {
    const user = await this.require(usernameText);
    this.checkPolicy(password);
    const now = this.deps.clock.now();
    await this.deps.repo.setPassword(user.id, await hashPassword(password, this.deps.config.access.passwordHashCost), now);
    const sessionsEnded = await this.deps.repo.revokeSessionsOf(user.id, now);
    await this.deps.audit.append({ actor, action: 'user.password_changed', details: { username: user.username, sessionsEnded } });
    return { sessionsEnded };
  }

  async list(): Promise<UserView[]> {
    return (await this.deps.repo.list()).map(view);
  }

  private async require(usernameText: string): Promise<UserRecord> {
    const user = await this.deps.repo.byUsername(usernameText.trim().toLowerCase());
    if (!user) throw new AppError('E_USER_NOT_FOUND', `no user named ${usernameText}`);
    return user;
  }

  private checkPolicy(password: string): void {
    const length = [...password].length;
    const min = this.deps.config.access.passwordMinLength;
    if (length < min) throw new AppError('E_PASSWORD_POLICY', `the password must be at least ${min} characters`);
    if (length > 1024) throw new AppError('E_PASSWORD_POLICY', 'the password must be at most 1024 characters');
  }
}

function view(user: UserRecord): UserView {
  return {
    username: user.username,
    role: user.role as Role,
    extension: user.extension,
    disabled: user.disabled,
    lockedUntil: user.lockedUntil,
    createdAt: user.createdAt,
    passwordChangedAt: user.passwordChangedAt,
  };
}
