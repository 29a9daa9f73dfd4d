import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../../../config';
import type { Clock } from '../../clock';
import { AppError } from '../../errors';
import { decideRetention } from '../../ingest/call-metadata';
import type { IngestService } from '../../ingest/ingest-service';
import { describeIssues } from '../generic/event';
import { callbackQuery, parseJsonBody, rawBody, respond } from '../webhook-support';
import { telnyxEventSchema, telnyxSourceRecordingId } from './event';
import { telnyxPublicKey, verifyTelnyxSignature } from './signature';

/**
 * POST /webhooks/telnyx: Call Control `call.recording.saved` (queued for download at once: the
 * links expire after 10 minutes) and `call.recording.error` (recorded as a call without audio).
 * Other event types sent to the same URL are acknowledged and ignored.
 */

export interface TelnyxWebhookDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly ingest: IngestService;
  readonly onRefused?: (source: string, code: string) => void;
}

export function telnyxWebhookRouter(deps: TelnyxWebhookDeps): Router {
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: deps.config.limits.webhookBodyBytes });
  const publicKey = deps.config.providers.telnyx.publicKey ? telnyxPublicKey(deps.config.providers.telnyx.publicKey) : null;

  router.post('/webhooks/telnyx', raw, (req: Request, res: Response, next: NextFunction) => {
    respond('telnyx', deps.onRefused, async () => {
      if (!publicKey) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'the Telnyx webhook is not configured (set CALLVAULT_TELNYX_PUBLIC_KEY)');
      const body = rawBody(req);
      verifyTelnyxSignature(publicKey, req.get('telnyx-signature-ed25519'), req.get('telnyx-timestamp'), body, deps.clock.now());
      const json = parseJsonBody(body);
      const parsed = telnyxEventSchema.safeParse(json);
      if (!parsed.success) throw new AppError('E_VALIDATION', describeIssues(parsed.error));
      const event = parsed.data;
      const type = event.data.event_type;
      if (type !== 'call.recording.saved' && type !== 'call.recording.error') return { status: 'ignored', reason: `${type.slice(0, 64)} carries no recording` };
      const payload = event.data.payload;
      if (type === 'call.recording.saved' && !payload.recording_urls?.wav && !payload.recording_urls?.mp3) {
        throw new AppError('E_VALIDATION', 'data.payload.recording_urls: a wav or mp3 URL is required');
      }
      const query = callbackQuery(req);
      decideRetention(query.category, null, deps.clock.now(), deps.config.retention);
      return deps.ingest.accept({ source: 'telnyx', sourceRecordingId: telnyxSourceRecordingId(event), payload: { event, query }, requestId: req.id });
    })(req, res, next);
  });

  return router;
}
