import type { Request, Router } from 'express';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { IngestService } from '../ingest/ingest-service';
import { genericWebhookRouter } from './generic/webhook';
import { telnyxWebhookRouter } from './telnyx/webhook';
import { twilioWebhookRouter } from './twilio/webhook';
import { vonageWebhookRouter } from './vonage/webhook';

/** Every phone-system source's webhook route, in one list (the worker-side halves are in ./ingests). */

export { providerIngests } from './ingests';

export interface WebhookDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly ingest: IngestService;
  readonly spoolDir: string;
  /** The URL a provider called, as it saw it (for URL-signing schemes such as Twilio's). */
  readonly publicUrlOf: (req: Request) => string;
  readonly onRefused?: (source: string, code: string) => void;
}

export function webhookRouters(deps: WebhookDeps): Router[] {
  return [genericWebhookRouter(deps), twilioWebhookRouter(deps), telnyxWebhookRouter(deps), vonageWebhookRouter(deps)];
}
