import type { Config } from '../../config';
import { genericIngest } from './generic/ingest';
import { telnyxIngest } from './telnyx/ingest';
import { twilioIngest } from './twilio/ingest';
import type { ProviderIngest } from './types';
import { vonageIngest } from './vonage/ingest';

/**
 * The worker-side half of every phone-system source, by source name. Kept apart from the webhook
 * routes (./index) so that ingest threads, which only fetch and store, do not load Express.
 */
export function providerIngests(config: Config): ReadonlyMap<string, ProviderIngest> {
  return new Map([genericIngest, twilioIngest(config), telnyxIngest(config), vonageIngest(config)].map((provider) => [provider.source, provider]));
}
