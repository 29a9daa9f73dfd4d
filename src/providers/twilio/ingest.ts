import { pipeline } from 'node:stream';
import { json } from 'node:stream/consumers';
import type { Config } from '../../../config';
import { AppError, isAppError } from '../../errors';
import type { CallMetadata } from '../../ingest/call-metadata';
import type { CallbackQuery } from '../webhook-support';
import type { ProviderIngest, Resolution, ResolveContext } from '../types';
import { TwilioDecryptStream, parseEncryptionDetails, unwrapContentKey } from './encryption';

/**
 * Worker side of Twilio: call details (From, To, Direction) from the Calls API, then the
 * recording as WAV (RecordingUrl + ".wav"), both with HTTP basic auth AccountSid:AuthToken.
 */

interface TwilioPayload {
  callback: Record<string, string>;
  query: CallbackQuery;
}

interface TwilioCall {
  from?: string;
  to?: string;
  direction?: string;
  start_time?: string;
}

function mapDirection(direction: string | undefined): CallMetadata['direction'] {
  if (!direction) return null;
  if (direction === 'inbound' || direction === 'trunking-terminating') return 'inbound';
  if (direction.startsWith('outbound') || direction === 'trunking-originating') return 'outbound';
  return null;
}

export function twilioIngest(config: Config): ProviderIngest {
  const apiBase = config.providers.twilio.apiBase.replace(/\/+$/, '');
  const apiHost = new URL(apiBase).hostname.toLowerCase();
  return {
    source: 'twilio',
    defaultHosts: [...new Set(['api.twilio.com', '*.twilio.com', apiHost])],
    async resolve(rawPayload: Record<string, unknown>, context: ResolveContext): Promise<Resolution> {
      const payload = rawPayload as unknown as TwilioPayload;
      const { callback, query } = payload;
      const { authToken } = config.providers.twilio;
      if (!authToken) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'CALLVAULT_TWILIO_AUTH_TOKEN is not set', { retryable: false });
      const accountSid = callback.AccountSid!;
      const auth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
      const call = callback.CallSid ? await fetchCall(context, apiBase, accountSid, callback.CallSid, auth) : null;

      const started = callback.RecordingStartTime ? new Date(callback.RecordingStartTime) : null;
      const duration = callback.RecordingDuration !== undefined && /^\d+$/.test(callback.RecordingDuration) ? Number(callback.RecordingDuration) : null;
      const metadata: CallMetadata & { extra: Record<string, unknown> } = {
        source: 'twilio',
        sourceRecordingId: callback.RecordingSid!,
        sourceEventId: callback.RecordingSid!,
        callId: callback.CallSid ?? null,
        direction: mapDirection(call?.direction),
        from: call?.from ?? null,
        to: call?.to ?? null,
        line: query.line,
        team: query.team,
        category: query.category,
        startedAt: started && !Number.isNaN(started.getTime()) ? started : null,
        endedAt: started && duration !== null && !Number.isNaN(started.getTime()) ? new Date(started.getTime() + duration * 1000) : null,
        durationSec: duration,
        consent: 'recorded',
        extra: {
          accountSid,
          callSid: callback.CallSid ?? null,
          recordingSid: callback.RecordingSid,
          channels: callback.RecordingChannels ? Number(callback.RecordingChannels) : null,
          recordingSource: callback.RecordingSource ?? null,
          providerStatus: callback.RecordingStatus,
          callDetails: call ? 'calls-api' : 'unavailable',
        },
      };

      if (callback.RecordingStatus !== 'completed') {
        const code = callback.ErrorCode ? ` (Twilio error ${callback.ErrorCode.slice(0, 10)})` : '';
        return { kind: 'no-audio', metadata, status: 'unavailable', reason: `Twilio reported the recording ${callback.RecordingStatus}${code}; no audio exists` };
      }
      // Unwrap first: an unknown key fails before anything is downloaded.
      const encryption = callback.EncryptionDetails ? parseEncryptionDetails(callback.EncryptionDetails) : null;
      const contentKey = encryption ? unwrapContentKey(encryption, config.providers.twilio.encryptionKeysDir) : null;
      const response = await context.fetch(`${callback.RecordingUrl}.wav`, { expect: 'audio', headers: { authorization: auth } });
      const stream = contentKey && encryption ? pipeline(response.body, new TwilioDecryptStream(contentKey, Buffer.from(encryption.iv, 'base64')), () => undefined) : response.body;
      if (encryption) metadata.extra!.twilioEncryptionKey = encryption.public_key_sid;
      return {
        kind: 'audio',
        metadata,
        audio: { stream, contentType: response.contentType },
        sourceDeletion: config.providers.twilio.deleteAtSource ? { accountSid, recordingSid: callback.RecordingSid } : null,
      };
    },

    async deleteAtSource(deletion: Record<string, unknown>, context: ResolveContext): Promise<void> {
      const { authToken } = config.providers.twilio;
      if (!authToken) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'CALLVAULT_TWILIO_AUTH_TOKEN is not set', { retryable: false });
      const accountSid = String(deletion.accountSid);
      const url = `${apiBase}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Recordings/${encodeURIComponent(String(deletion.recordingSid))}.json`;
      try {
        const response = await context.fetch(url, { method: 'DELETE', expect: 'any', headers: { authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}` } });
        response.body.resume();
      } catch (error) {
        // Already gone at Twilio: the deletion's goal is met.
        if (!isAppError(error, 'E_FETCH_NOT_FOUND')) throw error;
      }
    },
  };
}

async function fetchCall(context: ResolveContext, apiBase: string, accountSid: string, callSid: string, auth: string): Promise<TwilioCall | null> {
  const url = `${apiBase}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Calls/${encodeURIComponent(callSid)}.json`;
  try {
    const response = await context.fetch(url, { expect: 'json', headers: { authorization: auth } });
    return (await json(response.body)) as TwilioCall;
  } catch (error) {
    // A call Twilio no longer knows must not cost us its recording: store it without call details.
    if (isAppError(error, 'E_FETCH_NOT_FOUND')) {
      context.logger.warn('Twilio has no details for this call; storing the recording without From/To', { event: 'twilio.call_details_missing' });
      return null;
    }
    throw error;
  }
}
