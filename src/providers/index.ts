import type { Request, Router } from 'express';
import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { IngestService } from '../ingest/ingest-service';
import { genericIngest } from './generic/ingest';
import { genericWebhookRouter } from './generic/webhook';
import { telnyxIngest } from './telnyx/ingest';
import { telnyxWebhookRouter } from './telnyx/webhook';
import { twilioIngest } from './twilio/ingest';
import { twilioWebhookRouter } from './twilio/webhook';
import type { ProviderIngest } from './types';
import { vonageIngest } from './vonage/ingest';
import { vonageWebhookRouter } from './vonage/webhook';

/** Every phone-system source, in one list: its webhook route and its worker-side half. */

export function providerIngests(config: Config): ReadonlyMap<string, ProviderIngest> {
  return new Map([genericIngest, twilioIngest(config), telnyxIngest(config), vonageIngest(config)].map((provider) => [provider.source, provider]));
}

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
