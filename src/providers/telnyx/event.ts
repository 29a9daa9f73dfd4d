import { z } from 'zod';

/** The Telnyx Call Control event as the webhook accepts it, and what identifies its recording: shared by the webhook and the worker. */

const optional = z.string().trim().max(512).nullish();
/** Ids are kept in the index's 255-character columns. */
const optionalId = z.string().trim().max(255).nullish();

export const telnyxEventSchema = z.object({
  data: z.object({
    id: z.string().trim().min(1).max(128),
    event_type: z.string().trim().min(1).max(64),
    occurred_at: optional,
    payload: z
      .object({
        recording_id: optionalId,
        call_session_id: optionalId,
        call_leg_id: optional,
        call_control_id: optional,
        connection_id: optional,
        recording_started_at: z.iso.datetime({ offset: true }).nullish(),
        recording_ended_at: z.iso.datetime({ offset: true }).nullish(),
        channels: optional,
        from: optional,
        to: optional,
        reason: optional,
        recording_urls: z.object({ wav: z.url({ protocol: /^https?$/ }).nullish(), mp3: z.url({ protocol: /^https?$/ }).nullish() }).partial().nullish(),
      })
      .loose(),
  }),
});

export type TelnyxEvent = z.infer<typeof telnyxEventSchema>;

/**
 * What makes a Telnyx delivery a duplicate: the recording id (Telnyx retries deliver the same
 * event), or the event id when there is none. An error event is kept apart ("error-..."), so
 * that a recording Telnyx reports saved after reporting an error is still stored, not taken
 * for a redelivery of the error.
 */
export function telnyxSourceRecordingId(event: TelnyxEvent): string {
  const id = event.data.payload.recording_id ?? event.data.id;
  return event.data.event_type === 'call.recording.error' ? `error-${id}` : id;
}
