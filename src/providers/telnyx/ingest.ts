import { json } from 'node:stream/consumers';
import type { Config } from '../../../config';
import { AppError, isAppError } from '../../errors';
import { secondsBetween, type CallMetadata } from '../../ingest/call-metadata';
import type { ProviderIngest, Resolution, ResolveContext } from '../types';
import type { CallbackQuery } from '../webhook-support';
import { telnyxSourceRecordingId, type TelnyxEvent } from './event';

/**
 * Worker side of Telnyx: download the WAV (or MP3) link of call.recording.saved. Those links are
 * presigned and expire after 10 minutes; an expired link is not retried for hours: with an API
 * key, a fresh link is asked for once (GET /v2/recordings/{id}); without one, the job fails with
 * E_FETCH_LINK_EXPIRED saying so.
 */

interface TelnyxPayload {
  event: TelnyxEvent;
  query: CallbackQuery;
}

export function telnyxIngest(config: Config): ProviderIngest {
  const apiBase = config.providers.telnyx.apiBase.replace(/\/+$/, '');
  const apiHost = new URL(apiBase).hostname.toLowerCase();
  const apiKey = config.providers.telnyx.apiKey;
  return {
    source: 'telnyx',
    // Recording links point at Telnyx's S3 buckets.
    defaultHosts: [...new Set(['api.telnyx.com', 's3.amazonaws.com', '*.amazonaws.com', apiHost])],

    async resolve(rawPayload: Record<string, unknown>, context: ResolveContext): Promise<Resolution> {
      const { event, query } = rawPayload as unknown as TelnyxPayload;
      const payload = event.data.payload;
      const started = payload.recording_started_at ? new Date(payload.recording_started_at) : null;
      const ended = payload.recording_ended_at ? new Date(payload.recording_ended_at) : null;
      const metadata: CallMetadata = {
        source: 'telnyx',
        sourceRecordingId: telnyxSourceRecordingId(event),
        sourceEventId: event.data.id,
        callId: payload.call_session_id ?? null,
        from: payload.from ?? null,
        to: payload.to ?? null,
        line: query.line,
        team: query.team,
        category: query.category,
        startedAt: started,
        endedAt: ended,
        durationSec: secondsBetween(started, ended),
        consent: 'recorded',
        extra: {
          recordingId: payload.recording_id ?? null,
          callLegId: payload.call_leg_id ?? null,
          connectionId: payload.connection_id ?? null,
          channels: payload.channels ?? null,
        },
      };
      if (event.data.event_type === 'call.recording.error') {
        return { kind: 'no-audio', metadata, status: 'unavailable', reason: `Telnyx reported a recording error${payload.reason ? `: ${payload.reason.slice(0, 120)}` : ''}; no audio exists` };
      }
      const url = payload.recording_urls?.wav ?? payload.recording_urls?.mp3!;
      const response = await fetchRecording(url, payload.recording_id ?? null, context);
      return {
        kind: 'audio',
        metadata,
        audio: { stream: response.body, contentType: response.contentType },
        sourceDeletion: config.providers.telnyx.deleteAtSource && payload.recording_id ? { recordingId: payload.recording_id } : null,
      };
    },

    async deleteAtSource(deletion: Record<string, unknown>, context: ResolveContext): Promise<void> {
      const recordingId = String(deletion.recordingId ?? '');
      if (!apiKey) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'CALLVAULT_TELNYX_API_KEY is not set', { retryable: false });
      try {
        const response = await context.fetch(`${apiBase}/v2/recordings/${encodeURIComponent(recordingId)}`, { method: 'DELETE', expect: 'any', headers: { authorization: `Bearer ${apiKey}` } });
        response.body.resume();
      } catch (error) {
        // Already gone at Telnyx: the deletion's goal is met.
        if (!isAppError(error, 'E_FETCH_NOT_FOUND')) throw error;
      }
    },
  };

  async function fetchRecording(url: string, recordingId: string | null, context: ResolveContext) {
    try {
      return await context.fetch(url, { expect: 'audio' });
    } catch (error) {
      const expired = isAppError(error, 'E_FETCH_NOT_FOUND') || (isAppError(error, 'E_FETCH_HTTP_STATUS') && (error.details?.status === 403 || error.details?.status === 400));
      if (!expired) throw error;
      if (!apiKey || !recordingId) {
        throw new AppError('E_FETCH_LINK_EXPIRED', 'the Telnyx recording link has expired (links last 10 minutes); set CALLVAULT_TELNYX_API_KEY so a fresh link can be asked for', { cause: error });
      }
      context.logger.info('Telnyx link expired; asking the API for a fresh one', { event: 'telnyx.link_refresh' });
      const fresh = await context.fetch(`${apiBase}/v2/recordings/${encodeURIComponent(recordingId)}`, { expect: 'json', headers: { authorization: `Bearer ${apiKey}` } });
      const body = (await json(fresh.body)) as { data?: { download_urls?: { wav?: string; mp3?: string } } };
      const freshUrl = body.data?.download_urls?.wav ?? body.data?.download_urls?.mp3;
      if (!freshUrl) throw new AppError('E_FETCH_LINK_EXPIRED', 'the Telnyx recording link expired and the API gave no new one', { cause: error });
      return context.fetch(freshUrl, { expect: 'audio' });
    }
  }
}
