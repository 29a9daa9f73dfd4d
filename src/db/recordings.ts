import type { Knex } from 'knex';
import { AppError } from '../errors';
import { foldName } from '../ingest/call-metadata';
import type { Database } from './database';

/** A row of the index as the rest of the code sees it (camelCase, real Dates and numbers). */
export interface Recording {
  readonly id: string;
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly sourceEventId: string | null;
  readonly callId: string | null;
  readonly direction: string | null;
  readonly fromNumber: string | null;
  readonly toNumber: string | null;
  readonly fromDisplay: string | null;
  readonly toDisplay: string | null;
  readonly extension: string | null;
  readonly line: string | null;
  readonly team: string | null;
  readonly startedAt: Date | null;
  readonly endedAt: Date | null;
  /** startedAt, or the time of ingest when the source gave none: the sort key and retention start. */
  readonly callTime: Date;
  readonly durationSec: number | null;
  readonly consent: string;
  readonly category: string;
  readonly retainUntil: Date;
  readonly status: RecordingStatus;
  readonly statusReason: string | null;
  readonly storageKey: string | null;
  readonly keyId: string | null;
  readonly wrappedKey: Buffer | null;
  readonly format: string | null;
  readonly contentType: string | null;
  readonly plaintextSize: number | null;
  readonly ciphertextSize: number | null;
  readonly chunkSize: number | null;
  readonly sha256: string | null;
  readonly metadata: Record<string, unknown>;
  readonly ingestedAt: Date;
  readonly verifiedAt: Date | null;
  readonly destroyedAt: Date | null;
  readonly updatedAt: Date;
  /** Active legal holds; a held recording is never destroyed. */
  readonly holdCount: number;
  readonly staff: readonly string[];
  readonly parties: ReadonlyArray<{ readonly name: string; readonly role: string | null }>;
}

/**
 * stored: audio encrypted and verified; not_retained: consent declined; unavailable: the provider
 * had no audio; destroying: a sweep has started to destroy it (past retention); destroyed: gone,
 * only the fact of its destruction remains.
 */
export type RecordingStatus = 'stored' | 'not_retained' | 'unavailable' | 'destroying' | 'destroyed';

/** Statuses whose rows still hold a call's details, and so are subject to retention. */
export const RETAINED_STATUSES: readonly RecordingStatus[] = ['stored', 'not_retained', 'unavailable'];

export type NewRecording = Omit<Recording, 'destroyedAt' | 'updatedAt' | 'holdCount'>;

export interface SearchFilters {
  /** E.164; matches either end of the call. */
  readonly number?: string;
  readonly extension?: string;
  readonly line?: string;
  readonly team?: string;
  readonly staff?: string;
  /** Folded party name (see foldName); matches a party whose name contains it. */
  readonly party?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly category?: string;
  readonly statuses?: readonly RecordingStatus[];
  /** Only calls this person took part in: named among the staff, or on their extension (staff see no others). */
  readonly participant?: { readonly username: string; readonly extension: string | null };
  readonly limit: number;
  /** Opaque cursor from a previous page. */
  readonly cursor?: string;
}

export interface SearchPage {
  readonly items: Recording[];
  readonly nextCursor: string | null;
}

export class RecordingsRepository {
  constructor(private readonly db: Database) {}

  async insert(trx: Knex.Transaction, recording: NewRecording, updatedAt: Date): Promise<void> {
    const { codec } = this.db;
    await trx('recordings').insert({
      id: recording.id,
      source: recording.source,
      source_recording_id: recording.sourceRecordingId,
      source_event_id: recording.sourceEventId,
      call_id: recording.callId,
      direction: recording.direction,
      from_number: recording.fromNumber,
      to_number: recording.toNumber,
      from_display: recording.fromDisplay,
      to_display: recording.toDisplay,
      extension: recording.extension,
      line: recording.line,
      team: recording.team,
      started_at: codec.time(recording.startedAt),
      ended_at: codec.time(recording.endedAt),
      call_time: codec.time(recording.callTime),
      duration_sec: recording.durationSec,
      consent: recording.consent,
      category: recording.category,
      retain_until: codec.time(recording.retainUntil),
      status: recording.status,
      status_reason: recording.statusReason,
      storage_key: recording.storageKey,
      key_id: recording.keyId,
      wrapped_key: recording.wrappedKey,
      format: recording.format,
      content_type: recording.contentType,
      plaintext_size: recording.plaintextSize,
      ciphertext_size: recording.ciphertextSize,
      chunk_size: recording.chunkSize,
      sha256: recording.sha256,
      metadata: codec.json(recording.metadata),
      ingested_at: codec.time(recording.ingestedAt),
      verified_at: codec.time(recording.verifiedAt),
      destroyed_at: null,
      updated_at: codec.time(updatedAt),
    });
    const staff = [...new Set(recording.staff)];
    if (staff.length > 0) {
      await trx('recording_staff').insert(staff.map((username) => ({ recording_id: recording.id, username })));
    }
    if (recording.parties.length > 0) {
      await trx('recording_parties').insert(
        recording.parties.map((party) => ({ recording_id: recording.id, name: party.name, name_folded: foldName(party.name), role: party.role })),
      );
    }
  }

  async get(id: string, trx?: Knex.Transaction): Promise<Recording | null> {
    const row = await (trx ?? this.db.knex)('recordings').where({ id }).first();
    if (!row) return null;
    const [withPeople] = await this.attachPeople([row], trx);
    return withPeople ?? null;
  }

  async findBySource(source: string, sourceRecordingId: string): Promise<Recording | null> {
    const row = await this.db.knex('recordings').where({ source, source_recording_id: sourceRecordingId }).first();
    if (!row) return null;
    const [withPeople] = await this.attachPeople([row]);
    return withPeople ?? null;
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = (await this.db.knex('recordings').select('status').count({ n: '*' }).groupBy('status')) as Array<{ status: string; n: number | string }>;
    return Object.fromEntries(rows.map((row) => [row.status as string, Number(row.n)]));
  }

  /** How many recordings each master key still protects (rows that hold a wrapped data key). */
  async countByKeyId(): Promise<Map<string, number>> {
    const rows = (await this.db.knex('recordings').whereNotNull('wrapped_key').select('key_id').count({ n: '*' }).groupBy('key_id')) as Array<{ key_id: string; n: number | string }>;
    return new Map(rows.map((row) => [row.key_id, Number(row.n)]));
  }

  /** Storage keys that the index knows, for orphan checks (stored rows only). */
  async hasStorageKey(storageKey: string): Promise<boolean> {
    const row = await this.db.knex('recordings').where({ storage_key: storageKey }).first('id');
    return row !== undefined;
  }

  /** Newest calls first; keyset-paged on (call_time, id) so deep pages cost the same as the first. */
  async search(filters: SearchFilters): Promise<SearchPage> {
    const { codec, knex } = this.db;
    const cursor = decodeCursor(filters.cursor);
    const page = (narrow: (query: Knex.QueryBuilder) => void): Knex.QueryBuilder => {
      const query = knex('recordings as r').select('r.*');
      narrow(query);
      if (filters.statuses?.length) query.whereIn('r.status', filters.statuses as string[]);
      if (filters.extension) query.where('r.extension', filters.extension);
      if (filters.line) query.where('r.line', filters.line);
      if (filters.team) query.where('r.team', filters.team);
      if (filters.category) query.where('r.category', filters.category);
      if (filters.from) query.where('r.call_time', '>=', codec.time(filters.from));
      if (filters.to) query.where('r.call_time', '<', codec.time(filters.to));
      const staffOn = (username: string) => knex('recording_staff as s').select(knex.raw('1')).whereRaw('s.recording_id = r.id').where('s.username', username);
      if (filters.staff) query.whereExists(staffOn(filters.staff));
      if (filters.participant) {
        const { username, extension } = filters.participant;
        query.where((q) => {
          q.whereExists(staffOn(username));
          if (extension) q.orWhere('r.extension', extension);
        });
      }
      if (filters.party) {
        query.whereExists(
          knex('recording_parties as p').select(knex.raw('1')).whereRaw('p.recording_id = r.id').whereRaw("p.name_folded like ? escape '\\'", [`%${escapeLike(filters.party)}%`]),
        );
      }
      if (cursor) {
        const time = codec.time(cursor.time);
        query.where((q) => q.where('r.call_time', '<', time).orWhere((inner) => inner.where('r.call_time', time).andWhere('r.id', '<', cursor.id)));
      }
      return query.orderBy([{ column: 'r.call_time', order: 'desc' }, { column: 'r.id', order: 'desc' }]).limit(filters.limit + 1);
    };
    let rows: Array<Record<string, unknown>>;
    if (filters.number) {
      // Either end of the call, as two walks down (number, call_time, id) indexes merged here:
      // one "a = ? or b = ?" query lets the planner walk the whole call_time index instead when
      // one side is common (the practice's own number is on half the calls).
      const both = (await knex
        .select('*')
        .from(page((q) => q.where('r.from_number', filters.number!)).as('f'))
        .unionAll(knex.select('*').from(page((q) => q.where('r.to_number', filters.number!)).as('t')))) as Array<Record<string, unknown>>;
      const byId = new Map(both.map((row) => [row.id as string, row]));
      const time = (row: Record<string, unknown>): number => codec.readTime(row.call_time)!.getTime();
      const id = (row: Record<string, unknown>): string => row.id as string;
      rows = [...byId.values()].sort((a, b) => time(b) - time(a) || (id(a) < id(b) ? 1 : id(a) > id(b) ? -1 : 0)).slice(0, filters.limit + 1);
    } else {
      rows = (await page(() => undefined)) as Array<Record<string, unknown>>;
    }
    const more = rows.length > filters.limit;
    const items = await this.attachPeople(rows.slice(0, filters.limit));
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeCursor(last.callTime, last.id) : null };
  }

  private async attachPeople(rows: Array<Record<string, unknown>>, trx?: Knex.Transaction): Promise<Recording[]> {
    if (rows.length === 0) return [];
    const knex = trx ?? this.db.knex;
    const ids = rows.map((row) => row.id as string);
    // One round trip for both tables (a search is latency-bound by its round trips).
    const people = (await knex('recording_staff')
      .select('recording_id', knex.raw("'staff' as kind"), 'username as name', knex.raw('null as role'), knex.raw('0 as position'))
      .whereIn('recording_id', ids)
      .unionAll(knex('recording_parties').select('recording_id', knex.raw("'party' as kind"), 'name', 'role', 'id as position').whereIn('recording_id', ids))) as Array<{ recording_id: string; kind: string; name: string; role: string | null; position: number | string }>;
    const staffRows = people.filter((row) => row.kind === 'staff').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const partyRows = people.filter((row) => row.kind === 'party').sort((a, b) => Number(a.position) - Number(b.position));
    const staffBy = groupBy(staffRows.map((row) => ({ recording_id: row.recording_id, username: row.name })), (row) => row.recording_id);
    const partiesBy = groupBy(partyRows, (row) => row.recording_id);
    return rows.map((row) =>
      this.fromRow(
        row,
        (staffBy.get(row.id as string) ?? []).map((s) => s.username),
        (partiesBy.get(row.id as string) ?? []).map((p) => ({ name: p.name, role: p.role })),
      ),
    );
  }

  private fromRow(row: Record<string, unknown>, staff: string[], parties: Array<{ name: string; role: string | null }>): Recording {
    const { codec } = this.db;
    return {
      id: row.id as string,
      source: row.source as string,
      sourceRecordingId: row.source_recording_id as string,
      sourceEventId: (row.source_event_id as string | null) ?? null,
      callId: (row.call_id as string | null) ?? null,
      direction: (row.direction as string | null) ?? null,
      fromNumber: (row.from_number as string | null) ?? null,
      toNumber: (row.to_number as string | null) ?? null,
      fromDisplay: (row.from_display as string | null) ?? null,
      toDisplay: (row.to_display as string | null) ?? null,
      extension: (row.extension as string | null) ?? null,
      line: (row.line as string | null) ?? null,
      team: (row.team as string | null) ?? null,
      startedAt: codec.readTime(row.started_at),
      endedAt: codec.readTime(row.ended_at),
      callTime: codec.readTime(row.call_time)!,
      durationSec: codec.readNumber(row.duration_sec),
      consent: row.consent as string,
      category: row.category as string,
      retainUntil: codec.readTime(row.retain_until)!,
      status: row.status as RecordingStatus,
      statusReason: (row.status_reason as string | null) ?? null,
      storageKey: (row.storage_key as string | null) ?? null,
      keyId: (row.key_id as string | null) ?? null,
      wrappedKey: codec.readBuffer(row.wrapped_key),
      format: (row.format as string | null) ?? null,
      contentType: (row.content_type as string | null) ?? null,
      plaintextSize: codec.readNumber(row.plaintext_size),
      ciphertextSize: codec.readNumber(row.ciphertext_size),
      chunkSize: codec.readNumber(row.chunk_size),
      sha256: (row.sha256 as string | null) ?? null,
      metadata: codec.readJson<Record<string, unknown>>(row.metadata) ?? {},
      ingestedAt: codec.readTime(row.ingested_at)!,
      verifiedAt: codec.readTime(row.verified_at),
      destroyedAt: codec.readTime(row.destroyed_at),
      updatedAt: codec.readTime(row.updated_at)!,
      holdCount: codec.readNumber(row.hold_count) ?? 0,
      staff,
      parties,
    };
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = map.get(key);
    if (list) list.push(item);
    else map.set(key, [item]);
  }
  return map;
}

function encodeCursor(time: Date, id: string): string {
  return Buffer.from(JSON.stringify([time.toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { time: Date; id: string } | null {
  if (!cursor) return null;
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(time);
    if (typeof id === 'string' && !Number.isNaN(date.getTime())) return { time: date, id };
  } catch {
    // fall through to the error below
  }
  throw new AppError('E_VALIDATION', 'cursor is not one this server returned');
}
