import { AppError } from '../../errors';
import { NOT_RETAINED_REASON } from '../../ingest/call-metadata';
import type { ProviderIngest, Resolution, ResolveContext } from '../types';
import { genericEventToMetadata, validateGenericEvent } from './event';

/** Worker side of the generic source: the audio is at the event's recordingUrl. */
export const genericIngest: ProviderIngest = {
  source: 'generic',
  // A PBX is the practice's own machine: its host must be listed in CALLVAULT_FETCH_ALLOW_HOSTS.
  defaultHosts: [],
  async resolve(payload: Record<string, unknown>, context: ResolveContext): Promise<Resolution> {
    const event = validateGenericEvent(payload.event);
    const metadata = genericEventToMetadata(event);
    if (metadata.consent === 'declined') return { kind: 'no-audio', metadata, status: 'not_retained', reason: NOT_RETAINED_REASON };
    if (!event.recordingUrl) throw new AppError('E_AUDIO_MISSING', 'the event has no recordingUrl');
    const response = await context.fetch(event.recordingUrl, { expect: 'audio' });
    return { kind: 'audio', metadata, audio: { stream: response.body, contentType: response.contentType } };
  },
};
