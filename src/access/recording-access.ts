import type { Config } from '../../config';
import type { Recording, RecordingsRepository, SearchFilters } from '../db/recordings';
import { AppError } from '../errors';
import { foldName, normaliseNumber } from '../ingest/call-metadata';
import type { AuditTrail } from './audit-trail';
import { maskName, maskNumber } from './masking';
import type { Principal } from './principal';
import { requireViewer, requireVisible } from './recording-policy';
import { may } from './roles';

/**
 * Searching and looking at call details, each with its stated reason written to the audit trail
 * before anything is answered (if the entry cannot be written, nothing is shown). Staff see only
 * calls they took part in. Recordings being destroyed or destroyed are never listed: their audio
 * is gone or going, and their details are erased.
 */

export interface RecordingView {
  readonly id: string;
  readonly callTime: string;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly durationSec: number | null;
  readonly direction: string | null;
  readonly from: string | null;
  readonly to: string | null;
  readonly extension: string | null;
  readonly line: string | null;
  readonly team: string | null;
  readonly staff: readonly string[];
  readonly parties: ReadonlyArray<{ readonly name: string; readonly role: string | null }>;
  readonly category: string;
  readonly retainUntil: string;
  readonly underLegalHold: boolean;
  readonly status: string;
  readonly hasAudio: boolean;
  readonly format: string | null;
  readonly sha256: string | null;
}

export interface SearchQuery {
  readonly number?: string;
  readonly extension?: string;
  readonly line?: string;
  readonly team?: string;
  readonly staff?: string;
  readonly party?: string;
  readonly from?: string;
  readonly to?: string;
  readonly category?: string;
  readonly limit?: string;
  readonly cursor?: string;
}

const LISTED_STATUSES = ['stored', 'not_retained', 'unavailable'] as const;
const MAX_LIMIT = 100;
const DEFAULT_LIMIT = 25;

export class RecordingAccess {
  constructor(private readonly deps: { recordings: RecordingsRepository; audit: AuditTrail; config: Config }) {}

  async search(principal: Principal, query: SearchQuery, reason: string): Promise<{ items: RecordingView[]; nextCursor: string | null }> {
    if (!may(principal.role, 'recordings.search')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not search recordings`);
    const filters = this.filtersOf(query, principal);
    const page = await this.deps.recordings.search(filters);
    await this.deps.audit.append({
      actor: principal.username,
      actorRole: principal.role,
      action: 'recording.search',
      details: {
        reason,
        // Masked: the trail says what kind of search it was, not whose number or name.
        filters: {
          number: maskNumber(filters.number),
          party: maskName(query.party),
          extension: filters.extension,
          line: filters.line,
          team: filters.team,
          staff: filters.staff,
          category: filters.category,
          from: filters.from,
          to: filters.to,
          cursor: filters.cursor ? true : undefined,
        },
        results: page.items.length,
        recordingIds: page.items.map((item) => item.id),
      },
    });
    return { items: page.items.map(toView), nextCursor: page.nextCursor };
  }

  async view(principal: Principal, id: string, reason: string): Promise<RecordingView> {
    requireViewer(principal);
    const recording = requireVisible(principal, await this.deps.recordings.get(id), id);
    if (recording.status === 'destroyed') throw new AppError('E_RECORDING_DESTROYED', `recording ${id} was destroyed under its retention rule`);
    await this.deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'recording.view', recordingId: id, details: { reason } });
    return toView(recording);
  }

  private filtersOf(query: SearchQuery, principal: Principal): SearchFilters {
    const text = (value: string | undefined, name: string, max = 128): string | undefined => {
      if (value === undefined || value === '') return undefined;
      if (typeof value !== 'string' || value.length > max) throw new AppError('E_VALIDATION', `${name}: at most ${max} characters`);
      return value.trim() || undefined;
    };
    const time = (value: string | undefined, name: string): Date | undefined => {
      if (value === undefined || value === '') return undefined;
      const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
      if (Number.isNaN(date.getTime())) throw new AppError('E_VALIDATION', `${name}: an ISO 8601 date or time, such as 2026-11-20 or 2026-11-20T09:00:00Z`);
      return date;
    };
    const numberText = text(query.number, 'number', 64);
    const number = numberText ? normaliseNumber(numberText, this.deps.config.defaultCountry).e164 : undefined;
    if (numberText && !number) throw new AppError('E_VALIDATION', 'number: not a phone number (any format: 07700 900123, +44 7700 900123, 447700900123)');
    const party = text(query.party, 'party');
    const limitText = query.limit ?? String(DEFAULT_LIMIT);
    const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) throw new AppError('E_VALIDATION', `limit: 1 to ${MAX_LIMIT}`);
    const from = time(query.from, 'from');
    const to = time(query.to, 'to');
    if (from && to && from >= to) throw new AppError('E_VALIDATION', 'from: must be before to');
    return {
      number: number ?? undefined,
      extension: text(query.extension, 'extension', 32),
      line: text(query.line, 'line', 64),
      team: text(query.team, 'team'),
      staff: text(query.staff, 'staff', 64)?.toLowerCase(),
      party: party ? foldName(party) : undefined,
      from,
      to,
      category: text(query.category, 'category', 32)?.toLowerCase(),
      statuses: LISTED_STATUSES,
      participant: principal.role === 'staff' ? { username: principal.username, extension: principal.extension } : undefined,
      limit,
      cursor: text(query.cursor, 'cursor', 512),
    };
  }
}

export function toView(recording: Recording): RecordingView {
  return {
    id: recording.id,
    callTime: recording.callTime.toISOString(),
    startedAt: recording.startedAt?.toISOString() ?? null,
    endedAt: recording.endedAt?.toISOString() ?? null,
    durationSec: recording.durationSec,
    direction: recording.direction,
    from: recording.fromNumber ?? recording.fromDisplay,
    to: recording.toNumber ?? recording.toDisplay,
    extension: recording.extension,
    line: recording.line,
    team: recording.team,
    staff: recording.staff,
    parties: recording.parties,
    category: recording.category,
    retainUntil: recording.retainUntil.toISOString(),
    underLegalHold: recording.holdCount > 0,
    status: recording.status,
    hasAudio: recording.status === 'stored',
    format: recording.status === 'stored' ? recording.format : null,
    sha256: recording.status === 'stored' ? recording.sha256 : null,
  };
}
