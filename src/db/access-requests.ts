import type { Knex } from 'knex';
import type { Database } from './database';

/** The access_requests table and the recordings each request covers. */

export type AccessRequestStatus = 'pending' | 'approved' | 'rejected' | 'revoked';

export interface AccessRequestRecord {
  readonly id: string;
  readonly requesterId: string;
  readonly requesterUsername: string;
  readonly requesterRole: string;
  readonly reason: string;
  readonly callTime: Date | null;
  readonly extension: string | null;
  readonly externalNumber: string | null;
  readonly parties: readonly string[];
  readonly notes: string | null;
  readonly purpose: string | null;
  readonly releaseRequester: string | null;
  readonly releaseRecipient: string | null;
  readonly status: AccessRequestStatus;
  readonly decidedBy: string | null;
  readonly decidedAt: Date | null;
  readonly decisionNote: string | null;
  readonly expiresAt: Date | null;
  readonly dpoApprovedBy: string | null;
  readonly dpoApprovedAt: Date | null;
  readonly revokedBy: string | null;
  readonly revokedAt: Date | null;
  readonly createdAt: Date;
  readonly recordingIds: readonly string[];
}

export type NewAccessRequest = Pick<
  AccessRequestRecord,
  'id' | 'requesterId' | 'requesterUsername' | 'requesterRole' | 'reason' | 'callTime' | 'extension' | 'externalNumber' | 'parties' | 'notes' | 'purpose' | 'releaseRequester' | 'releaseRecipient' | 'recordingIds'
>;

const INSERT_CHUNK = 250;

export class AccessRequestsRepository {
  constructor(private readonly db: Database) {}

  async insert(request: NewAccessRequest, now: Date): Promise<void> {
    const { codec } = this.db;
    await this.db.transaction(async (trx) => {
      await trx('access_requests').insert({
        id: request.id,
        requester_id: request.requesterId,
        requester_username: request.requesterUsername,
        requester_role: request.requesterRole,
        reason: request.reason,
        call_time: codec.time(request.callTime),
        extension: request.extension,
        external_number: request.externalNumber,
        parties: request.parties.length > 0 ? codec.json(request.parties) : null,
        notes: request.notes,
        purpose: request.purpose,
        release_requester: request.releaseRequester,
        release_recipient: request.releaseRecipient,
        status: 'pending',
        created_at: codec.time(now),
      });
      await this.cover(trx, request.id, request.recordingIds);
    });
  }

  async get(id: string): Promise<AccessRequestRecord | null> {
    const row = await this.db.knex('access_requests').where({ id }).first();
    if (!row) return null;
    const [withRecordings] = await this.attachRecordings([row]);
    return withRecordings ?? null;
  }

  async list(filter: { requesterId?: string; status?: AccessRequestStatus; limit: number }): Promise<AccessRequestRecord[]> {
    const query = this.db.knex('access_requests');
    if (filter.requesterId) query.where({ requester_id: filter.requesterId });
    if (filter.status) query.where({ status: filter.status });
    const rows = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(filter.limit);
    return this.attachRecordings(rows);
  }

  /**
   * The decision, conditional on the request still being pending, with any recordings the
   * approver names added in the same transaction. False when someone decided it first.
   */
  async approve(id: string, decision: { by: string; note: string | null; expiresAt: Date; addRecordings: readonly string[] }, now: Date): Promise<boolean> {
    const { codec } = this.db;
    return this.db.transaction(async (trx) => {
      const updated = await trx('access_requests')
        .where({ id, status: 'pending' })
        .update({ status: 'approved', decided_by: decision.by, decided_at: codec.time(now), decision_note: decision.note, expires_at: codec.time(decision.expiresAt) });
      if (updated !== 1) return false;
      const existing = new Set(((await trx('access_request_recordings').where({ request_id: id }).select('recording_id')) as Array<{ recording_id: string }>).map((r) => r.recording_id));
      await this.cover(trx, id, decision.addRecordings.filter((recordingId) => !existing.has(recordingId)));
      return true;
    });
  }

  async dpoApprove(id: string, by: string, now: Date): Promise<boolean> {
    const updated = await this.db
      .knex('access_requests')
      .where({ id })
      .whereIn('status', ['pending', 'approved'])
      .whereNull('dpo_approved_at')
      .update({ dpo_approved_by: by, dpo_approved_at: this.db.codec.time(now) });
    return updated === 1;
  }

  async reject(id: string, by: string, note: string, now: Date): Promise<boolean> {
    const updated = await this.db.knex('access_requests').where({ id, status: 'pending' }).update({ status: 'rejected', decided_by: by, decided_at: this.db.codec.time(now), decision_note: note });
    return updated === 1;
  }

  async revoke(id: string, by: string, note: string, now: Date): Promise<boolean> {
    const updated = await this.db
      .knex('access_requests')
      .where({ id })
      .whereIn('status', ['pending', 'approved'])
      .update({ status: 'revoked', revoked_by: by, revoked_at: this.db.codec.time(now), decision_note: note });
    return updated === 1;
  }

  /**
   * Approved requests of this user that cover this recording and have not expired, newest
   * first. Whether one is live for a given use (a dpo approval, a purpose) is the caller's call.
   */
  async approvedCovering(requesterId: string, recordingId: string, now: Date): Promise<AccessRequestRecord[]> {
    const rows = await this.db
      .knex('access_requests as a')
      .join('access_request_recordings as c', 'c.request_id', 'a.id')
      .where({ 'a.requester_id': requesterId, 'a.status': 'approved', 'c.recording_id': recordingId })
      .andWhere('a.expires_at', '>', this.db.codec.time(now))
      .orderBy('a.decided_at', 'desc')
      .select('a.*');
    return this.attachRecordings(rows);
  }

  private async cover(trx: Knex.Transaction, requestId: string, recordingIds: readonly string[]): Promise<void> {
    const unique = [...new Set(recordingIds)];
    for (let offset = 0; offset < unique.length; offset += INSERT_CHUNK) {
      await trx('access_request_recordings').insert(unique.slice(offset, offset + INSERT_CHUNK).map((recordingId) => ({ request_id: requestId, recording_id: recordingId })));
    }
  }

  private async attachRecordings(rows: Array<Record<string, unknown>>): Promise<AccessRequestRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => row.id as string);
    const covered = (await this.db.knex('access_request_recordings').whereIn('request_id', ids).orderBy('recording_id')) as Array<{ request_id: string; recording_id: string }>;
    const byRequest = new Map<string, string[]>();
    for (const row of covered) {
      const list = byRequest.get(row.request_id);
      if (list) list.push(row.recording_id);
      else byRequest.set(row.request_id, [row.recording_id]);
    }
    return rows.map((row) => this.fromRow(row, byRequest.get(row.id as string) ?? []));
  }

  private fromRow(row: Record<string, unknown>, recordingIds: string[]): AccessRequestRecord {
    const { codec } = this.db;
    const text = (value: unknown): string | null => (value as string | null) ?? null;
    return {
      id: row.id as string,
      requesterId: row.requester_id as string,
      requesterUsername: row.requester_username as string,
      requesterRole: row.requester_role as string,
      reason: row.reason as string,
      callTime: codec.readTime(row.call_time),
      extension: text(row.extension),
      externalNumber: text(row.external_number),
      parties: codec.readJson<string[] | null>(row.parties) ?? [],
      notes: text(row.notes),
      purpose: text(row.purpose),
      releaseRequester: text(row.release_requester),
      releaseRecipient: text(row.release_recipient),
      status: row.status as AccessRequestStatus,
      decidedBy: text(row.decided_by),
      decidedAt: codec.readTime(row.decided_at),
      decisionNote: text(row.decision_note),
      expiresAt: codec.readTime(row.expires_at),
      dpoApprovedBy: text(row.dpo_approved_by),
      dpoApprovedAt: codec.readTime(row.dpo_approved_at),
      revokedBy: text(row.revoked_by),
      revokedAt: codec.readTime(row.revoked_at),
      createdAt: codec.readTime(row.created_at)!,
      recordingIds,
    };
  }
}
