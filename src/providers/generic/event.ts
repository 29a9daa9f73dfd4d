import { z } from 'zod';
import { AppError } from '../../errors';
import { refuseNulCharacters } from '../webhook-support';
import type { CallMetadata } from '../../ingest/call-metadata';

/**
 * The generic event of SPEC 2, validated strictly: an unknown field is refused rather than
 * ignored, so that a typo ("categroy") fails loudly at the PBX instead of silently choosing a
 * retention period. Missing optional values may be absent or null.
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const optionalText = (max: number) => z.string().trim().max(max).nullish();
const time = z.iso.datetime({ offset: true }).nullish();

export const genericEventSchema = z
  .object({
    eventId: text(255),
    callId: optionalText(255),
    recordingId: text(255),
    direction: z.enum(['inbound', 'outbound', 'internal']).nullish(),
    from: optionalText(64),
    to: optionalText(64),
    extension: optionalText(32),
    line: optionalText(64),
    team: optionalText(128),
    staff: z.array(text(128)).max(50).nullish(),
    parties: z
      .array(z.object({ name: text(200), role: optionalText(32) }).strict())
      .max(20)
      .nullish(),
    startedAt: time,
    endedAt: time,
    durationSec: z.number().min(0).max(7 * 86400).nullish(),
    consent: z.enum(['recorded', 'declined']).nullish(),
    category: optionalText(32),
    recordingUrl: z.url({ protocol: /^https?$/ }).max(2048).nullish(),
  })
  .strict();

export type GenericEvent = z.infer<typeof genericEventSchema>;

/** Parses raw JSON text into a validated event; every problem is named in the error. */
export function parseGenericEvent(raw: string): GenericEvent {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new AppError('E_BAD_REQUEST', 'the body is not valid JSON');
  }
  return validateGenericEvent(json);
}

export function validateGenericEvent(json: unknown): GenericEvent {
  refuseNulCharacters(json);
  const result = genericEventSchema.safeParse(json);
  if (!result.success) throw new AppError('E_VALIDATION', describeIssues(result.error), { details: { fields: fieldsOf(result.error) } });
  const event = result.data;
  if (event.startedAt && event.endedAt && Date.parse(event.endedAt) < Date.parse(event.startedAt)) {
    throw new AppError('E_VALIDATION', 'endedAt: must not be before startedAt');
  }
  return event;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : '(body)';
      if (issue.code === 'unrecognized_keys') return `${where}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

function fieldsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => (issue.code === 'unrecognized_keys' ? issue.keys.join(',') : issue.path.join('.')));
}

export function genericEventToMetadata(event: GenericEvent, source = 'generic'): CallMetadata {
  return {
    source,
    sourceRecordingId: event.recordingId,
    sourceEventId: event.eventId,
    callId: event.callId ?? null,
    direction: event.direction ?? null,
    from: event.from ?? null,
    to: event.to ?? null,
    extension: event.extension ?? null,
    line: event.line ?? null,
    team: event.team ?? null,
    staff: event.staff ?? [],
    parties: (event.parties ?? []).map((party) => ({ name: party.name, role: party.role ?? null })),
    startedAt: event.startedAt ? new Date(event.startedAt) : null,
    endedAt: event.endedAt ? new Date(event.endedAt) : null,
    durationSec: event.durationSec === null || event.durationSec === undefined ? null : Math.round(event.durationSec),
    consent: event.consent ?? 'recorded',
    category: event.category ?? null,
    extra: {},
  };
}
