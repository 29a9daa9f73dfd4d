import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { Config } from '../../config';
import { AppError } from '../errors';
import { addPeriod, formatPeriod, periodOf } from '../retention/period';

/**
 * What every source tells us about a call, once its own wire format is parsed: the generic
 * event's fields (SPEC 2). Providers fill what they know; the rest stays null.
 */
export interface CallMetadata {
  readonly source: string;
  readonly sourceRecordingId: string;
  readonly sourceEventId?: string | null;
  readonly callId?: string | null;
  readonly direction?: 'inbound' | 'outbound' | 'internal' | null;
  readonly from?: string | null;
  readonly to?: string | null;
  readonly extension?: string | null;
  readonly line?: string | null;
  readonly team?: string | null;
  readonly staff?: readonly string[];
  readonly parties?: ReadonlyArray<{ readonly name: string; readonly role?: string | null }>;
  readonly startedAt?: Date | null;
  readonly endedAt?: Date | null;
  readonly durationSec?: number | null;
  readonly consent?: 'recorded' | 'declined';
  readonly category?: string | null;
  /** Source-specific details that are not personal data (account id, channels, provider status). */
  readonly extra?: Record<string, unknown>;
}

export const NOT_RETAINED_REASON = 'consent declined: the call was not recorded and no audio was kept';

/** Whole seconds from start to end, when a provider gives both (never negative). */
export function secondsBetween(started: Date | null, ended: Date | null): number | null {
  return started && ended ? Math.max(0, Math.round((ended.getTime() - started.getTime()) / 1000)) : null;
}

export interface NormalisedNumber {
  /** E.164 when the text is a possible phone number, otherwise null. */
  readonly e164: string | null;
  /** As the source sent it, trimmed (withheld callers, internal extensions). */
  readonly display: string | null;
}

export function normaliseNumber(raw: string | null | undefined, defaultCountry: string): NormalisedNumber {
  const display = raw?.trim() ? raw.trim().slice(0, 64) : null;
  if (!display) return { e164: null, display: null };
  const parsed = parsePhoneNumberFromString(display, defaultCountry as CountryCode);
  return { e164: parsed?.isPossible() ? parsed.number : null, display };
}

/** Case-, accent- and space-insensitive form of a name, identical in SQLite and PostgreSQL. */
export function foldName(name: string): string {
  return name.normalize('NFKD').replace(/\p{Diacritic}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

export interface RetentionDecision {
  readonly category: string;
  /** When the category was mapped from an unconfigured one, the name the source sent. */
  readonly requestedCategory: string | null;
  readonly retainUntil: Date;
  readonly rule: string;
  /** When the retention period runs from: the call's start, or the ingest time when the start is unknown or implausible. */
  readonly retentionFrom: Date;
  /** Why the source's start time was not used ('future' or 'before-2000'), or null when it was (or there was none). */
  readonly callTimeAdjusted: 'future' | 'before-2000' | null;
}

/** A clock may be a little ahead of ours; a call starting later than this after its ingest is a wrong clock. */
const FUTURE_TOLERANCE_MS = 24 * 3600 * 1000;
/** Earlier than this, the start time is a clock that was never set (1970, 1900), not a call. */
const EARLIEST_PLAUSIBLE_CALL = Date.UTC(2000, 0, 1);

/**
 * The start the retention period runs from. A misconfigured phone system's clock must not
 * shorten retention (a 1970 date would be destroyed at the next sweep) or stretch it (a 2099
 * date would be kept for decades), so such a start is replaced by the ingest time, and flagged.
 */
function retentionStart(startedAt: Date | null | undefined, ingestedAt: Date): { from: Date; adjusted: RetentionDecision['callTimeAdjusted'] } {
  if (!startedAt) return { from: ingestedAt, adjusted: null };
  if (startedAt.getTime() > ingestedAt.getTime() + FUTURE_TOLERANCE_MS) return { from: ingestedAt, adjusted: 'future' };
  if (startedAt.getTime() < EARLIEST_PLAUSIBLE_CALL) return { from: ingestedAt, adjusted: 'before-2000' };
  return { from: startedAt, adjusted: null };
}

/**
 * The retention category and destruction date of a call. A call without a category gets the
 * default; an unknown category is refused (E_UNKNOWN_CATEGORY), unless the operator configured
 * a category to map unknown ones to: refusing keeps a typo from silently choosing a period.
 */
export function decideRetention(
  requested: string | null | undefined,
  startedAt: Date | null | undefined,
  ingestedAt: Date,
  retention: Config['retention'],
): RetentionDecision {
  const wanted = requested?.trim().toLowerCase() || retention.defaultCategory;
  let category = wanted;
  let requestedCategory: string | null = null;
  if (!periodOf(retention.periods, wanted)) {
    if (!retention.unknownCategory) {
      throw new AppError('E_UNKNOWN_CATEGORY', `category "${wanted.slice(0, 40)}" is not configured; configured: ${Object.keys(retention.periods).join(', ')}`);
    }
    category = retention.unknownCategory;
    requestedCategory = wanted.slice(0, 32);
  }
  const period = periodOf(retention.periods, category)!;
  const { from, adjusted } = retentionStart(startedAt, ingestedAt);
  return { category, requestedCategory, retainUntil: addPeriod(from, period), rule: `${category}=${formatPeriod(period)}`, retentionFrom: from, callTimeAdjusted: adjusted };
}
