import type { Config } from '../../../config';
import { AppError } from '../../errors';
import { secondsBetween, type CallMetadata } from '../../ingest/call-metadata';
import type { ProviderIngest, Resolution, ResolveContext } from '../types';
import type { CallbackQuery } from '../webhook-support';
import { vonageApiToken } from './jwt';
import type { VonageRecordEvent } from './webhook';

/** Worker side of Vonage: the recording at recording_url, fetched with an RS256 application JWT. */

interface VonagePayload {
  event: VonageRecordEvent;
  query: CallbackQuery;
}

export function vonageIngest(config: Config): ProviderIngest {
  return {
    source: 'vonage',
    defaultHosts: ['api.nexmo.com', '*.nexmo.com', '*.vonage.com'],
    async resolve(rawPayload: Record<string, unknown>, context: ResolveContext): Promise<Resolution> {
      const { event, query } = rawPayload as unknown as VonagePayload;
      const { applicationId, privateKey } = config.providers.vonage;
      if (!applicationId || !privateKey) {
        throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'CALLVAULT_VONAGE_APPLICATION_ID and CALLVAULT_VONAGE_PRIVATE_KEY are needed to fetch Vonage recordings', { retryable: false });
      }
      const started = event.start_time ? new Date(event.start_time) : null;
      const ended = event.end_time ? new Date(event.end_time) : null;
      const metadata: CallMetadata = {
        source: 'vonage',
        sourceRecordingId: event.recording_uuid,
        sourceEventId: event.recording_uuid,
        callId: event.conversation_uuid ?? null,
        line: query.line,
        team: query.team,
        category: query.category,
        startedAt: started,
        endedAt: ended,
        durationSec: secondsBetween(started, ended),
        consent: 'recorded',
        extra: { conversationUuid: event.conversation_uuid ?? null, announcedSize: event.size ?? null },
      };
      const token = await vonageApiToken(applicationId, privateKey, context.clock.now());
      const response = await context.fetch(event.recording_url, { expect: 'audio', headers: { authorization: `Bearer ${token}` } });
      return { kind: 'audio', metadata, audio: { stream: response.body, contentType: response.contentType } };
    },
  };
}
