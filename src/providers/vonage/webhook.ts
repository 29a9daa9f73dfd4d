import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../../config';
import type { Clock } from '../../clock';
import { AppError } from '../../errors';
import { decideRetention } from '../../ingest/call-metadata';
import type { IngestService } from '../../ingest/ingest-service';
import { describeIssues } from '../generic/event';
import { callbackQuery, parseJsonBody, rawBody, respond } from '../webhook-support';
import { verifyVonageWebhook } from './jwt';

/** POST /webhooks/vonage: the Voice API `record` event (JSON), signed with an HS256 JWT. */

export interface VonageWebhookDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly ingest: IngestService;
  readonly onRefused?: (source: string, code: string) => void;
}

export const vonageRecordSchema = z
  .object({
    recording_url: z.url({ protocol: /^https?$/ }).max(2048),
    recording_uuid: z.string().trim().min(1).max(128),
    conversation_uuid: z.string().trim().max(128).nullish(),
    start_time: z.iso.datetime({ offset: true }).nullish(),
    end_time: z.iso.datetime({ offset: true }).nullish(),
    size: z.number().int().min(0).nullish(),
    timestamp: z.string().max(64).nullish(),
  })
  .loose();

export type VonageRecordEvent = z.infer<typeof vonageRecordSchema>;

export function vonageWebhookRouter(deps: VonageWebhookDeps): Router {
  const router = express.Router();
  const raw = express.raw({ type: () => true, limit: deps.config.limits.webhookBodyBytes });

  router.post('/webhooks/vonage', raw, (req: Request, res: Response, next: NextFunction) => {
    respond('vonage', deps.onRefused, async () => {
      const secret = deps.config.providers.vonage.signatureSecret;
      if (!secret) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'the Vonage webhook is not configured (set CALLVAULT_VONAGE_SIGNATURE_SECRET)');
      const body = rawBody(req);
      await verifyVonageWebhook(secret, req.get('authorization'), body, deps.clock.now());
      const json = parseJsonBody(body);
      const parsed = vonageRecordSchema.safeParse(json);
      if (!parsed.success) throw new AppError('E_VALIDATION', describeIssues(parsed.error));
      const query = callbackQuery(req);
      decideRetention(query.category, null, deps.clock.now(), deps.config.retention);
      return deps.ingest.accept({ source: 'vonage', sourceRecordingId: parsed.data.recording_uuid, payload: { event: parsed.data, query }, requestId: req.id });
    })(req, res, next);
  });

  return router;
}
