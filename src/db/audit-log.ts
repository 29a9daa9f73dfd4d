import type { Knex } from 'knex';
import type { Database } from './database';

/** The audit_log table: rows in, rows out. The chain itself is computed in src/access/audit-trail.ts. */

export interface AuditRow {
  readonly seq: number;
  readonly at: Date;
  readonly actor: string;
  readonly actorRole: string | null;
  readonly action: string;
  readonly recordingId: string | null;
  /** Canonical JSON, as stored and hashed. */
  readonly details: string;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditQuery {
  readonly actor?: string;
  readonly action?: string;
  readonly recordingId?: string;
  /** Entries with seq below this (newest first paging). */
  readonly beforeSeq?: number;
  readonly limit: number;
}

/** Rows per multi-row insert (knex's SQLite inserts fail above 500). */
const INSERT_CHUNK = 250;

export class AuditLogRepository {
  constructor(private readonly db: Database) {}

  async head(knex: Knex = this.db.knex): Promise<{ seq: number; hash: string } | null> {
    const row = (await knex('audit_log').orderBy('seq', 'desc').first('seq', 'hash')) as { seq: number | string; hash: string } | undefined;
    return row ? { seq: Number(row.seq), hash: row.hash } : null;
  }

  /** All or nothing: one statement when the rows fit in one, else one transaction. */
  async insert(rows: readonly AuditRow[]): Promise<void> {
    if (rows.length <= INSERT_CHUNK) {
      await this.db.knex('audit_log').insert(rows.map((row) => this.toRow(row)));
      return;
    }
    await this.db.transaction(async (trx) => {
      for (let offset = 0; offset < rows.length; offset += INSERT_CHUNK) {
        await trx('audit_log').insert(rows.slice(offset, offset + INSERT_CHUNK).map((row) => this.toRow(row)));
      }
    });
  }

  private toRow(row: AuditRow): Record<string, unknown> {
    return {
      seq: row.seq,
      at: this.db.codec.time(row.at),
      actor: row.actor,
      actor_role: row.actorRole,
      action: row.action,
      recording_id: row.recordingId,
      details: row.details,
      prev_hash: row.prevHash,
      hash: row.hash,
    };
  }

  /** Ascending from `afterSeq` (exclusive): how verification walks the whole chain in bounded pages. */
  async pageAscending(afterSeq: number, limit: number): Promise<AuditRow[]> {
    const rows = await this.db.knex('audit_log').where('seq', '>', afterSeq).orderBy('seq', 'asc').limit(limit);
    return rows.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  async find(query: AuditQuery): Promise<AuditRow[]> {
    const builder = this.db.knex('audit_log');
    if (query.actor) builder.where('actor', query.actor);
    if (query.action) builder.where('action', query.action);
    if (query.recordingId) builder.where('recording_id', query.recordingId);
    if (query.beforeSeq !== undefined) builder.where('seq', '<', query.beforeSeq);
    const rows = await builder.orderBy('seq', 'desc').limit(query.limit);
    return rows.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  async bySeq(seq: number): Promise<AuditRow | null> {
    const row = await this.db.knex('audit_log').where({ seq }).first();
    return row ? this.fromRow(row) : null;
  }

  private fromRow(row: Record<string, unknown>): AuditRow {
    const { codec } = this.db;
    return {
      seq: Number(row.seq),
      at: codec.readTime(row.at)!,
      actor: row.actor as string,
      actorRole: (row.actor_role as string | null) ?? null,
      action: row.action as string,
      recordingId: (row.recording_id as string | null) ?? null,
      details: row.details as string,
      prevHash: row.prev_hash as string,
      hash: row.hash as string,
    };
  }
}
