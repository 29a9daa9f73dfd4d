import type { App } from '../../src/app';
import type { Role } from '../../src/access/roles';

/**
 * Users, sign-in and API calls for the access suites. Passwords are hashed at a low scrypt cost
 * (CALLVAULT_PASSWORD_HASH_COST=10) so that the suites sign in dozens of times quickly; the
 * production cost is tested in the unit tests.
 */

export const ACCESS_ENV: Record<string, string> = { CALLVAULT_PASSWORD_HASH_COST: '10' };

export function passwordOf(username: string): string {
  return `pw-${username}-correct-horse-battery`;
}

export async function addUser(app: App, username: string, role: Role, extension?: string): Promise<void> {
  await app.access.users.add({ username, role, extension, password: passwordOf(username) }, 'test-setup');
}

export async function login(url: string, username: string, password = passwordOf(username)): Promise<string> {
  const response = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (response.status !== 200) throw new Error(`login ${username}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

export interface CallOptions {
  readonly token?: string | null;
  /** X-Access-Reason; null sends none. Defaults to a valid reason. */
  readonly reason?: string | null;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
}

export const REASON = 'complaint 2026/14 investigation';

export async function call(url: string, method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const reason = options.reason === undefined ? REASON : options.reason;
  if (reason !== null) headers['x-access-reason'] = reason;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${url}/api${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), signal: options.signal });
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** An access request by `requester`, approved by `approver`: a live grant. Returns its id. */
export async function grant(
  url: string,
  requesterToken: string,
  approverToken: string,
  recordingIds: string[],
  extra: Record<string, unknown> = {},
  approval: Record<string, unknown> = {},
): Promise<string> {
  const created = await call(url, 'POST', '/access-requests', { token: requesterToken, body: { reason: 'review of a complaint about this call', recordingIds, ...extra } });
  if (created.status !== 201) throw new Error(`access request: ${created.status} ${await created.text()}`);
  const { id } = await json<{ id: string }>(created);
  const approved = await call(url, 'POST', `/access-requests/${id}/approve`, { token: approverToken, body: approval });
  if (approved.status !== 200) throw new Error(`approve: ${approved.status} ${await approved.text()}`);
  return id;
}

export const RELEASE = { purpose: 'complaint', requester: 'Jane Patient (caller)', recipient: 'Jane Patient, by secure email' };
