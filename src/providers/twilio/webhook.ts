import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../../../config';
import type { Clock } from '../../clock';
import { AppError } from '../../errors';
import { decideRetention } from '../../ingest/call-metadata';
import type { IngestService } from '../../ingest/ingest-service';
import { callbackQuery, rawBody, refuseNulCharacters, respond } from '../webhook-support';
import { parseForm, verifyTwilioSignature } from './signature';

/**
 * POST /webhooks/twilio: a RecordingStatusCallback (form-encoded). The signature is checked
 * against CALLVAULT_PUBLIC_URL + the path and query Twilio called. `completed` queues a job that
 * fetches the WAV; `absent` and `failed` queue a job that records the call as unavailable, so the
 * index shows every call Twilio reported; `in-progress` is acknowledged and ignored.
 * The callback URL's query parameters line, team and category become call metadata.
 */

export interface TwilioWebhookDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly ingest: IngestService;
  /** The URL Twilio called, as Twilio saw it (public URL, or trusted forwarded headers). */
  readonly publicUrlOf: (req: Request) => string;
  readonly onRefused?: (source: string, code: string) => void;
}

const SID = (prefix: string) => new RegExp(`^${prefix}[0-9a-fA-F]{32}$`);
const STATUSES = new Set(['completed', 'absent', 'failed', 'in-progress']);

export function twilioWebhookRouter(deps: TwilioWebhookDeps): Router {
  const router = express.Router();
  const rawForm = express.raw({ type: () => true, limit: deps.config.limits.webhookBodyBytes });

  router.post('/webhooks/twilio', rawForm, (req: Request, res: Response, next: NextFunction) => {
    respond('twilio', deps.onRefused, async () => {
      const { authToken, accountSid } = deps.config.providers.twilio;
      if (!authToken) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'the Twilio webhook is not configured (set CALLVAULT_TWILIO_AUTH_TOKEN)');
      if (!req.is('application/x-www-form-urlencoded')) throw new AppError('E_UNSUPPORTED_MEDIA_TYPE', 'Twilio callbacks are application/x-www-form-urlencoded');
      const body = rawBody(req).toString('utf8');
      const params = parseForm(body);
      verifyTwilioSignature(authToken, req.get('x-twilio-signature'), deps.publicUrlOf(req), params);
      refuseNulCharacters(Object.fromEntries(params));

      const field = (name: string): string | null => params.get(name)?.[0]?.trim() || null;
      const status = field('RecordingStatus');
      const recordingSid = field('RecordingSid');
      const callbackAccount = field('AccountSid');
      if (!status || !STATUSES.has(status)) throw new AppError('E_VALIDATION', `RecordingStatus: expected completed, absent, failed or in-progress, got ${JSON.stringify(status?.slice(0, 20) ?? null)}`);
      if (!recordingSid || !SID('RE').test(recordingSid)) throw new AppError('E_VALIDATION', 'RecordingSid: missing or not a Twilio recording SID');
      if (!callbackAccount || !SID('AC').test(callbackAccount)) throw new AppError('E_VALIDATION', 'AccountSid: missing or not a Twilio account SID');
      if (accountSid && callbackAccount !== accountSid) throw new AppError('E_VALIDATION', 'AccountSid: the callback is for another Twilio account than CALLVAULT_TWILIO_ACCOUNT_SID');
      const callSid = field('CallSid');
      if (callSid !== null && !SID('CA').test(callSid)) throw new AppError('E_VALIDATION', 'CallSid: not a Twilio call SID');
      if (status === 'in-progress') return { status: 'ignored', reason: 'in-progress callbacks carry no audio' };
      const recordingUrl = field('RecordingUrl');
      if (status === 'completed' && !recordingUrl) throw new AppError('E_VALIDATION', 'RecordingUrl: required when RecordingStatus is completed');

      const query = callbackQuery(req);
      decideRetention(query.category, null, deps.clock.now(), deps.config.retention);
      const callback = Object.fromEntries([...params.entries()].map(([name, values]) => [name, values[0] ?? '']));
      return deps.ingest.accept({ source: 'twilio', sourceRecordingId: recordingSid, payload: { callback, query }, requestId: req.id });
    })(req, res, next);
  });

  return router;
}

