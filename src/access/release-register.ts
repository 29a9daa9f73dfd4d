import crypto from 'node:crypto';
import type { Clock } from '../clock';
import type { AccessRequestsRepository } from '../db/access-requests';
import type { ReleaseRecord, ReleasesRepository } from '../db/releases';
import { AppError } from '../errors';
import { csvLine } from '../export/csv';
import type { AccessRequests } from './access-requests';
import { idList, optionalText } from './access-requests';
import type { AuditTrail } from './audit-trail';
import type { Principal } from './principal';
import { may } from './roles';

/**
 * The release register (the policies' "Annex B"): one entry per copy that left. Exports enter
 * themselves here when their last byte has gone, with the SHA-256 and size of exactly the bytes
 * delivered; the purpose, requester, recipient and who authorised it come from the grant the
 * copy left under (for a subject access bundle, from the ig_lead or dpo who made it). A copy
 * made some other way (a transcript, say) is recorded by hand under the grant that allowed it.
 */

export type NewRelease = Omit<ReleaseRecord, 'id' | 'releasedAt'>;

export const RELEASE_CSV_HEADER = ['released_at', 'release_id', 'recordings', 'requester', 'recipient', 'purpose', 'authorised_by', 'dpo_approved_by', 'access_request_id', 'format', 'sha256', 'bytes', 'complete', 'channel', 'recorded_by', 'notes'];

const MANUAL_FORMATS = ['mp3', 'wav', 'original', 'zip', 'transcript', 'other'];

export class ReleaseRegister {
  constructor(private readonly deps: { repo: ReleasesRepository; requests: AccessRequestsRepository; grants: AccessRequests; audit: AuditTrail; clock: Clock }) {}

  async record(release: NewRelease): Promise<ReleaseRecord> {
    const entry: ReleaseRecord = { ...release, id: crypto.randomUUID(), releasedAt: this.deps.clock.now() };
    await this.deps.repo.insert(entry);
    await this.deps.audit.append({
      actor: release.recordedBy,
      action: 'release.recorded',
      recordingId: release.recordingIds.length === 1 ? release.recordingIds[0]! : null,
      details: { releaseId: entry.id, recordingIds: release.recordingIds, purpose: release.purpose, format: release.format, sha256: release.sha256, bytes: release.bytes, complete: release.complete, channel: release.channel, accessRequestId: release.accessRequestId },
    });
    return entry;
  }

  /** POST /api/releases: a copy that left some other way, under a live grant that names its purpose. */
  async recordManual(principal: Principal, input: { accessRequestId?: unknown; recordingIds?: unknown; format?: unknown; sha256?: unknown; bytes?: unknown; notes?: unknown }): Promise<ReleaseRecord> {
    if (!may(principal.role, 'releases.record')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not record releases`);
    const requestId = typeof input.accessRequestId === 'string' ? input.accessRequestId : '';
    const request = requestId ? await this.deps.requests.get(requestId) : null;
    if (!request) throw new AppError('E_VALIDATION', 'accessRequestId: the approved access request (with a purpose) the copy left under');
    if (request.requesterId !== principal.userId && !may(principal.role, 'access_requests.read_all')) throw new AppError('E_ACCESS_REQUEST_NOT_FOUND', `no access request ${requestId}`);
    const named = idList(input.recordingIds, 'recordingIds');
    const recordingIds = named.length > 0 ? named : [...request.recordingIds];
    for (const recordingId of recordingIds) {
      if (!request.recordingIds.includes(recordingId)) throw new AppError('E_RELEASE_NOT_AUTHORISED', `access request ${requestId} does not cover recording ${recordingId}`);
      await this.deps.grants.liveGrant(request.requesterId, recordingId, 'release', requestId);
    }
    const format = typeof input.format === 'string' && MANUAL_FORMATS.includes(input.format) ? input.format : null;
    if (!format) throw new AppError('E_VALIDATION', `format: one of ${MANUAL_FORMATS.join(', ')}`);
    const sha256 = typeof input.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(input.sha256) ? input.sha256.toLowerCase() : null;
    if (!sha256) throw new AppError('E_VALIDATION', 'sha256: the SHA-256 of the copy released, 64 hex digits');
    const bytes = input.bytes === undefined || input.bytes === null ? null : Number(input.bytes);
    if (bytes !== null && (!Number.isSafeInteger(bytes) || bytes < 0)) throw new AppError('E_VALIDATION', 'bytes: a whole number');
    return this.record({
      recordingIds,
      requester: request.releaseRequester!,
      recipient: request.releaseRecipient!,
      purpose: request.purpose!,
      authorisedBy: request.decidedBy!,
      dpoApprovedBy: request.dpoApprovedBy,
      accessRequestId: request.id,
      format,
      sha256,
      bytes,
      complete: true,
      channel: 'manual',
      recordedBy: principal.username,
      notes: optionalText(input.notes, 'notes', 2000),
    });
  }

  async list(principal: Principal, query: { reason: string; recordingId?: string; cursor?: string; limit: number; channel?: 'api' | 'cli' }): Promise<{ items: ReleaseRecord[]; nextCursor: string | null }> {
    if (!may(principal.role, 'releases.read')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not read the release register`);
    const before = decodeCursor(query.cursor);
    const rows = await this.deps.repo.page({ recordingId: query.recordingId, before, limit: query.limit + 1 });
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'releases.read', details: { reason: query.reason, recordingId: query.recordingId, entries: Math.min(rows.length, query.limit), channel: query.channel ?? 'api' } });
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
  }

  /** The whole register as CSV lines, in pages (it may be long): header first, newest entry next. */
  async *csv(principal: Principal, reason: string, channel: 'api' | 'cli' = 'api'): AsyncGenerator<string> {
    if (!may(principal.role, 'releases.read')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not read the release register`);
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'releases.read', details: { reason, format: 'csv', channel } });
    yield csvLine(RELEASE_CSV_HEADER);
    let before: { at: Date; id: string } | undefined;
    for (;;) {
      const page = await this.deps.repo.page({ before, limit: 500 });
      for (const release of page) {
        yield csvLine([
          release.releasedAt.toISOString(),
          release.id,
          release.recordingIds.join(' '),
          release.requester,
          release.recipient,
          release.purpose,
          release.authorisedBy,
          release.dpoApprovedBy ?? '',
          release.accessRequestId ?? '',
          release.format,
          release.sha256,
          release.bytes ?? '',
          release.complete ? 'yes' : 'no',
          release.channel,
          release.recordedBy,
          release.notes ?? '',
        ]);
      }
      if (page.length < 500) return;
      const last = page[page.length - 1]!;
      before = { at: last.releasedAt, id: last.id };
    }
  }
}

function encodeCursor(release: ReleaseRecord): string {
  return Buffer.from(JSON.stringify([release.releasedAt.toISOString(), release.id])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { at: Date; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (typeof id === 'string' && !Number.isNaN(date.getTime())) return { at: date, id };
  } catch {
    // fall through
  }
  throw new AppError('E_VALIDATION', 'cursor is not one this server returned');
}
