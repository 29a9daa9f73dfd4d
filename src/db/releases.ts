import type { Database } from './database';

/** The releases table (the policies' Annex B) and the recordings each release carried. */

export interface ReleaseRecord {
  readonly id: string;
  readonly releasedAt: Date;
  readonly recordingIds: readonly string[];
  readonly requester: string;
  readonly recipient: string;
  readonly purpose: string;
  readonly authorisedBy: string;
  readonly dpoApprovedBy: string | null;
  readonly accessRequestId: string | null;
  readonly format: string;
  readonly sha256: string;
  readonly bytes: number | null;
  readonly complete: boolean;
  readonly channel: 'api' | 'cli' | 'subject-access' | 'manual';
  readonly recordedBy: string;
  readonly notes: string | null;
}

const INSERT_CHUNK = 250;

export class ReleasesRepository {
  constructor(private readonly db: Database) {}

  async insert(release: ReleaseRecord): Promise<void> {
    const { codec } = this.db;
    await this.db.transaction(async (trx) => {
      await trx('releases').insert({
        id: release.id,
        released_at: codec.time(release.releasedAt),
        requester: release.requester,
        recipient: release.recipient,
        purpose: release.purpose,
        authorised_by: release.authorisedBy,
        dpo_approved_by: release.dpoApprovedBy,
        access_request_id: release.accessRequestId,
        format: release.format,
        sha256: release.sha256,
        bytes: release.bytes,
        complete: release.complete,
        channel: release.channel,
        recorded_by: release.recordedBy,
        notes: release.notes,
      });
      const ids = [...new Set(release.recordingIds)];
      for (let offset = 0; offset < ids.length; offset += INSERT_CHUNK) {
        await trx('release_recordings').insert(ids.slice(offset, offset + INSERT_CHUNK).map((recordingId) => ({ release_id: release.id, recording_id: recordingId })));
      }
    });
  }

  /** Newest first, keyset-paged on (released_at, id). */
  async page(filter: { recordingId?: string; before?: { at: Date; id: string }; limit: number }): Promise<ReleaseRecord[]> {
    const { knex, codec } = this.db;
    const query = knex('releases as r').select('r.*');
    if (filter.recordingId) query.whereExists(knex('release_recordings as c').select(knex.raw('1')).whereRaw('c.release_id = r.id').where('c.recording_id', filter.recordingId));
    if (filter.before) {
      const at = codec.time(filter.before.at);
      query.where((q) => q.where('r.released_at', '<', at).orWhere((inner) => inner.where('r.released_at', at).andWhere('r.id', '<', filter.before!.id)));
    }
    const rows = (await query.orderBy([{ column: 'r.released_at', order: 'desc' }, { column: 'r.id', order: 'desc' }]).limit(filter.limit)) as Array<Record<string, unknown>>;
    if (rows.length === 0) return [];
    const links = (await knex('release_recordings').whereIn('release_id', rows.map((row) => row.id as string)).orderBy('recording_id')) as Array<{ release_id: string; recording_id: string }>;
    const byRelease = new Map<string, string[]>();
    for (const link of links) {
      const list = byRelease.get(link.release_id);
      if (list) list.push(link.recording_id);
      else byRelease.set(link.release_id, [link.recording_id]);
    }
    return rows.map((row) => ({
      id: row.id as string,
      releasedAt: codec.readTime(row.released_at)!,
      recordingIds: byRelease.get(row.id as string) ?? [],
      requester: row.requester as string,
      recipient: row.recipient as string,
      purpose: row.purpose as string,
      authorisedBy: row.authorised_by as string,
      dpoApprovedBy: (row.dpo_approved_by as string | null) ?? null,
      accessRequestId: (row.access_request_id as string | null) ?? null,
      format: row.format as string,
      sha256: row.sha256 as string,
      bytes: codec.readNumber(row.bytes),
      complete: codec.readBool(row.complete),
      channel: row.channel as ReleaseRecord['channel'],
      recordedBy: row.recorded_by as string,
      notes: (row.notes as string | null) ?? null,
    }));
  }
}
