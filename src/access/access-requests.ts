import crypto from 'node:crypto';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { AccessRequestRecord, AccessRequestsRepository, AccessRequestStatus } from '../db/access-requests';
import type { RecordingsRepository } from '../db/recordings';
import type { UsersRepository } from '../db/users';
import { AppError } from '../errors';
import { normaliseNumber } from '../ingest/call-metadata';
import type { AuditTrail } from './audit-trail';
import { maskName, maskNumber } from './masking';
import type { Principal } from './principal';
import { requireVisible, tookPart } from './recording-policy';
import { DPO_PURPOSES, isReleasePurpose, may, RELEASE_PURPOSES, type ReleasePurpose } from './roles';

/**
 * Access requests and the grants they become. A request states a reason and what is known of
 * the call (the policies' list), and may name the recordings; it may also name a release
 * purpose, requester and recipient when a copy is to leave. An `ig_lead` other than the
 * requester approves it, naming any recordings still missing and an expiry: it is then a grant
 * for its requester alone, covering exactly its recordings, until it expires or is revoked.
 * Police and disciplinary requests are live only once the `dpo` has approved them too.
 */

export interface NewRequestInput {
  readonly reason?: unknown;
  readonly recordingIds?: unknown;
  readonly callTime?: unknown;
  readonly extension?: unknown;
  readonly externalNumber?: unknown;
  readonly parties?: unknown;
  readonly notes?: unknown;
  readonly purpose?: unknown;
  readonly requester?: unknown;
  readonly recipient?: unknown;
}

export interface Grant {
  readonly request: AccessRequestRecord;
  readonly purpose: ReleasePurpose | null;
}

const MAX_RECORDINGS = 1000;

export class AccessRequests {
  constructor(private readonly deps: { repo: AccessRequestsRepository; recordings: RecordingsRepository; users: UsersRepository; audit: AuditTrail; config: Config; clock: Clock }) {}

  async create(principal: Principal, input: NewRequestInput): Promise<AccessRequestRecord> {
    const reason = requiredText(input.reason, 'reason', 2000);
    const recordingIds = idList(input.recordingIds, 'recordingIds');
    const externalNumber = optionalText(input.externalNumber, 'externalNumber', 64);
    const number = externalNumber ? (normaliseNumber(externalNumber, this.deps.config.defaultCountry).e164 ?? externalNumber) : null;
    const purpose = input.purpose === undefined || input.purpose === null ? null : input.purpose;
    if (purpose !== null && !isReleasePurpose(purpose)) throw new AppError('E_VALIDATION', `purpose: one of ${RELEASE_PURPOSES.join(', ')}`);
    const releaseRequester = optionalText(input.requester, 'requester', 255);
    const releaseRecipient = optionalText(input.recipient, 'recipient', 255);
    if (purpose !== null && (!releaseRequester || !releaseRecipient)) {
      throw new AppError('E_VALIDATION', 'a request to release a copy (purpose) must say who asked for it (requester) and who receives it (recipient)');
    }
    // Staff may ask only for calls they took part in; naming another call is answered as if it did not exist.
    await this.requireRequestable(principal.role === 'staff' ? principal : null, recordingIds);
    const request = {
      id: crypto.randomUUID(),
      requesterId: principal.userId,
      requesterUsername: principal.username,
      requesterRole: principal.role,
      reason,
      callTime: optionalTime(input.callTime, 'callTime'),
      extension: optionalText(input.extension, 'extension', 32),
      externalNumber: number,
      parties: textList(input.parties, 'parties'),
      notes: optionalText(input.notes, 'notes', 4000),
      purpose,
      releaseRequester,
      releaseRecipient,
      recordingIds,
    };
    await this.deps.repo.insert(request, this.deps.clock.now());
    await this.deps.audit.append({
      actor: principal.username,
      actorRole: principal.role,
      action: 'access_request.created',
      details: {
        requestId: request.id,
        reason,
        recordingIds,
        purpose,
        callTime: request.callTime,
        extension: request.extension,
        externalNumber: maskNumber(number),
        parties: request.parties.map((party) => maskName(party)),
      },
    });
    return (await this.deps.repo.get(request.id))!;
  }

  /** The requester's own requests; every request for those who decide them. */
  async list(principal: Principal, filter: { status?: string; limit: number }): Promise<AccessRequestRecord[]> {
    const status = filter.status === undefined ? undefined : (filter.status as AccessRequestStatus);
    if (status !== undefined && !['pending', 'approved', 'rejected', 'revoked'].includes(status)) throw new AppError('E_VALIDATION', 'status: pending, approved, rejected or revoked');
    const all = may(principal.role, 'access_requests.read_all');
    return this.deps.repo.list({ requesterId: all ? undefined : principal.userId, status, limit: filter.limit });
  }

  async get(principal: Principal, id: string): Promise<AccessRequestRecord> {
    const request = await this.deps.repo.get(id);
    if (!request || (request.requesterId !== principal.userId && !may(principal.role, 'access_requests.read_all'))) {
      throw new AppError('E_ACCESS_REQUEST_NOT_FOUND', `no access request ${id}`);
    }
    return request;
  }

  /**
   * ig_lead: the approval that makes the request a grant (with an expiry, and the recordings it
   * covers). dpo: the second approval police and disciplinary requests need.
   */
  async approve(principal: Principal, id: string, input: { expiresAt?: unknown; recordingIds?: unknown; note?: unknown }): Promise<AccessRequestRecord> {
    const request = await this.decidable(principal, id, 'approve');
    const now = this.deps.clock.now();
    const audit = { actor: principal.username, actorRole: principal.role, recordingId: null };
    if (principal.role === 'dpo') {
      if (!(await this.deps.repo.dpoApprove(id, principal.username, now))) throw new AppError('E_ACCESS_REQUEST_DECIDED', `access request ${id} already has the dpo's approval, or was rejected or revoked`);
      await this.deps.audit.append({ ...audit, action: 'access_request.dpo_approved', details: { requestId: id, purpose: request.purpose } });
      return (await this.deps.repo.get(id))!;
    }
    const added = idList(input.recordingIds, 'recordingIds');
    const covered = [...new Set([...request.recordingIds, ...added])];
    if (covered.length === 0) throw new AppError('E_VALIDATION', 'recordingIds: name the recordings this grant covers (the request did not)');
    const requester: Principal | null = request.requesterRole === 'staff' ? { userId: request.requesterId, username: request.requesterUsername, role: 'staff', extension: await this.extensionOf(request) } : null;
    await this.requireRequestable(requester, added, 'E_VALIDATION');
    const expiresAt = this.expiry(input.expiresAt, now);
    const note = optionalText(input.note, 'note', 2000);
    if (!(await this.deps.repo.approve(id, { by: principal.username, note, expiresAt, addRecordings: added }, now))) {
      throw new AppError('E_ACCESS_REQUEST_DECIDED', `access request ${id} has already been decided`);
    }
    await this.deps.audit.append({ ...audit, action: 'access_request.approved', details: { requestId: id, requester: request.requesterUsername, recordingIds: covered, expiresAt, purpose: request.purpose } });
    return (await this.deps.repo.get(id))!;
  }

  async reject(principal: Principal, id: string, input: { reason?: unknown }): Promise<AccessRequestRecord> {
    await this.decidable(principal, id, 'reject');
    const reason = requiredText(input.reason, 'reason', 2000);
    if (!(await this.deps.repo.reject(id, principal.username, reason, this.deps.clock.now()))) {
      throw new AppError('E_ACCESS_REQUEST_DECIDED', `access request ${id} has already been decided`);
    }
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'access_request.rejected', details: { requestId: id, reason } });
    return (await this.deps.repo.get(id))!;
  }

  /** Ends a grant (or withdraws a pending request) before its expiry. */
  async revoke(principal: Principal, id: string, input: { reason?: unknown }): Promise<AccessRequestRecord> {
    if (!may(principal.role, 'access_requests.revoke')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not revoke access`);
    const reason = requiredText(input.reason, 'reason', 2000);
    if (!(await this.deps.repo.get(id))) throw new AppError('E_ACCESS_REQUEST_NOT_FOUND', `no access request ${id}`);
    if (!(await this.deps.repo.revoke(id, principal.username, reason, this.deps.clock.now()))) {
      throw new AppError('E_ACCESS_REQUEST_DECIDED', `access request ${id} was already rejected or revoked`);
    }
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'access_request.revoked', details: { requestId: id, reason } });
    return (await this.deps.repo.get(id))!;
  }

  /**
   * The live grant that lets this user hear (`listen`) or release a copy of (`release`) this
   * recording, or the reason there is none. A release needs a grant naming a purpose; with
   * `grantId`, that grant and no other.
   */
  async liveGrant(userId: string, recordingId: string, use: 'listen' | 'release', grantId?: string): Promise<Grant> {
    const approved = (await this.deps.repo.approvedCovering(userId, recordingId, this.deps.clock.now())).filter((grant) => !grantId || grant.id === grantId);
    const live = approved.filter((grant) => !DPO_PURPOSES.includes(grant.purpose as ReleasePurpose) || grant.dpoApprovedAt !== null);
    const usable = use === 'listen' ? live : live.filter((grant) => grant.purpose !== null);
    const grant = usable[0];
    if (grant) return { request: grant, purpose: (grant.purpose as ReleasePurpose | null) ?? null };
    if (approved.length > live.length) throw new AppError('E_DPO_APPROVAL_REQUIRED', 'the grant covering this recording is for a police or disciplinary release and the dpo has not approved it yet');
    if (use === 'release' && live.length > 0) throw new AppError('E_RELEASE_NOT_AUTHORISED', 'your grant for this recording is for listening; a copy may leave only under a grant that names its purpose, requester and recipient');
    throw new AppError('E_GRANT_REQUIRED', `no live grant of yours covers recording ${recordingId}${grantId ? ` (grant ${grantId})` : ''}: file an access request and have it approved`);
  }

  private async decidable(principal: Principal, id: string, verb: 'approve' | 'reject'): Promise<AccessRequestRecord> {
    if (!may(principal.role, 'access_requests.approve')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not ${verb} access requests`);
    const request = await this.deps.repo.get(id);
    if (!request) throw new AppError('E_ACCESS_REQUEST_NOT_FOUND', `no access request ${id}`);
    if (request.requesterId === principal.userId) throw new AppError('E_OWN_REQUEST', `nobody may ${verb} their own access request`);
    if (principal.role === 'dpo' && !DPO_PURPOSES.includes(request.purpose as ReleasePurpose)) {
      throw new AppError('E_FORBIDDEN', 'the dpo decides only police and disciplinary requests; the IG lead decides the others');
    }
    if (request.status !== 'pending' && !(principal.role === 'dpo' && verb === 'approve' && request.status === 'approved')) {
      throw new AppError('E_ACCESS_REQUEST_DECIDED', `access request ${id} is already ${request.status}`);
    }
    return request;
  }

  /** Every id names a recording the requester may ask for (staff: calls they took part in). */
  private async requireRequestable(staff: Principal | null, recordingIds: readonly string[], code: 'E_RECORDING_NOT_FOUND' | 'E_VALIDATION' = 'E_RECORDING_NOT_FOUND'): Promise<void> {
    for (const recordingId of recordingIds) {
      const recording = await this.deps.recordings.get(recordingId);
      if (!recording) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
      if (staff && !tookPart(staff, recording)) {
        if (code === 'E_VALIDATION') throw new AppError('E_VALIDATION', `recording ${recordingId} is not a call ${staff.username} took part in; staff may be granted only their own calls`);
        requireVisible(staff, null, recordingId);
      }
    }
  }

  private async extensionOf(request: AccessRequestRecord): Promise<string | null> {
    return (await this.deps.users.byId(request.requesterId))?.extension ?? null;
  }

  private expiry(value: unknown, now: Date): Date {
    const { grantDefaultDays, grantMaxDays } = this.deps.config.access;
    if (value === undefined || value === null) return new Date(now.getTime() + grantDefaultDays * 86_400_000);
    const expiresAt = optionalTime(value, 'expiresAt')!;
    if (expiresAt <= now) throw new AppError('E_VALIDATION', 'expiresAt: must be in the future');
    if (expiresAt.getTime() > now.getTime() + grantMaxDays * 86_400_000) throw new AppError('E_VALIDATION', `expiresAt: at most ${grantMaxDays} days ahead (CALLVAULT_GRANT_MAX_DAYS)`);
    return expiresAt;
  }
}

export function requiredText(value: unknown, name: string, max: number): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (text.length < 5) throw new AppError('E_VALIDATION', `${name}: required, at least 5 characters`);
  if (text.length > max) throw new AppError('E_VALIDATION', `${name}: at most ${max} characters`);
  return text;
}

export function optionalText(value: unknown, name: string, max: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new AppError('E_VALIDATION', `${name}: must be text`);
  const text = value.trim();
  if (text.length > max) throw new AppError('E_VALIDATION', `${name}: at most ${max} characters`);
  return text || null;
}

export function optionalTime(value: unknown, name: string): Date | null {
  if (value === undefined || value === null || value === '') return null;
  const time = typeof value === 'string' ? new Date(value) : null;
  if (!time || Number.isNaN(time.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value as string)) throw new AppError('E_VALIDATION', `${name}: an ISO 8601 date or time, such as 2026-11-20T09:14:03Z`);
  return time;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function idList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || !UUID.test(item))) throw new AppError('E_VALIDATION', `${name}: a list of recording ids`);
  if (value.length > MAX_RECORDINGS) throw new AppError('E_VALIDATION', `${name}: at most ${MAX_RECORDINGS}`);
  return [...new Set((value as string[]).map((id) => id.toLowerCase()))];
}

function textList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.length > 255)) throw new AppError('E_VALIDATION', `${name}: a list of names`);
  return (value as string[]).map((item) => item.trim()).filter(Boolean).slice(0, 20);
}
