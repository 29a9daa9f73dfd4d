import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { AppError } from '../errors';
import type { Database } from './database';
import { RETAINED_STATUSES, type RecordingStatus } from './recordings';

/**
 * What retention reads and writes in the index: holds, category changes, which recordings are
 * due, and the steps of a destruction. Every step is a conditional update on the recording's
 * status, so two sweeps (or a sweep and a hold) racing over one recording cannot both win.
 */

export interface HoldRecord {
  readonly id: string;
  readonly recordingId: string;
  readonly reason: string;
  readonly placedBy: string;
  readonly placedAt: Date;
  readonly removedBy: string | null;
  readonly removalReason: string | null;
  readonly removedAt: Date | null;
}

export interface DueRecording {
  readonly id: string;
  readonly source: string;
  readonly status: RecordingStatus;
  readonly category: string;
  readonly retainUntil: Date;
  readonly storageKey: string | null;
  readonly sha256: string | null;
  readonly plaintextSize: number | null;
  readonly ingestedAt: Date;
  readonly rule: string | null;
}

export interface DestructionRecord {
  readonly recordingId: string;
  readonly source: string;
  readonly category: string;
  readonly rule: string;
  readonly retainUntil: Date;
  readonly plaintextSha256: string | null;
  readonly plaintextSize: number | null;
  readonly hadAudio: boolean;
  readonly objectDeletionConfirmed: boolean;
  readonly ingestedAt: Date;
  readonly destroyedAt: Date;
  readonly sweepId: string;
}

/** Rows per multi-row statement (knex's SQLite inserts fail above 500). */
const INSERT_CHUNK = 250;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let offset = 0; offset < items.length; offset += size) out.push(items.slice(offset, offset + size));
  return out;
}

const DUE_COLUMNS = ['id', 'source', 'status', 'category', 'retain_until', 'storage_key', 'sha256', 'plaintext_size', 'ingested_at', 'metadata'];

export class RetentionRepository {
  constructor(private readonly db: Database) {}

  /** Recordings whose period is up and that nobody holds. */
  private due(query: Knex.QueryBuilder, now: Date): Knex.QueryBuilder {
    return query.whereIn('status', RETAINED_STATUSES as RecordingStatus[]).andWhere('retain_until', '<=', this.db.codec.time(now)).andWhere('hold_count', 0);
  }

  async countDue(now: Date): Promise<number> {
    const [row] = await this.due(this.db.knex('recordings'), now).count({ n: '*' });
    return Number(row?.n ?? 0);
  }

  /** Past their date but kept because of a legal hold. */
  async countHeldPastDate(now: Date): Promise<number> {
    const [row] = await this.db
      .knex('recordings')
      .whereIn('status', RETAINED_STATUSES as RecordingStatus[])
      .andWhere('retain_until', '<=', this.db.codec.time(now))
      .andWhere('hold_count', '>', 0)
      .count({ n: '*' });
    return Number(row?.n ?? 0);
  }

  async countUnfinished(): Promise<number> {
    const [row] = await this.db.knex('recordings').where({ status: 'destroying' }).count({ n: '*' });
    return Number(row?.n ?? 0);
  }

  async listDue(now: Date, limit: number): Promise<DueRecording[]> {
    const rows = await this.due(this.db.knex('recordings').select(DUE_COLUMNS), now).orderBy('retain_until').limit(limit);
    return rows.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  /**
   * The next batch to destroy: first what an interrupted sweep left half done, then recordings
   * that are due, marked "destroying" in one conditional update (a hold placed meanwhile makes
   * hold_count non-zero and the update skips that row).
   */
  async claimBatch(sweepId: string, now: Date, limit: number): Promise<DueRecording[]> {
    const { knex, codec } = this.db;
    // Left half done by an earlier sweep; rows this sweep already tried (and failed) wait for the next one.
    const unfinished = await knex('recordings')
      .select(DUE_COLUMNS)
      .where({ status: 'destroying' })
      .andWhere((q) => q.whereNull('destroy_sweep_id').orWhereNot('destroy_sweep_id', sweepId))
      .orderBy('retain_until')
      .limit(limit);
    if (unfinished.length > 0) {
      await knex('recordings').whereIn('id', unfinished.map((row: { id: string }) => row.id)).where({ status: 'destroying' }).update({ destroy_sweep_id: sweepId });
      return unfinished.map((row: Record<string, unknown>) => this.fromRow(row));
    }
    const candidates = (await this.due(knex('recordings').select('id'), now).orderBy('retain_until').limit(limit)) as Array<{ id: string }>;
    if (candidates.length === 0) return [];
    const ids = candidates.map((row) => row.id);
    await this.due(knex('recordings').whereIn('id', ids), now).update({ status: 'destroying', destroy_sweep_id: sweepId, updated_at: codec.time(now) });
    const marked = await knex('recordings').select(DUE_COLUMNS).whereIn('id', ids).andWhere({ status: 'destroying', destroy_sweep_id: sweepId });
    return marked.map((row: Record<string, unknown>) => this.fromRow(row));
  }

  /**
   * Destroys the index side of recordings whose object is confirmed gone: the wrapped data key
   * (crypto-shredding), every personal detail of the call, then the destruction record; all in
   * one transaction per batch, a handful of statements whatever the batch size. Returns the ids
   * this call destroyed (not those another sweep destroyed first).
   */
  async finish(records: readonly DestructionRecord[], now: Date): Promise<string[]> {
    if (records.length === 0) return [];
    const { codec } = this.db;
    const destroyedAt = records[0]!.destroyedAt;
    return this.db.transaction(async (trx) => {
      const done: string[] = [];
      for (const chunk of chunks(records, INSERT_CHUNK)) {
        const updated = (await trx('recordings')
          .whereIn('id', chunk.map((record) => record.recordingId))
          .andWhere({ status: 'destroying' })
          .update({
            status: 'destroyed',
            status_reason: 'destroyed under its retention rule (see the destruction log)',
            wrapped_key: null,
            key_id: null,
            storage_key: null,
            from_number: null,
            to_number: null,
            from_display: null,
            to_display: null,
            extension: null,
            call_id: null,
            source_event_id: null,
            started_at: null,
            ended_at: null,
            duration_sec: null,
            // call_time stays: it is indexed in five places, and ingested_at (kept) says as much.
            metadata: codec.json({}),
            destroyed_at: codec.time(destroyedAt),
            updated_at: codec.time(now),
          })
          .returning('id')) as Array<{ id: string } | string>;
        const ids = new Set(updated.map((row) => (typeof row === 'string' ? row : row.id)));
        if (ids.size === 0) continue;
        const mine = chunk.filter((record) => ids.has(record.recordingId));
        const mineIds = mine.map((record) => record.recordingId);
        await trx('recording_staff').whereIn('recording_id', mineIds).delete();
        await trx('recording_parties').whereIn('recording_id', mineIds).delete();
        await trx('destruction_log').insert(
          mine.map((record) => ({
            id: crypto.randomUUID(),
            recording_id: record.recordingId,
            source: record.source,
            category: record.category,
            rule: record.rule,
            retain_until: codec.time(record.retainUntil),
            plaintext_sha256: record.plaintextSha256,
            plaintext_size: record.plaintextSize,
            had_audio: record.hadAudio,
            object_deletion_confirmed: record.objectDeletionConfirmed,
            ingested_at: codec.time(record.ingestedAt),
            destroyed_at: codec.time(record.destroyedAt),
            sweep_id: record.sweepId,
          })),
        );
        done.push(...mineIds);
      }
      return done;
    });
  }

  async destructionRecord(recordingId: string): Promise<DestructionRecord | null> {
    const row = await this.db.knex('destruction_log').where({ recording_id: recordingId }).first();
    if (!row) return null;
    const { codec } = this.db;
    return {
      recordingId: row.recording_id,
      source: row.source,
      category: row.category,
      rule: row.rule,
      retainUntil: codec.readTime(row.retain_until)!,
      plaintextSha256: row.plaintext_sha256 ?? null,
      plaintextSize: codec.readNumber(row.plaintext_size),
      hadAudio: codec.readBool(row.had_audio),
      objectDeletionConfirmed: codec.readBool(row.object_deletion_confirmed),
      ingestedAt: codec.readTime(row.ingested_at)!,
      destroyedAt: codec.readTime(row.destroyed_at)!,
      sweepId: row.sweep_id,
    };
  }

  async placeHold(recordingId: string, reason: string, by: string, now: Date): Promise<HoldRecord> {
    const { codec } = this.db;
    return this.db.transaction(async (trx) => {
      const updated = await trx('recordings')
        .where({ id: recordingId })
        .whereIn('status', RETAINED_STATUSES as RecordingStatus[])
        .update({ hold_count: trx.raw('hold_count + 1'), updated_at: codec.time(now) });
      if (updated !== 1) throw await this.notHoldable(trx, recordingId);
      const hold = { id: crypto.randomUUID(), recording_id: recordingId, reason, placed_by: by, placed_at: codec.time(now) };
      await trx('legal_holds').insert(hold);
      return { id: hold.id, recordingId, reason, placedBy: by, placedAt: now, removedBy: null, removalReason: null, removedAt: null };
    });
  }

  /** Lifts every active hold on the recording; returns how many there were. */
  async removeHolds(recordingId: string, reason: string, by: string, now: Date): Promise<number> {
    const { codec } = this.db;
    return this.db.transaction(async (trx) => {
      const lifted = await trx('legal_holds')
        .where({ recording_id: recordingId })
        .whereNull('removed_at')
        .update({ removed_at: codec.time(now), removed_by: by, removal_reason: reason });
      if (lifted > 0) await trx('recordings').where({ id: recordingId }).update({ hold_count: 0, updated_at: codec.time(now) });
      return lifted;
    });
  }

  async holds(recordingId: string): Promise<HoldRecord[]> {
    const { codec } = this.db;
    const rows = await this.db.knex('legal_holds').where({ recording_id: recordingId }).orderBy('placed_at');
    return rows.map((row: Record<string, unknown>) => ({
      id: row.id as string,
      recordingId: row.recording_id as string,
      reason: row.reason as string,
      placedBy: row.placed_by as string,
      placedAt: codec.readTime(row.placed_at)!,
      removedBy: (row.removed_by as string | null) ?? null,
      removalReason: (row.removal_reason as string | null) ?? null,
      removedAt: codec.readTime(row.removed_at),
    }));
  }

  /** Sets a new category and destruction date, and records the change (conditional on the recording still being retained). */
  async changeCategory(
    recordingId: string,
    change: { from: string; to: string; fromRetainUntil: Date; toRetainUntil: Date; reason: string; by: string },
    now: Date,
  ): Promise<void> {
    const { codec } = this.db;
    await this.db.transaction(async (trx) => {
      const updated = await trx('recordings')
        .where({ id: recordingId, category: change.from })
        .whereIn('status', RETAINED_STATUSES as RecordingStatus[])
        .update({ category: change.to, retain_until: codec.time(change.toRetainUntil), updated_at: codec.time(now) });
      if (updated !== 1) throw await this.notHoldable(trx, recordingId, 'changed');
      await trx('category_changes').insert({
        id: crypto.randomUUID(),
        recording_id: recordingId,
        from_category: change.from,
        to_category: change.to,
        from_retain_until: codec.time(change.fromRetainUntil),
        to_retain_until: codec.time(change.toRetainUntil),
        reason: change.reason,
        changed_by: change.by,
        changed_at: codec.time(now),
      });
    });
  }

  /**
   * Failed jobs keep their delivery (the event, with numbers and names) so that IT support can
   * put them back in the queue. Past `finishedBefore` no recording could still be kept, so the
   * personal data goes: the row stays (id, source, error) to show that a delivery failed.
   */
  async scrubFailedJobPayloads(finishedBefore: Date, now: Date): Promise<number> {
    const { codec, knex } = this.db;
    return knex('jobs')
      .where({ status: 'failed' })
      .andWhere('finished_at', '<', codec.time(finishedBefore))
      .andWhereNot('payload', codec.json({}))
      .update({ payload: codec.json({}), updated_at: codec.time(now) });
  }

  async startSweep(sweep: { id: string; owner: string; trigger: string; dryRun: boolean }, now: Date): Promise<void> {
    await this.db.knex('sweeps').insert({ id: sweep.id, owner: sweep.owner, trigger: sweep.trigger, dry_run: sweep.dryRun, started_at: this.db.codec.time(now) });
  }

  async finishSweep(id: string, result: { eligible: number; destroyed: number; failed: number; held: number; problems: string[] }, now: Date): Promise<void> {
    await this.db
      .knex('sweeps')
      .where({ id })
      .update({ finished_at: this.db.codec.time(now), eligible: result.eligible, destroyed: result.destroyed, failed: result.failed, held: result.held, problems: result.problems.join('\n').slice(0, 10_000) || null });
  }

  private async notHoldable(trx: Knex.Transaction, recordingId: string, verb = 'held'): Promise<AppError> {
    const row = await trx('recordings').where({ id: recordingId }).first('status');
    if (!row) return new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
    if (row.status === 'destroying') return new AppError('E_RECORDING_BEING_DESTROYED', `recording ${recordingId} is past its retention date and its destruction has started; it can no longer be ${verb}`);
    if (row.status === 'destroyed') return new AppError('E_RECORDING_DESTROYED', `recording ${recordingId} has been destroyed`);
    return new AppError('E_CONFLICT', `recording ${recordingId} changed meanwhile; try again`);
  }

  private fromRow(row: Record<string, unknown>): DueRecording {
    const { codec } = this.db;
    const metadata = codec.readJson<Record<string, unknown> | null>(row.metadata) ?? {};
    return {
      id: row.id as string,
      source: row.source as string,
      status: row.status as RecordingStatus,
      category: row.category as string,
      retainUntil: codec.readTime(row.retain_until)!,
      storageKey: (row.storage_key as string | null) ?? null,
      sha256: (row.sha256 as string | null) ?? null,
      plaintextSize: codec.readNumber(row.plaintext_size),
      ingestedAt: codec.readTime(row.ingested_at)!,
      rule: typeof metadata.retentionRule === 'string' ? metadata.retentionRule : null,
    };
  }
}
